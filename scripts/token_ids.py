"""Snakemake job: tokenise the corpus jsonl into <prefix>_ids.npy + <prefix>_idx.npz."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # the workflow's package, in any environment

from ernie_pipeline import logs  # noqa: E402  (first: puts the system zlib ahead of Paddle's)

from pathlib import Path  # noqa: E402

from ernie_pipeline.token_ids import convert_jsonl  # noqa: E402

if __name__ == "__main__":
    logs.to_file(snakemake.log[0])
    prefix = snakemake.output.ids[: -len("_ids.npy")]
    stats = convert_jsonl(snakemake.input.jsonl, Path(snakemake.input.vocab).parent, prefix,
                          snakemake.params.json_key, snakemake.params.max_word_length, snakemake.threads)
    print(stats)
