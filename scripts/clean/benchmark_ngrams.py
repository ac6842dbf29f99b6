"""Snakemake job: the n-gram table of the text decontamination keeps out (eval dev/test, extra files)."""
from ernie_pipeline.workflow.job import run


def main(snakemake):
    from ernie_pipeline.clean.contamination import benchmark_passages, write_table
    from ernie_pipeline.corpus.tasks import TaskSettings
    from ernie_pipeline.io.atomic import write_json

    tasks = {name: TaskSettings.for_text(name, task) for name, task in snakemake.params.tasks.items()}
    passages = benchmark_passages(tasks, tuple(snakemake.params.files))
    stats = write_table(passages, snakemake.params.ngram_chars, snakemake.params.max_passages, snakemake.output.table)
    write_json(snakemake.output.stats, stats)
    print(stats)


if __name__ == "__main__":
    run(main, snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
