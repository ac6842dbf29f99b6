"""Snakemake job: one link of the training chain, from the checkpoint before a save point to it."""
from ernie_pipeline.workflow.job import run


def main(snakemake):
    import os
    import socket
    from pathlib import Path
    from ernie_pipeline.train.launch import plan_launch, run_link
    from ernie_pipeline.workflow.planning import train_data, train_settings

    # read from the config, not params: only the trajectory's settings are params, so that changing how
    # often to log or evaluate, or the process layout, makes no checkpoint stale
    train = train_settings(snakemake.config)
    train.check_device()  # before starting any process
    checkpoint = Path(snakemake.output.checkpoint)
    spec = dict(data=train_data(snakemake.config, snakemake.input), train=train, output_dir=str(checkpoint.parent),
                previous=snakemake.input.previous, end=int(snakemake.wildcards.step))
    plan = plan_launch(train)
    if "SLURM_JOB_ID" in os.environ:
        print(f"SLURM job {os.environ['SLURM_JOB_ID']} on {socket.gethostname()}: "
              f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '')}, {plan}", flush=True)
    if plan.world_size > 1:  # the backend's launcher: one process per GPU (or per train.nproc_per_node on CPU), per node
        print(f"data parallel over {plan.world_size} processes ({plan.nnodes} node(s) x {plan.nproc_per_node})")
    print(run_link(spec, plan))


# Guarded: worker processes (spawn) re-import this file without Snakemake's preamble.
if __name__ == "__main__":
    run(main, snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
