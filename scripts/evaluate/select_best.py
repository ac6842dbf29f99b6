"""Snakemake job: the best dev configuration of one (task, checkpoint) over its grid points."""
from ernie_pipeline.workflow.job import run


def main(snakemake):
    import json
    from pathlib import Path
    from ernie_pipeline.evaluate.finetune import write_result
    from ernie_pipeline.evaluate.grid import select_best

    results = [json.loads(Path(path).read_text()) for path in snakemake.input.results]
    selection = select_best(results, snakemake.params.metric)
    w = snakemake.wildcards
    write_result({**selection, "task": w.task, "step": int(w.eval_step)}, snakemake.output.best)
    print(selection["best"])


if __name__ == "__main__":
    run(main, snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
