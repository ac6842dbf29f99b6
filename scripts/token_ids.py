"""Snakemake job: tokenise the corpus jsonl into <prefix>_ids.npy + <prefix>_idx.npz."""
import sys


def main(snakemake):
    sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # the workflow's package, in any environment
    from ernie_pipeline import logs  # first: puts the system zlib ahead of Paddle's copy
    from pathlib import Path
    from ernie_pipeline.indexed import prefix_of
    from ernie_pipeline.token_ids import convert_jsonl

    logs.to_file(snakemake.log[0])
    prefix = prefix_of(snakemake.output.ids)
    stats = convert_jsonl(snakemake.input.jsonl, Path(snakemake.input.vocab).parent, prefix,
                          snakemake.params.json_key, snakemake.params.max_word_length, snakemake.threads)
    print(stats)


# Guarded: worker processes (spawn) re-import this file without Snakemake's preamble.
if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
