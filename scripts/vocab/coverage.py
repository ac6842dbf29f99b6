"""Snakemake job: [UNK] rates of vocab.txt on the held-out documents, by script."""
import sys


def main(snakemake):
    sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # the workflow's package, in any environment
    from ernie_pipeline.io import logs  # first: puts the system zlib ahead of Paddle's copy
    from ernie_pipeline.vocab.coverage import measure, read_texts, write_report

    logs.to_file(snakemake.log[0])
    from paddlenlp.transformers import ErnieTokenizer

    tokenizer = ErnieTokenizer.from_pretrained(snakemake.params.tokenizer_dir)
    report = measure(read_texts(list(snakemake.input.heldout), snakemake.params.json_key), tokenizer)
    write_report(report, snakemake.output.json, snakemake.output.tsv, snakemake.output.plot)
    print(report["overall"])


# Guarded: worker processes (spawn) re-import this file without Snakemake's preamble.
if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
