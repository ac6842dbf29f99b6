"""What every backend's training reads the same way (ernie_pipeline.train.build)."""

import pytest


@pytest.mark.parametrize("samples, micro, world, consumed", [
    (100, 4, 1, 0), (100, 4, 2, 0), (101, 4, 2, 16), (37, 3, 4, 12), (8, 4, 2, 0), (7, 4, 2, 0), (64, 8, 1, 56)])
def test_rank_batches_are_paddlenlps_distributed_batch_sampler(samples, micro, world, consumed):
    """The torch backend's batch sampler gives each rank the sample indices the Paddle backend's loader does
    (paddlenlp's DistributedBatchSampler, no shuffling, drop_last), from any number of consumed samples on."""
    import ernie_pipeline  # noqa: F401  (system zlib before paddle)
    from paddlenlp.utils.batch_sampler import DistributedBatchSampler

    from ernie_pipeline.train.build import RankBatches

    for rank in range(world):
        paddle = list(DistributedBatchSampler(list(range(samples)), batch_size=micro, num_replicas=world, rank=rank,
                                              shuffle=False, drop_last=True, consumed_samples=consumed))
        ours = RankBatches(samples, micro, world, rank, consumed)
        assert list(ours) == paddle and len(ours) == len(paddle)
