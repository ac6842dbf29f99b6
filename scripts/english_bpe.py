"""Snakemake job: train the English sentencepiece BPE (eng.model + eng.vocab)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # the workflow's package, in any environment

from ernie_pipeline import logs  # noqa: E402  (first: puts the system zlib ahead of Paddle's)

from ernie_pipeline.vocab.english import train_english_bpe  # noqa: E402

if __name__ == "__main__":
    logs.to_file(snakemake.log[0])
    train_english_bpe(snakemake.input.text, snakemake.output.model, snakemake.output.vocab,
                      snakemake.params.vocab_size, snakemake.params.max_sentences)
