"""Snakemake job: the best dev configuration of one (task, checkpoint) over its grid points."""
import sys


def main(snakemake):
    sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # the workflow's package, in any environment
    from ernie_pipeline.io import logs
    import json
    from pathlib import Path
    from ernie_pipeline.evaluate.finetune import write_result
    from ernie_pipeline.evaluate.grid import select_best

    logs.to_file(snakemake.log[0])
    results = [json.loads(Path(path).read_text()) for path in snakemake.input.results]
    selection = select_best(results, snakemake.params.metric)
    w = snakemake.wildcards
    write_result({**selection, "task": w.task, "step": int(w.eval_step)}, snakemake.output.best)
    print(selection["best"])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
