"""Checks that a testbed and a result are what the chapters claim, each a function that returns
what is wrong (``None`` when nothing is). The tests run them on every committed record; a broken
testbed -- an upper bound below its lower bound, an oracle below the mechanism it bounds, an
encoder far below the reference model of its modality, a method above the information limit of
what it sees -- makes them fail.
"""
from __future__ import annotations

from .stats import binomial_halfwidth, mean_interval, paired_difference


def above_limit(accuracies, limit: dict, n_test: int, name: str = "the method") -> str | None:
    """A method's mean test accuracy above the limit of the modalities it sees, by more than the
    sampling noise of one test set of ``n_test`` samples plus the limit's own interval. ``limit``
    is an entry of :func:`rmm_lib.limits.limit_of` (its perfect-reader ``bound`` where it has one)."""
    mean = mean_interval(accuracies)["mean"]
    ceiling = max(limit.get("bound", limit["mean"]), limit["high"])
    allowed = ceiling + binomial_halfwidth(ceiling, n_test)
    if mean > allowed:
        return (f"{name} scores {mean:.3f}, above the information limit {ceiling:.3f} of what it sees "
                f"(+ {allowed - ceiling:.3f} test-set noise): the testbed leaks the label or the limit is wrong.")
    return None


def below(better, worse, better_name: str, worse_name: str) -> str | None:
    """``better`` really below ``worse`` (paired over seeds: the difference's interval is below 0)."""
    diff = paired_difference(better, worse)
    if diff["n"] >= 2 and diff["high"] < 0:
        return (f"{better_name} is below {worse_name} by {-diff['mean']:.3f} (interval "
                f"[{diff['low']:.3f}, {diff['high']:.3f}]), which the testbed should not allow.")
    return None


def far_from_reference(accuracies, reference, points: float, name: str, reference_name: str) -> str | None:
    """A chapter's unimodal encoder more than ``points`` (fraction, e.g. 0.10) below the reference
    model of its modality, in mean over seeds."""
    gap = mean_interval(reference)["mean"] - mean_interval(accuracies)["mean"]
    if gap > points:
        return (f"{name} is {gap:.3f} below {reference_name} (allowed {points:.2f}): "
                "the chapter's encoder is too weak for its results to say anything about the method.")
    return None
