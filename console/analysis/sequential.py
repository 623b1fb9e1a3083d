"""Anytime-valid comparison of the candidate's failure rate with the stable's. Pure.

Used for ``test: sequential`` metrics (docs/plan-reference.md): the engine feeds the counts
of every analysis interval since the candidate's exposure began, and may look at the result
as often as it likes; the chance that a candidate within the allowed limit is ever called a
regression stays below ``alpha``.

The model (Lindon, Sanden, Shirikian, KDD 2022; Lindon, Malek, NeurIPS 2022). In interval i
the candidate served ``c`` requests with ``x`` failures, the stable ``s`` requests with ``y``
failures; ``rho = c / s``. Failures are counted per request: the candidate fails with
probability ``pc`` per request, the stable with ``ps`` (both may change from one interval to
the next, e.g. in a fleet-wide incident). The null hypothesis is that the candidate is within
the allowed limit in every interval: ``pc <= k * ps + d`` (``k`` = maxRatio, ``d`` =
maxIncrease; the plan gives one of them, the other is 1 or 0).

The e-value. For any ``t`` and ``u`` with ``k * rho * (e^t - 1) = 1 - e^-u``, the product over
intervals of ``exp(t*x - u*y - d*c*(e^t - 1))`` has expectation at most 1 under the null
(use ``1 + p(e^t - 1) <= exp(p(e^t - 1))`` per request: the ``ps`` terms cancel, so the
stable's rate never needs to be known; this holds for binomial and Poisson counts, and for
requests whose failure probabilities differ within an interval). Parametrising ``t`` by an
alternative ratio ``q`` (``e^t = (q/k)(1 + k*rho)/(1 + q*rho)``, the bet that is optimal when
the candidate fails ``q/k`` times as often as allowed) gives, per interval,

    log LR(q) = [x log q - m log(1 + q rho)] - [x log k - m log(1 + k rho)]
                - (d / k) (q - k) * c s / (s + q c)               (m = x + y)

With ``d = 0`` this is exactly the papers' test: ``x`` given ``m`` is Binomial(m, r) with the
candidate's share of requests ``r = c / (c + s)`` shifted to ``k r / (k r + 1 - r)``. The
e-value is the mean of ``exp(sum log LR(q))`` over a grid of ``q`` above ``k`` (equal
weights): a nonnegative supermartingale under the null, so by Ville's inequality the chance
it ever reaches ``1 / alpha`` is at most ``alpha``, however often it is looked at.

The same family with ``q`` below ``k`` tests the opposite null, "the candidate is at least
as bad as the limit"; reaching ``1 / alpha`` there is evidence that it is *within* the limit
(a step may pass). Inverting both sides gives a confidence sequence: for the ratio ``pc/ps``
(on the grid, ``d = 0``) or for the difference ``pc - k ps`` (continuous, ``d > 0``).

The state is two sums per grid point: ``loglik[j] = sum_i x log q_j - m log(1 + q_j rho)``
and ``sigma[j] = sum_i c s / (s + q_j c)``; every null ``(k', d')`` with ``k'`` on the grid is
evaluated from them. Consequences, tested in tests/core/test_sequential.py:

- the sums do not depend on the order of the intervals, nor on how often the result is
  read (reading is a pure function of the state);
- splitting an interval into parts with the same candidate share gives the same sums
  (exactly, up to float rounding); a split whose parts have different shares gives a
  different, equally valid e-process (each part is conditioned on its own share);
- ``peak`` (the largest e-value seen at an update, for the anytime p-value) does depend on
  how the counts are split into intervals: each split is an anytime-valid schedule of looks.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

GRID_STEP = 0.1  # spacing of the alternatives, in log ratio
GRID_HALF = 30  # alternatives on each side: ratios from limit * e^-3 to limit * e^3
KIND = "sequential"
FORMAT = 1  # bump when the stored state changes shape


class Outcome(StrEnum):
    REGRESSION = "regression"  # the candidate fails more often than allowed: onFailure
    WITHIN = "within"  # enough evidence that it is within the allowed limit: may pass
    UNDECIDED = "undecided"  # neither yet: keep collecting


@dataclass(frozen=True)
class Evidence:
    """What the test says now. ``lower``/``upper`` bound the ratio (``scale`` "ratio") or the
    difference ``candidate - maxRatio * stable`` ("difference"), each one-sided at 1 - alpha;
    None where the data give no bound."""

    outcome: Outcome
    log_e: float  # log of the regression e-value
    log_e_within: float  # log of the "within the limit" e-value
    alpha: float
    p_value: float  # anytime-valid p-value of "within the limit": min(1, 1 / largest e-value)
    scale: str
    limit: float  # maxRatio or maxIncrease
    lower: float | None
    upper: float | None
    candidate_requests: float
    candidate_failures: float
    stable_requests: float
    stable_failures: float
    intervals: int

    @property
    def e_value(self) -> float:
        return _exp(self.log_e)

    @property
    def e_value_within(self) -> float:
        return _exp(self.log_e_within)

    @property
    def threshold(self) -> float:
        return 1.0 / self.alpha

    @property
    def candidate_rate(self) -> float | None:
        c, x = self.candidate_requests, self.candidate_failures
        return x / c if c > 0 else None

    @property
    def stable_rate(self) -> float | None:
        s, y = self.stable_requests, self.stable_failures
        return y / s if s > 0 else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": str(self.outcome),
            "e_value": self.e_value,
            "e_value_within": self.e_value_within,
            "threshold": self.threshold,
            "alpha": self.alpha,
            "p_value": self.p_value,
            "scale": self.scale,
            "limit": self.limit,
            "lower": self.lower,
            "upper": self.upper,
            "candidate_requests": self.candidate_requests,
            "candidate_failures": self.candidate_failures,
            "stable_requests": self.stable_requests,
            "stable_failures": self.stable_failures,
            "intervals": self.intervals,
        }


def _exp(x: float) -> float:
    return math.exp(min(x, 700.0))  # about 1e304: larger is "huge", not an overflow


def _log_mean_exp(terms: list[float]) -> float:
    if not terms:
        return 0.0  # no alternative: the e-value is 1
    top = max(terms)
    return top + math.log(sum(math.exp(t - top) for t in terms) / len(terms))


@functools.lru_cache(maxsize=64)
def _grid(center: float, step: float, half: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The alternative ratios (and their logs): ``center * e^(step * j)``, j = -half..half."""
    base = math.log(center)
    logs = tuple(base + step * (j - half) for j in range(2 * half + 1))
    ratios = tuple(center if j == half else math.exp(v) for j, v in enumerate(logs))
    return logs, ratios


def _boundary(pred: Callable[[float], bool], lo: float, hi: float) -> tuple[float, float]:
    """Where a predicate true below some b and false from b on changes: (a, c) with
    a <= b <= c and c - a tiny; (lo, lo) if false everywhere, (hi, hi) if true everywhere."""
    if not pred(lo):
        return lo, lo
    if pred(hi):
        return hi, hi
    for _ in range(60):
        mid = (lo + hi) / 2
        if pred(mid):
            lo = mid
        else:
            hi = mid
    return lo, hi


def _log_e(
    loglik: tuple[float, ...],
    sigma: tuple[float, ...],
    ratios: tuple[float, ...],
    half: int,
    null: int,
    increase: float,
    side: int,
) -> float:
    """Log e-value against the null "ratio ratios[null], plus ``increase``" from the (at most
    ``half``) alternatives above it (side +1: regression) or below it (side -1: within)."""
    size = len(ratios)
    if side > 0:
        js = range(null + 1, min(null + half, size - 1) + 1)
    else:
        js = range(max(null - half, 0), null)
    k, lk = ratios[null], loglik[null]
    coef = increase / k
    return _log_mean_exp([loglik[j] - lk - coef * (ratios[j] - k) * sigma[j] for j in js])


def _count(name: str, value: float) -> float:
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite count of 0 or more, got {value!r}")
    return v


@dataclass(frozen=True)
class SequentialTest:
    """The test's state since exposure began; ``update`` once per interval, ``evidence`` to read.

    Null: candidate failures per request <= ``max_ratio`` x the stable's + ``max_increase``.
    Store it with ``to_dict``/``from_dict`` (plain JSON).
    """

    max_ratio: float = 1.0
    max_increase: float = 0.0
    alpha: float = 0.01
    step: float = GRID_STEP
    half: int = GRID_HALF
    loglik: tuple[float, ...] = ()
    sigma: tuple[float, ...] = ()
    # Sums over the intervals used: candidate requests, failures, stable requests, failures.
    totals: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    intervals: int = 0  # intervals used
    skipped: int = 0  # intervals without requests on one side (nothing to compare)
    peak: float = 0.0  # largest log regression e-value seen at an update
    ratios: tuple[float, ...] = field(default=(), compare=False, repr=False)
    log_ratios: tuple[float, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_ratio) and self.max_ratio > 0):
            raise ValueError(f"max_ratio must be above 0, got {self.max_ratio!r}")
        if not (math.isfinite(self.max_increase) and self.max_increase >= 0):
            raise ValueError(f"max_increase must be 0 or more, got {self.max_increase!r}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be between 0 and 1, got {self.alpha!r}")
        if not (self.step > 0 and self.half >= 1):
            raise ValueError("the grid needs a positive step and at least one point a side")
        size = 2 * self.half + 1
        logs, ratios = _grid(self.max_ratio, self.step, self.half)
        object.__setattr__(self, "log_ratios", logs)
        object.__setattr__(self, "ratios", ratios)
        for name in ("loglik", "sigma"):
            values = getattr(self, name)
            if not values:
                object.__setattr__(self, name, (0.0,) * size)
            elif len(values) != size:
                raise ValueError(f"{name} has {len(values)} values, the grid {size}")

    # ------------------------------------------------------------------ updating

    def update(
        self,
        candidate_requests: float,
        candidate_failures: float,
        stable_requests: float,
        stable_failures: float,
    ) -> SequentialTest:
        """The state after one more interval's counts (requests and failures of each version).

        Failures above requests count as requests. An interval without requests on either
        side compares nothing and is only counted in ``skipped``.
        """
        c = _count("candidate_requests", candidate_requests)
        x = min(_count("candidate_failures", candidate_failures), c)
        s = _count("stable_requests", stable_requests)
        y = min(_count("stable_failures", stable_failures), s)
        if c == 0 or s == 0:
            return replace(self, skipped=self.skipped + 1)
        m, rho = x + y, c / s
        log1p = math.log1p
        loglik = tuple(
            ll + x * lq - m * log1p(q * rho)
            for ll, lq, q in zip(self.loglik, self.log_ratios, self.ratios, strict=True)
        )
        sigma = tuple(
            sg + c / (1.0 + q * rho) for sg, q in zip(self.sigma, self.ratios, strict=True)
        )
        a, b, d, e = self.totals
        # The test looks after every interval: the largest e-value seen is kept for the
        # anytime p-value.
        now = _log_e(loglik, sigma, self.ratios, self.half, self.half, self.max_increase, +1)
        return replace(
            self,
            loglik=loglik,
            sigma=sigma,
            totals=(a + c, b + x, d + s, e + y),
            intervals=self.intervals + 1,
            peak=max(self.peak, now),
        )

    # ------------------------------------------------------------------ reading

    def _log_e(self, null: int, increase: float, side: int) -> float:
        return _log_e(self.loglik, self.sigma, self.ratios, self.half, null, increase, side)

    def log_e(self) -> float:
        """Log of the regression e-value against the plan's limit."""
        return self._log_e(self.half, self.max_increase, +1)

    def log_e_within(self) -> float:
        """Log of the e-value for "within the limit" (against "at least as bad as the limit")."""
        return self._log_e(self.half, self.max_increase, -1)

    @property
    def scale(self) -> str:
        return "difference" if self.max_increase > 0 else "ratio"

    def bounds(self) -> tuple[float | None, float | None]:
        """The confidence sequence now, each end one-sided at 1 - alpha; None: no bound.

        Scale "ratio": candidate/stable failure rate, on the grid (the true ratio is above
        ``lower`` and below ``upper``). Scale "difference": candidate - max_ratio x stable.
        """
        level = math.log(1.0 / self.alpha)
        if self.scale == "ratio":
            size = len(self.ratios)
            keep_low = [i for i in range(size) if self._log_e(i, 0.0, +1) < level]
            keep_high = [i for i in range(size) if self._log_e(i, 0.0, -1) < level]
            lo_i = keep_low[0] if keep_low else size
            hi_i = keep_high[-1] if keep_high else -1
            lower = self.ratios[lo_i - 1] if lo_i > 0 else None
            upper = self.ratios[hi_i + 1] if hi_i < size - 1 else None
            return lower, upper
        k = self.max_ratio
        # The regression side rejects every difference below its bound, the "within" side
        # every difference above its bound; each bound is taken on its conservative side.
        lower = _boundary(lambda d: self._log_e(self.half, d, +1) >= level, -k, 1.0)[0]
        upper = _boundary(lambda d: self._log_e(self.half, d, -1) < level, -k, 1.0)[1]
        return (None if lower <= -k else lower, None if upper >= 1.0 else upper)

    def evidence(self) -> Evidence:
        """The outcome now, with both e-values and the confidence sequence."""
        level = math.log(1.0 / self.alpha)
        log_e, log_within = self.log_e(), self.log_e_within()
        if log_e >= level:
            outcome = Outcome.REGRESSION
        elif log_within >= level:
            outcome = Outcome.WITHIN
        else:
            outcome = Outcome.UNDECIDED
        lower, upper = self.bounds()
        c, x, s, y = self.totals
        return Evidence(
            outcome=outcome,
            log_e=log_e,
            log_e_within=log_within,
            alpha=self.alpha,
            p_value=min(1.0, math.exp(-max(self.peak, log_e))),
            scale=self.scale,
            limit=self.max_increase if self.scale == "difference" else self.max_ratio,
            lower=lower,
            upper=upper,
            candidate_requests=c,
            candidate_failures=x,
            stable_requests=s,
            stable_failures=y,
            intervals=self.intervals,
        )

    # ------------------------------------------------------------------ storing

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "format": FORMAT,
            "max_ratio": self.max_ratio,
            "max_increase": self.max_increase,
            "alpha": self.alpha,
            "step": self.step,
            "half": self.half,
            "loglik": list(self.loglik),
            "sigma": list(self.sigma),
            "totals": list(self.totals),
            "intervals": self.intervals,
            "skipped": self.skipped,
            "peak": self.peak,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SequentialTest:
        """Read ``to_dict`` back; raises ValueError for anything else."""
        if d.get("kind") != KIND or d.get("format") != FORMAT:
            raise ValueError(f"not a sequential test state (format {FORMAT})")
        try:
            totals = tuple(float(v) for v in d["totals"])
            if len(totals) != 4:
                raise ValueError("totals needs 4 numbers")
            return cls(
                max_ratio=float(d["max_ratio"]),
                max_increase=float(d["max_increase"]),
                alpha=float(d["alpha"]),
                step=float(d["step"]),
                half=int(d["half"]),
                loglik=tuple(float(v) for v in d["loglik"]),
                sigma=tuple(float(v) for v in d["sigma"]),
                totals=(totals[0], totals[1], totals[2], totals[3]),
                intervals=int(d["intervals"]),
                skipped=int(d["skipped"]),
                peak=float(d["peak"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"bad sequential test state: {exc}") from None
