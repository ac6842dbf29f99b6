"""Snakemake job: train the English sentencepiece BPE (eng.model + eng.vocab)."""
import sys


def main(snakemake):
    sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # the workflow's package, in any environment
    from ernie_pipeline.io import logs  # first: puts the system zlib ahead of Paddle's copy
    from ernie_pipeline.vocab.sentencepiece_bpe import train_sentencepiece

    logs.to_file(snakemake.log[0])
    train_sentencepiece(snakemake.input.text, snakemake.output.model, snakemake.output.vocab,
                        snakemake.params.vocab_size, snakemake.params.max_sentences)


# Guarded: worker processes (spawn) re-import this file without Snakemake's preamble.
if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
