"""Snakemake job: train the English sentencepiece BPE (eng.model + eng.vocab)."""
from ernie_pipeline.workflow.job import run


def main(snakemake):
    from ernie_pipeline.vocab.sentencepiece_bpe import train_sentencepiece

    train_sentencepiece(snakemake.input.text, snakemake.output.model, snakemake.output.vocab,
                        snakemake.params.vocab_size, max_sentences=snakemake.params.max_sentences)


# Guarded: worker processes (spawn) re-import this file without Snakemake's preamble.
if __name__ == "__main__":
    run(main, snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
