"""Snakemake job: merge char_dict.pickle and eng.vocab into vocab.txt."""
from ernie_pipeline.workflow.job import run


def main(snakemake):
    from ernie_pipeline.vocab.chars import load_char_dict
    from ernie_pipeline.vocab.sentencepiece_bpe import read_pieces
    from ernie_pipeline.vocab.merge import build_vocab, extended_size, write_vocab

    tokens = build_vocab(load_char_dict(snakemake.input.char_dict), read_pieces(snakemake.input.eng_vocab),
                         snakemake.params.min_char_count, snakemake.params.include_kana_hangul,
                         snakemake.params.fullwidth_twins)
    write_vocab(tokens, snakemake.output.vocab)
    print(f"{len(tokens)} tokens; {extended_size(tokens)} ids with the Chinese ## extension")


# Guarded: worker processes (spawn) re-import this file without Snakemake's preamble.
if __name__ == "__main__":
    run(main, snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
