"""Snakemake job: count characters into char_dict.pickle."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # the workflow's package, in any environment

from ernie_pipeline import logs  # noqa: E402  (first: puts the system zlib ahead of Paddle's)

from ernie_pipeline.vocab.chars import count_chars, write_char_dict  # noqa: E402

if __name__ == "__main__":
    logs.to_file(snakemake.log[0])
    counts = count_chars(snakemake.input.jsonl, snakemake.params.json_key, snakemake.params.max_chars)
    write_char_dict(counts, snakemake.output.pickle)
    print(f"{len(counts)} distinct characters, {sum(counts.values())} in all")
