"""Snakemake job: [UNK] rates of vocab.txt on the held-out documents, by script."""
from ernie_pipeline.workflow.job import run


def main(snakemake):
    from ernie_pipeline.vocab.coverage import measure, read_texts, write_report

    from paddlenlp.transformers import ErnieTokenizer

    tokenizer = ErnieTokenizer.from_pretrained(snakemake.params.tokenizer_dir)
    report = measure(read_texts(list(snakemake.input.heldout), snakemake.params.json_key), tokenizer)
    write_report(report, snakemake.output.json, snakemake.output.tsv, snakemake.output.plot)
    print(report["overall"])


# Guarded: worker processes (spawn) re-import this file without Snakemake's preamble.
if __name__ == "__main__":
    run(main, snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
