"""The one small interface between the shared training loop (:mod:`ernie_pipeline.train.loop`) and a framework:
``train.backend: paddle`` (:mod:`ernie_pipeline.train.paddle_backend`, paddlenlp's model, upstream's trainer) or
``torch`` (:mod:`ernie_pipeline.train.torch_backend`, transformers' model). A backend is one training process:

==========================  ================================================================================
``world``, ``rank``          the data-parallel layout it joined
``vocab``                    the masking vocabulary of the tokenizer (:class:`ernie_pipeline.index.masking.Vocab`)
``vocab_fingerprint``        what the token files must have been made with
``model_config``             the model's configuration (logged with the run)
``init_checkpoint(p, s)``    write model_0: the initial weights (or ``train.continue_training``'s), state ``s``
``build(ckpt, step, train)`` the model with a checkpoint's weights; for training its optimizer, schedule (at
                             ``step``), loss scaler and data-parallel wrapper, with the checkpoint's state
``loader(ds, mb, start, w)`` this rank's micro-batches of a dataset from global sample ``start`` on
``seed(n)``                  reseed the dropout stream (once per micro-batch)
``forward_backward(b, a, s)`` a micro-batch's losses (loss, lm, sop or None) and gradients (over ``a``
                             micro-batches), all-reduced over the ranks when ``s``
``float32(t)``, ``tokens(b)`` a loss as float32 for the log window's sums; a batch's non-padding tokens
``apply_gradients()``        clip, step the optimizer and schedule, clear gradients; the rate the step used
``loss_scale()``             the dynamic loss scale, or None
``evaluate(batches, n)``     mean losses over n micro-batches (and the ranks)
``mean_over_ranks(values)``, ``any_rank(flag)``, ``barrier()``    what the ranks share
``save(path, state, logs)``  a checkpoint folder, atomically (rank 0)
==========================  ================================================================================

Everything else (the chain and its links, which checkpoint a link starts from, resume from model_last, SLURM's
stop signals, the sample pipeline, live logs, VisualDL, the summary) is the loop's, shared.
"""

from __future__ import annotations

from ernie_pipeline.train.settings import TrainSettings

BACKENDS = ("paddle", "torch")


def open_backend(train: TrainSettings, tokenizer_source: str, start_process: bool = True):
    """The backend ``train.backend`` names, for this process (``start_process``: its device, threads, data-parallel
    group and seeds; not for model_0, drawn on the CPU of whatever node makes it)."""
    if train.backend == "torch":
        from ernie_pipeline.train.torch_backend import TorchBackend

        return TorchBackend(train, tokenizer_source, start_process)
    from ernie_pipeline.train.paddle_backend import PaddleBackend

    return PaddleBackend(train, tokenizer_source, start_process)
