"""Snakemake job: ERNIE pretraining."""
import sys


def main(snakemake):
    sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # the workflow's package, in any environment
    from ernie_pipeline.io import logs  # first: puts the system zlib ahead of Paddle's copy
    import os
    import socket
    from pathlib import Path
    from ernie_pipeline.data.index_map import SPLIT_NAMES, SampleMapSettings
    from ernie_pipeline.data.token_files import prefix_of
    from ernie_pipeline.train.launch import launch, plan_launch
    from ernie_pipeline.train.loop import pretrain
    from ernie_pipeline.train.settings import TrainSettings

    logs.to_file(snakemake.log[0])
    p = snakemake.params
    prefixes = [prefix_of(path) for path in snakemake.input.ids]
    # index maps come dataset by dataset, each with its train, valid and test map
    maps = {split: list(snakemake.input.index_maps)[k::len(SPLIT_NAMES)] for k, split in enumerate(SPLIT_NAMES)}
    blends = dict(zip(SPLIT_NAMES, snakemake.input.blends)) or None
    train = TrainSettings.from_config(p.train)
    train.check_device()  # before starting any process
    spec = dict(data_prefixes=prefixes, tokenizer_source=p.tokenizer, index_maps=maps,
                output_dir=str(Path(snakemake.output.summary).parent), train=train,
                sample_map=SampleMapSettings(**p.sample_map), summary_path=snakemake.output.summary, blends=blends)
    plan = plan_launch(train)
    if "SLURM_JOB_ID" in os.environ:
        print(f"SLURM job {os.environ['SLURM_JOB_ID']} on {socket.gethostname()}: "
              f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '')}, {plan}", flush=True)
    if plan.world_size == 1:
        print(pretrain(**spec))
    else:  # paddle.distributed.launch: one process per GPU (or per train.nproc_per_node on CPU), per node
        print(f"data parallel over {plan.world_size} processes ({plan.nnodes} node(s) x {plan.nproc_per_node})")
        launch(spec, plan)


# Guarded: worker processes (spawn) re-import this file without Snakemake's preamble.
if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
