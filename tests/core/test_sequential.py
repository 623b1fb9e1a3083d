"""The sequential test of candidate vs stable failure rates (console/analysis/sequential.py).

What holds for this construction, and is checked here:

- The state is a sum of per-interval terms: the order of the intervals does not matter, and
  reading the result (``evidence``) never changes it.
- Splitting an interval into parts with the same candidate share of requests gives the same
  state (exactly, up to float rounding). A split whose parts have different shares gives a
  different state; both are anytime-valid (the type-I simulation runs both granularities).
- More candidate failures never lower the regression e-value; more stable failures, or more
  candidate requests with the same failures, never raise it (and the "within the limit"
  e-value moves the other way).
- The rejection decision and the confidence sequence agree.
- Weights changing between intervals and a base rate changing with them (a fleet-wide
  incident during a high-weight step) do not make an equal candidate look worse.
- Under the null, the chance of ever rejecting is at most alpha (seeded simulation).
"""

from __future__ import annotations

import json
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.analysis.sequential import GRID_HALF, Outcome, SequentialTest

LEVEL_01 = math.log(100)


def binomial(rng: random.Random, n: int, p: float) -> int:
    """A Binomial(n, p) draw by inversion (fast for the small n*p used here)."""
    if n <= 0 or p <= 0:
        return 0
    if p >= 1:
        return n
    u, k = rng.random(), 0
    prob = (1 - p) ** n
    cdf, odds = prob, p / (1 - p)
    while u > cdf and k < n:
        prob *= (n - k) / (k + 1) * odds
        k += 1
        cdf += prob
    return k


def feed(test: SequentialTest, intervals) -> SequentialTest:
    for iv in intervals:
        test = test.update(*iv)
    return test


def close(a: SequentialTest, b: SequentialTest, tol: float = 1e-7) -> bool:
    pairs = [*zip(a.loglik, b.loglik, strict=True), *zip(a.sigma, b.sigma, strict=True)]
    pairs += list(zip(a.totals, b.totals, strict=True))
    return all(math.isclose(x, y, rel_tol=tol, abs_tol=tol) for x, y in pairs)


# --------------------------------------------------------------------------- basics


def test_fresh_test_has_no_evidence_either_way() -> None:
    ev = SequentialTest(max_ratio=1.2).evidence()
    assert ev.outcome is Outcome.UNDECIDED
    assert ev.e_value == pytest.approx(1.0)
    assert ev.e_value_within == pytest.approx(1.0)
    assert (ev.lower, ev.upper, ev.p_value, ev.intervals) == (None, None, 1.0, 0)
    assert ev.candidate_rate is None and ev.stable_rate is None
    assert ev.scale == "ratio" and ev.limit == 1.2
    assert SequentialTest(max_increase=0.01).evidence().scale == "difference"


def test_ratio_form_equals_the_papers_conditional_binomial_likelihood_ratio() -> None:
    # x | m ~ Binomial(m, r0) under the null, r0 the candidate share shifted by maxRatio k;
    # the alternative with log ratio d has p(d) = r0 e^d / (r0 e^d + 1 - r0).
    k, c, x, s, y = 1.5, 120, 9, 880, 20
    t = SequentialTest(max_ratio=k).update(c, x, s, y)
    r = c / (c + s)
    r0 = k * r / (k * r + 1 - r)
    m = x + y
    lrs = []
    for j in range(1, GRID_HALF + 1):
        d = 0.1 * j
        p = r0 * math.exp(d) / (r0 * math.exp(d) + 1 - r0)
        lrs.append((p / r0) ** x * ((1 - p) / (1 - r0)) ** (m - x))
    assert t.evidence().e_value == pytest.approx(sum(lrs) / len(lrs), rel=1e-9)


def test_increase_form_equals_the_nuisance_free_poisson_bound() -> None:
    # exp(theta x - u y - delta c (e^theta - 1)) with 1 - e^-u = rho (e^theta - 1).
    delta, c, x, s, y = 0.01, 300, 12, 700, 7
    t = SequentialTest(max_increase=delta).update(c, x, s, y)
    rho = c / s
    values = []
    for j in range(1, GRID_HALF + 1):
        q = math.exp(0.1 * j)
        e_theta = q * (1 + rho) / (1 + q * rho)
        u = -math.log(1 - rho * (e_theta - 1))
        values.append(math.exp(math.log(e_theta) * x - u * y - delta * c * (e_theta - 1)))
    assert t.evidence().e_value == pytest.approx(sum(values) / len(values), rel=1e-9)


def test_state_round_trips_through_json() -> None:
    t = feed(SequentialTest(max_ratio=1.3, alpha=0.05), [(50, 2, 450, 3), (80, 0, 420, 5)])
    back = SequentialTest.from_dict(json.loads(json.dumps(t.to_dict())))
    assert back == t
    assert back.evidence() == t.evidence()
    assert back.update(10, 1, 90, 0) == t.update(10, 1, 90, 0)


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"kind": "sequential", "format": 99},
        {**SequentialTest().to_dict(), "loglik": [0.0]},
        {**SequentialTest().to_dict(), "totals": [1, 2]},
        {**SequentialTest().to_dict(), "alpha": 2},
        {**SequentialTest().to_dict(), "max_ratio": -1},
    ],
)
def test_from_dict_rejects_what_to_dict_never_writes(bad) -> None:
    with pytest.raises(ValueError):
        SequentialTest.from_dict(bad)


@pytest.mark.parametrize("value", [-1, math.nan, math.inf])
def test_impossible_counts_are_refused(value) -> None:
    with pytest.raises(ValueError, match="count"):
        SequentialTest().update(10, value, 10, 0)


def test_failures_above_requests_count_as_requests() -> None:
    t = SequentialTest()
    assert t.update(10, 12, 90, 1) == t.update(10, 10, 90, 1)


@pytest.mark.parametrize("iv", [(0, 0, 100, 5), (100, 5, 0, 0), (0, 0, 0, 0)])
def test_interval_without_requests_on_a_side_is_skipped(iv) -> None:
    t = SequentialTest(max_increase=0.02).update(50, 1, 50, 1)
    after = t.update(*iv)
    assert after.skipped == 1
    assert (after.loglik, after.sigma, after.totals, after.intervals) == (
        t.loglik,
        t.sigma,
        t.totals,
        t.intervals,
    )


def test_bad_settings_are_refused() -> None:
    for kw in ({"alpha": 0}, {"alpha": 1}, {"max_ratio": 0}, {"max_increase": -0.1}):
        with pytest.raises(ValueError):
            SequentialTest(**kw)


# --------------------------------------------------------------------------- properties

counts = st.tuples(
    st.integers(1, 400), st.integers(0, 40), st.integers(1, 400), st.integers(0, 40)
).map(lambda t: (t[0], min(t[1], t[0]), t[2], min(t[3], t[2])))
histories = st.lists(counts, min_size=1, max_size=12)
settings_forms = st.sampled_from(
    [{"max_ratio": 1.2}, {"max_ratio": 2.0}, {"max_increase": 0.01}, {"max_increase": 0.05}]
)


@settings(max_examples=60)
@given(histories, settings_forms, st.randoms(use_true_random=False))
def test_order_of_intervals_does_not_matter(history, form, rnd) -> None:
    shuffled = list(history)
    rnd.shuffle(shuffled)
    assert close(feed(SequentialTest(**form), history), feed(SequentialTest(**form), shuffled))


@settings(max_examples=60)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 40),  # candidate requests per unit
            st.integers(1, 40),  # stable requests per unit
            st.lists(
                st.tuples(st.integers(1, 5), st.integers(0, 5), st.integers(0, 5)),
                min_size=1,
                max_size=4,
            ),
        ),
        min_size=1,
        max_size=6,
    ),
    settings_forms,
)
def test_splitting_an_interval_at_the_same_share_changes_nothing(intervals, form) -> None:
    # Each interval is made of parts (multiplier, candidate failures, stable failures) with
    # requests multiplier x (c, s): the same share in every part.
    coarse, fine = [], []
    for c, s, parts in intervals:
        for mult, x, y in parts:
            fine.append((mult * c, min(x, mult * c), mult * s, min(y, mult * s)))
        total = sum(p[0] for p in parts)
        coarse.append(
            (
                total * c,
                sum(f[1] for f in fine[-len(parts) :]),
                total * s,
                sum(f[3] for f in fine[-len(parts) :]),
            )
        )
    a, b = feed(SequentialTest(**form), coarse), feed(SequentialTest(**form), fine)
    assert close(a, b)
    assert math.isclose(a.log_e(), b.log_e(), abs_tol=1e-6)
    assert a.evidence().outcome is b.evidence().outcome
    # Looking more often can only find the largest e-value at least as large.
    assert b.peak >= a.log_e() - 1e-9


@settings(max_examples=80)
@given(histories, settings_forms, st.data())
def test_monotone_in_the_evidence(history, form, data) -> None:
    i = data.draw(st.integers(0, len(history) - 1))
    c, x, s, y = history[i]
    base = feed(SequentialTest(**form), history)

    def changed(iv):
        return feed(SequentialTest(**form), [*history[:i], iv, *history[i + 1 :]])

    tol = 1e-9
    if x < c:  # one more candidate failure
        more = changed((c, x + 1, s, y))
        assert more.log_e() >= base.log_e() - tol
        assert more.log_e_within() <= base.log_e_within() + tol
    if y < s:  # one more stable failure
        more = changed((c, x, s, y + 1))
        assert more.log_e() <= base.log_e() + tol
        assert more.log_e_within() >= base.log_e_within() - tol
    more = changed((c + 10, x, s, y))  # more candidate requests, same failures
    assert more.log_e() <= base.log_e() + tol
    assert more.log_e_within() >= base.log_e_within() - tol
    if "max_ratio" in form:  # more stable requests, same failures (ratio form)
        more = changed((c, x, s + 10, y))
        assert more.log_e() >= base.log_e() - tol
        assert more.log_e_within() <= base.log_e_within() + tol


@settings(max_examples=80)
@given(histories, settings_forms, st.sampled_from([0.01, 0.05, 0.2]))
def test_decision_and_confidence_sequence_agree(history, form, alpha) -> None:
    t = feed(SequentialTest(alpha=alpha, **form), history)
    ev = t.evidence()
    assert t.evidence() == ev  # reading is pure
    tol = 1e-6
    if ev.outcome is Outcome.REGRESSION:
        assert ev.lower is not None and ev.lower >= ev.limit - tol
    elif ev.lower is not None:
        assert ev.lower <= ev.limit + tol
    if ev.outcome is Outcome.WITHIN:
        assert ev.upper is not None and ev.upper <= ev.limit + tol
    elif ev.upper is not None and ev.outcome is not Outcome.REGRESSION:
        assert ev.upper >= ev.limit - tol
    if ev.lower is not None and ev.upper is not None:
        assert ev.lower <= ev.upper + tol
    assert ev.p_value <= min(1.0, 1.0 / ev.e_value) + 1e-12
    assert t.peak >= ev.log_e - 1e-12


# --------------------------------------------------------------------------- changing weights


def test_equal_versions_under_changing_weights_and_base_rate_show_no_regression() -> None:
    # Simpson's paradox: 10% weight while the base error rate is 1%, then 50% weight during a
    # fleet-wide incident at 10%. Per request the versions are equal in every interval, but
    # pooled over the whole run the candidate's rate is 2x the stable's (0.085 vs 0.042).
    phases = [(100, 900, 0.01)] * 30 + [(500, 500, 0.10)] * 30
    exact = [(c, c * p, s, s * p) for c, s, p in phases]
    t = feed(SequentialTest(max_ratio=1.2), exact)
    ev = t.evidence()
    assert ev.outcome is not Outcome.REGRESSION
    assert ev.e_value < 1.0
    assert ev.candidate_rate == pytest.approx(0.0850, abs=1e-3)
    assert ev.stable_rate == pytest.approx(0.0421, abs=1e-3)
    # The same counts as one interval (the run's overall share) would blame the candidate.
    pooled = SequentialTest(max_ratio=1.2).update(*[sum(col) for col in zip(*exact, strict=True)])
    assert pooled.evidence().outcome is Outcome.REGRESSION


def test_ten_times_the_stables_errors_at_ten_percent_is_caught_in_a_few_intervals() -> None:
    rng = random.Random(7)
    t = SequentialTest(max_ratio=1.2)
    caught = None
    for second in range(1, 31):
        c = binomial(rng, 500, 0.10)
        t = t.update(c, binomial(rng, c, 0.10), 500 - c, binomial(rng, 500 - c, 0.01))
        if t.evidence().outcome is Outcome.REGRESSION:
            caught = second
            break
    assert caught is not None and caught <= 5
    assert t.evidence().lower == pytest.approx(1.2)  # just rejected: the limit is the bound
    for _ in range(20):
        c = binomial(rng, 500, 0.10)
        t = t.update(c, binomial(rng, c, 0.10), 500 - c, binomial(rng, 500 - c, 0.01))
    ev = t.evidence()
    assert ev.outcome is Outcome.REGRESSION
    assert ev.lower is not None and ev.lower > 4  # the true ratio is 10
    assert ev.upper is not None and ev.upper > 10 > ev.lower


def test_a_candidate_within_the_limit_passes_given_enough_requests() -> None:
    rng = random.Random(11)
    t = SequentialTest(max_increase=0.02)
    for _ in range(200):
        c = binomial(rng, 1000, 0.5)
        t = t.update(c, binomial(rng, c, 0.01), 1000 - c, binomial(rng, 1000 - c, 0.01))
    ev = t.evidence()
    assert ev.outcome is Outcome.WITHIN
    assert ev.lower is not None and ev.upper is not None
    assert ev.lower < 0 < ev.upper < 0.02


# --------------------------------------------------------------------------- type-I error


def _ever_rejects(rng, form, candidate_rate, *, looks, per_look, split, alpha):
    """One simulated rollout: weights 5/10/25/50 %, a fleet-wide incident in the middle."""
    t = SequentialTest(alpha=alpha, **form)
    level = math.log(1 / alpha)
    regression = within = False
    for i in range(looks):
        weight = (0.05, 0.10, 0.25, 0.50)[min(4 * i // looks, 3)]
        base = 0.10 if looks // 3 <= i < looks // 2 else 0.01
        parts = []
        for _ in range(split):
            c = binomial(rng, per_look // split, weight)
            s = per_look // split - c
            parts.append((c, binomial(rng, c, candidate_rate(base)), s, binomial(rng, s, base)))
        for part in parts:
            t = t.update(*part)
        regression = regression or t.log_e() >= level
        within = within or t.log_e_within() >= level
    return regression, within


@pytest.mark.parametrize(
    ("form", "rate", "side"),
    [
        ({"max_ratio": 1.0}, lambda b: b, "regression"),  # A/A
        ({"max_ratio": 1.5}, lambda b: 1.5 * b, "regression"),  # at the ratio limit
        ({"max_increase": 0.01}, lambda b: b + 0.01, "regression"),  # at the increase limit
        ({"max_increase": 0.01}, lambda b: b + 0.01, "within"),  # false pass at the limit
    ],
    ids=["aa", "ratio-limit", "increase-limit", "false-pass"],
)
@pytest.mark.parametrize("split", [1, 2], ids=["1s", "0.5s"])
def test_false_rejections_stay_below_alpha_however_often_it_looks(form, rate, side, split):
    # 120 runs x 40 looks at alpha 0.1; each look has its own random candidate share.
    # Ville's inequality bounds the chance by alpha; the mixture is conservative (about 3-5%
    # here), so the seeded count stays below alpha x runs without allowing for noise.
    rng = random.Random(2024 + split)
    runs, alpha = 120, 0.1
    hits = 0
    for _ in range(runs):
        regression, within = _ever_rejects(
            rng, form, rate, looks=40, per_look=200, split=split, alpha=alpha
        )
        hits += regression if side == "regression" else within
    assert hits <= alpha * runs
