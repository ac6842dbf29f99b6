"""Snakemake job: fine-tune one checkpoint on one task at one grid point; its dev and test scores."""
from ernie_pipeline.workflow.job import run


def main(snakemake):
    from ernie_pipeline.evaluate.finetune import finetune, write_result
    from ernie_pipeline.workflow.planning import eval_settings

    settings = eval_settings(snakemake.config)  # device and threads too, which are no params: they rerun nothing
    w = snakemake.wildcards
    result = finetune(snakemake.input.checkpoint, settings.tasks[w.task], settings.point(w.point), settings)
    write_result({**result, "task": w.task, "step": int(w.eval_step)}, snakemake.output.result)
    print(result["dev"], result["test"])


if __name__ == "__main__":
    run(main, snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
