"""Stopping on SLURM's signals: SIGTERM / SIGUSR1 become a request to checkpoint and stop after the current
step; the data loader's workers ignore them and end with the trainer."""

from __future__ import annotations

import atexit
import signal
import sys

def ignore_stop_signals(worker_id: int) -> None:
    """In a loader worker: SLURM signals every process of the job, and a worker killed by SIGTERM takes the
    trainer down before it can checkpoint. The trainer ends its workers itself (:func:`end_workers_at_exit`),
    and should it die, the kernel kills them (Linux PR_SET_PDEATHSIG) instead of leaving them orphaned."""
    for signum in StopRequest.SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    if sys.platform == "linux":
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def end_workers_at_exit(batches) -> None:
    """multiprocessing ends daemon workers at exit with SIGTERM, which ours ignore: end them first with the loader's
    own shutdown (atexit runs last-registered first, so this precedes multiprocessing's handler)."""
    # only multi-process loader iterators have workers: Paddle's and torch's name their shutdown differently
    shutdown = getattr(batches, "_try_shutdown_all", None) or getattr(batches, "_shutdown_workers", None)
    if shutdown is not None:
        atexit.register(shutdown)


class TrainingStopped(RuntimeError):
    """Training stopped early on request (SIGTERM, SIGUSR1); model_last holds the last finished step."""


class StopRequest:
    """Turns SIGTERM / SIGUSR1 (what SLURM sends at a job's time limit, on preemption, or with
    ``--signal``) into a request to stop after the current step, with a checkpoint."""

    SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

    def __init__(self):
        self.signal_name = None
        self._previous = {s: signal.signal(s, self._request) for s in self.SIGNALS}

    def _request(self, signum, frame):
        self.signal_name = signal.Signals(signum).name

    def agreed(self, any_rank) -> bool:
        """Whether any rank was asked to stop (every rank must stop at the same step; ``any_rank``: the backend's)."""
        asked = any_rank(self.signal_name is not None)
        self.signal_name = self.signal_name or ("on another rank" if asked else None)
        return asked

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
