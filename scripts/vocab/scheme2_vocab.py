"""Snakemake job: sentencepiece on the pre-tokenised corpus -> scheme 2's vocab.txt."""
from ernie_pipeline.workflow.job import run


def main(snakemake):
    from ernie_pipeline.vocab.sentencepiece_bpe import read_pieces
    from ernie_pipeline.vocab.merge import extended_size, write_vocab
    from ernie_pipeline.vocab.scheme2 import train_scheme2, vocab_from_pieces

    out, p = snakemake.output, snakemake.params
    train_scheme2(snakemake.input.text, out.model, out.pieces, p.vocab_size, p.model_type)
    tokens = vocab_from_pieces(read_pieces(out.pieces), include_kana_hangul=p.include_kana_hangul,
                               fullwidth_twins=p.fullwidth_twins)
    write_vocab(tokens, out.vocab)
    print(f"{len(tokens)} tokens; {extended_size(tokens)} ids with the Chinese ## extension")


# Guarded: worker processes (spawn) re-import this file without Snakemake's preamble.
if __name__ == "__main__":
    run(main, snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
