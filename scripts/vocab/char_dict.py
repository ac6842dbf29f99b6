"""Snakemake job: sum the shards' character counts into char_dict.pickle."""
from ernie_pipeline.workflow.job import run


def main(snakemake):
    from ernie_pipeline.vocab.chars import sum_counts, write_char_dict

    counts = sum_counts(list(snakemake.input.counts))
    write_char_dict(counts, snakemake.output.pickle)
    print(f"{len(counts)} distinct characters, {sum(counts.values())} in all")


# Guarded: worker processes (spawn) re-import this file without Snakemake's preamble.
if __name__ == "__main__":
    run(main, snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
