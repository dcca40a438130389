"""Loss traces: the first training losses of a run, a fingerprint of what the code does.

:func:`trace_losses` is used by :mod:`rmm_lib.records` (the sampled recompute of a grid) around a
cell's computation; :class:`rmm_lib.train.Trainer` calls :func:`traced` after every optimiser step,
which does nothing outside such a block.
"""
from __future__ import annotations

import contextlib
import contextvars

import torch

_TRACE: contextvars.ContextVar = contextvars.ContextVar("rmm_lib_loss_trace", default=None)


class TraceComplete(BaseException):
    """Stops a run inside :func:`trace_losses` once it has the steps it asked for (a BaseException,
    like KeyboardInterrupt, so that no ``except Exception`` on the way swallows it)."""


@contextlib.contextmanager
def trace_losses(steps: int):
    """Record the training loss of the first ``steps`` optimiser steps trained in this block (by
    :class:`~rmm_lib.train.Trainer`), then stop: the rest of the block is skipped. Yields the list
    it fills.

    A fingerprint of what the code does -- data, model, initial weights, loss and its first updates
    -- that other floating-point kernels (another CPU) move by little, while the final numbers of a
    whole training run move much more (early stopping amplifies the last bits). The sampled
    recompute of a grid compares both (:mod:`rmm_lib.records`)."""
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}.")
    losses: list = []
    token = _TRACE.set({"steps": steps, "losses": losses})
    try:
        yield losses
    except TraceComplete:
        pass
    finally:
        _TRACE.reset(token)


def traced(loss: torch.Tensor) -> None:
    """Inside :func:`trace_losses`: keep this step's loss; stop once the trace is complete."""
    trace = _TRACE.get()
    if trace is None:
        return
    trace["losses"].append(float(loss.detach()))
    if len(trace["losses"]) >= trace["steps"]:
        raise TraceComplete
