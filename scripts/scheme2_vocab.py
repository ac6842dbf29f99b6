"""Snakemake job: sentencepiece on the pre-tokenised corpus -> scheme 2's vocab.txt."""
import sys


def main(snakemake):
    sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # the workflow's package, in any environment
    from ernie_pipeline import logs  # first: puts the system zlib ahead of Paddle's copy
    from ernie_pipeline.vocab.english import read_pieces, train_sentencepiece
    from ernie_pipeline.vocab.merge import extended_size, write_vocab
    from ernie_pipeline.vocab.scheme2 import vocab_from_pieces

    logs.to_file(snakemake.log[0])
    out, p = snakemake.output, snakemake.params
    # A soft size limit: a small corpus has fewer distinct pieces than a large vocab_size asks for.
    # No NFKC: the text is already what ErnieTokenizer sees, which does not map "，" to ",".
    # Every character of the text becomes a piece (coverage 1.0), the rarest too.
    train_sentencepiece(snakemake.input.text, out.model, out.pieces, p.vocab_size, character_coverage=1.0,
                        model_type=p.model_type, hard_vocab_limit=False, normalization="identity")
    tokens = vocab_from_pieces(read_pieces(out.pieces), include_kana_hangul=p.include_kana_hangul)
    write_vocab(tokens, out.vocab)
    print(f"{len(tokens)} tokens; {extended_size(tokens)} ids with the Chinese ## extension")


# Guarded: worker processes (spawn) re-import this file without Snakemake's preamble.
if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
