"""Stattests' numbers: equal to SciPy where SciPy defines them, PSI by the textbook, shifts
found, no shift left alone, degenerate input answered with a finite number."""

from __future__ import annotations

import math
from bisect import bisect_right

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from gapless import ValidationError
from gapless.monitoring import stattests
from gapless.monitoring.stattests import (
    benjamini_hochberg,
    prepare_categorical,
    prepare_numeric,
    run,
)

TIGHT = {"rel": 1e-9, "abs": 1e-12}
NUMERIC_TESTS = ["ks", "psi", "wasserstein", "jensen_shannon"]
CATEGORICAL_TESTS = ["chi2", "psi", "jensen_shannon"]


def sample(rng: np.random.Generator, n: int, *, shift: float = 0.0, ties: bool) -> np.ndarray:
    values = rng.normal(shift, 1.0, n)
    return np.round(values, 1) if ties else values


def labels(rng: np.random.Generator, n: int, p: list[float]) -> np.ndarray:
    return rng.choice(np.array(["a", "b", "c", "d", "e"][: len(p)]), n, p=p)


# -- ks: equal to scipy.stats.ks_2samp ------------------------------------------------------------
@pytest.mark.parametrize(("n1", "n2"), [
    (1, 1), (3, 8), (40, 40), (60, 95), (500, 730), (3000, 3000), (9000, 10000),  # exact
    (10001, 10001), (12000, 4000), (30000, 25000), (200000, 150000),  # asymptotic
])
@pytest.mark.parametrize("ties", [False, True])
def test_ks_equals_scipy_in_both_regimes_with_and_without_ties(n1: int, n2: int,
                                                               ties: bool) -> None:
    rng = np.random.default_rng(n1 * 7 + n2)
    for shift in (0.0, 0.05, 0.3):
        a, b = sample(rng, n1, ties=ties), sample(rng, n2, shift=shift, ties=ties)
        expected = stats.ks_2samp(a, b)
        result = run("ks", prepare_numeric(a), prepare_numeric(b))
        assert result.statistic == pytest.approx(float(expected.statistic), **TIGHT)
        assert result.p_value == pytest.approx(float(expected.pvalue), **TIGHT)


@pytest.mark.parametrize("seed", range(5))
def test_ks_statistic_from_sorted_arrays_equals_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 20, rng.integers(1, 300)).astype(float)
    b = rng.integers(2, 25, rng.integers(1, 300)).astype(float)
    d = stattests.ks.statistic(np.sort(a), np.sort(b))
    assert d == pytest.approx(float(stats.ks_2samp(a, b).statistic), abs=1e-12)


def test_ks_asymptotic_distribution_equals_scipy_kstwo_in_every_branch() -> None:
    # the vectorized 2 * smirnov branch (n > 140, 2.2 <= n d^2 < 370) and scipy's own
    # branches around it, at random d and at lattice values h / n where the last term of
    # the sum is exactly zero
    rng = np.random.default_rng(99)
    cases = [(0.036, 3000.0), (0.5, 200.0), (1 / 150, 150.0), (0.3, 100.0)]
    for _ in range(40):
        n = float(rng.integers(141, 20000))
        cases.append((float(np.sqrt(rng.uniform(0.01, 400) / n)), n))
        cases.append((float(rng.integers(1, n) / n), n))
    for d, n in cases:
        if d >= 1:
            continue
        expected = float(stats.kstwo.sf(d, n))
        got = stattests.ks.kstwo_sf(d, n)
        assert math.isfinite(got)
        if expected > 1e-300:  # below that scipy's own sum loses digits to subnormals
            assert got == pytest.approx(expected, rel=1e-11, abs=0), (d, n)


# -- wasserstein: equal to scipy.stats.wasserstein_distance / std(reference) ----------------------
@pytest.mark.parametrize(("n1", "n2"), [(1, 1), (2, 9), (100, 100), (777, 1234), (50000, 20000)])
@pytest.mark.parametrize("ties", [False, True])
def test_wasserstein_equals_scipy_normed_by_the_reference_std(n1: int, n2: int,
                                                              ties: bool) -> None:
    rng = np.random.default_rng(n1 + 31 * n2)
    a, b = sample(rng, n1, ties=ties) * 3 + 10, sample(rng, n2, shift=0.2, ties=ties) * 3 + 10
    raw = stats.wasserstein_distance(a, b)
    assert stattests.wasserstein.distance(np.sort(a), np.sort(b)) == pytest.approx(raw, **TIGHT)
    if np.std(a) > 0:
        result = run("wasserstein", prepare_numeric(a), prepare_numeric(b))
        assert result.statistic == pytest.approx(raw / np.std(a), **TIGHT)


def test_wasserstein_on_a_constant_reference_is_finite_and_documented() -> None:
    constant = prepare_numeric([100.0] * 50)
    assert run("wasserstein", constant, prepare_numeric([100.0] * 7)).statistic == 0.0
    moved = run("wasserstein", constant, prepare_numeric([110.0] * 7))
    assert moved.statistic == pytest.approx(0.1) and moved.drifted  # by |value|: 10%
    tenth = prepare_numeric([0.1] * 1000)  # np.std is rounding noise here, not 0
    assert run("wasserstein", tenth, prepare_numeric([0.1] * 3)).statistic == 0.0
    assert run("wasserstein", tenth, prepare_numeric([0.2])).statistic == pytest.approx(1.0)
    zero = prepare_numeric([0.0] * 10)
    assert run("wasserstein", zero, prepare_numeric([0.0, 0.5])).statistic == pytest.approx(0.25)


# -- chi2: equal to scipy.stats.chi2_contingency --------------------------------------------
@pytest.mark.parametrize(("n1", "n2", "k"), [(5, 5, 2), (40, 90, 3), (1000, 700, 5),
                                             (20000, 50000, 4)])
def test_chi2_equals_scipy_on_the_two_row_table(n1: int, n2: int, k: int) -> None:
    rng = np.random.default_rng(n1 + k)
    p = rng.dirichlet(np.ones(k)).tolist()
    for drift in (0.0, 0.1):
        q = np.array(p) + drift * np.eye(k)[0]
        a, b = labels(rng, n1, p), labels(rng, n2, (q / q.sum()).tolist())
        cats = sorted(set(a) | set(b))
        table = np.array([[np.sum(a == c) for c in cats], [np.sum(b == c) for c in cats]])
        result = run("chi2", prepare_categorical(a), prepare_categorical(b))
        if len(cats) < 2:
            continue
        expected = stats.chi2_contingency(table)
        assert result.statistic == pytest.approx(float(expected.statistic), **TIGHT)
        assert result.p_value == pytest.approx(float(expected.pvalue), **TIGHT)


def test_chi2_counts_categories_seen_on_one_side_only() -> None:
    ref, cur = prepare_categorical(["a"] * 30 + ["b"] * 30), prepare_categorical(["b"] * 30 +
                                                                                 ["c"] * 30)
    expected = stats.chi2_contingency([[30, 30, 0], [0, 30, 30]])
    result = run("chi2", ref, cur)
    assert (result.statistic, result.p_value) == pytest.approx((expected.statistic,
                                                                expected.pvalue), **TIGHT)
    assert result.drifted


def test_chi2_with_one_category_in_all_has_nothing_to_compare() -> None:
    result = run("chi2", prepare_categorical(["x"] * 5), prepare_categorical(["x"] * 9))
    assert (result.statistic, result.p_value, result.drifted) == (0.0, 1.0, False)


# -- jensen_shannon: equal to scipy.spatial.distance.jensenshannon ------------------------------
def reference_quantile_bins(reference: np.ndarray, current: np.ndarray,
                            bins: int = 10) -> tuple[list[int], list[int]]:
    """The binning spelled out plainly (as serving.guardrails.psi does it)."""
    ordered = sorted(reference.tolist())
    n = len(ordered)
    edges = sorted({ordered[(k * n) // bins] for k in range(1, bins)})

    def count(values: np.ndarray) -> list[int]:
        out = [0] * (len(edges) + 1)
        for v in values.tolist():
            out[bisect_right(edges, v)] += 1
        return out

    return count(reference), count(current)


@pytest.mark.parametrize(("n1", "n2"), [(1, 1), (15, 40), (1000, 1500), (30000, 10000)])
@pytest.mark.parametrize("ties", [False, True])
def test_jensen_shannon_equals_scipy_on_reference_quantile_bins(n1: int, n2: int,
                                                                ties: bool) -> None:
    rng = np.random.default_rng(n1 * 3 + n2)
    a, b = sample(rng, n1, ties=ties), sample(rng, n2, shift=0.3, ties=ties)
    r, c = reference_quantile_bins(a, b)
    result = run("jensen_shannon", prepare_numeric(a), prepare_numeric(b))
    assert result.statistic == pytest.approx(float(jensenshannon(r, c)), rel=1e-9, abs=1e-9)


@pytest.mark.parametrize(("n1", "n2"), [(3, 4), (300, 200), (20000, 30000)])
def test_jensen_shannon_equals_scipy_on_category_shares(n1: int, n2: int) -> None:
    rng = np.random.default_rng(n1)
    a, b = labels(rng, n1, [0.5, 0.3, 0.2]), labels(rng, n2, [0.3, 0.3, 0.2, 0.1, 0.1])
    cats = sorted(set(a) | set(b))
    expected = jensenshannon([np.sum(a == x) for x in cats], [np.sum(b == x) for x in cats])
    result = run("jensen_shannon", prepare_categorical(a), prepare_categorical(b))
    assert result.statistic == pytest.approx(float(expected), rel=1e-9, abs=1e-9)


def test_jensen_shannon_of_near_equal_shares_is_a_number_not_nan() -> None:
    counts = np.array([333_333_333, 333_333_334, 333_333_333])
    for other in (counts, counts + np.array([1, 0, 0])):
        value = stattests.jensen_shannon.distance(counts, other)
        assert math.isfinite(value) and 0.0 <= value < 1e-6


# -- psi: the textbook formula -----------------------------------------------------------------
def test_psi_on_categories_matches_the_formula_worked_by_hand() -> None:
    ref = prepare_categorical(["a"] * 50 + ["b"] * 30 + ["c"] * 20)
    cur = prepare_categorical(["a"] * 40 + ["b"] * 30 + ["c"] * 30)
    # (0.4 - 0.5) ln(0.4/0.5) + (0.3 - 0.3) ln(1) + (0.3 - 0.2) ln(0.3/0.2)
    by_hand = 0.1 * math.log(1.25) + 0.1 * math.log(1.5)
    assert by_hand == pytest.approx(0.0628608659422374, abs=1e-15)
    assert run("psi", ref, cur).statistic == pytest.approx(by_hand, **TIGHT)


def test_psi_floors_an_empty_bin_at_one_in_ten_thousand() -> None:
    ref = prepare_categorical(["a"] * 50 + ["b"] * 50)
    cur = prepare_categorical(["a"] * 50 + ["b"] * 40 + ["new"] * 10)
    by_hand = (0.0 + (0.4 - 0.5) * math.log(0.4 / 0.5)
               + (0.1 - 1e-4) * math.log(0.1 / 1e-4))
    result = run("psi", ref, cur)
    assert result.statistic == pytest.approx(by_hand, **TIGHT) and result.drifted


def test_psi_on_numbers_bins_at_reference_deciles_by_hand() -> None:
    ref = np.arange(1.0, 101.0)  # deciles at 11, 21, ..., 91: ten bins of 10 values
    cur = np.concatenate([np.arange(1.0, 51.0), np.full(50, 95.0)])  # 5 bins of 10, last 50
    r = [0.1] * 10
    c = [0.1] * 5 + [1e-4] * 4 + [0.5]
    by_hand = sum((ci - ri) * math.log(ci / ri) for ri, ci in zip(r, c, strict=True))
    assert run("psi", prepare_numeric(ref), prepare_numeric(cur)).statistic == pytest.approx(
        by_hand, **TIGHT)


@pytest.mark.parametrize("seed", range(4))
def test_psi_equals_the_serving_guardrail_on_numbers_and_labels(seed: int) -> None:
    from gapless.serving.guardrails import psi

    rng = np.random.default_rng(seed)
    a, b = sample(rng, 400, ties=seed % 2 == 1), sample(rng, 300, shift=0.4, ties=seed % 2 == 1)
    assert run("psi", prepare_numeric(a), prepare_numeric(b)).statistic == pytest.approx(
        psi(a.tolist(), b.tolist()), **TIGHT)
    x, y = labels(rng, 400, [0.6, 0.4]), labels(rng, 250, [0.2, 0.3, 0.5])
    assert run("psi", prepare_categorical(x), prepare_categorical(y)).statistic == (
        pytest.approx(psi(x.tolist(), y.tolist()), **TIGHT))


# -- benjamini_hochberg: equal to scipy.stats.false_discovery_control -------------------------
@pytest.mark.parametrize("m", [2, 3, 10, 57, 1000])
def test_benjamini_hochberg_equals_scipy(m: int) -> None:
    rng = np.random.default_rng(m)
    ps = np.concatenate([rng.uniform(0, 1, m - m // 3), rng.uniform(0, 1e-3, m // 3)])
    ps[: m // 4] = ps[0]  # ties
    rng.shuffle(ps)
    expected = stats.false_discovery_control(ps, method="bh")
    np.testing.assert_allclose(benjamini_hochberg(ps), expected, rtol=1e-12, atol=1e-12)


def test_benjamini_hochberg_leaves_out_none_and_nan() -> None:
    ps = [0.01, None, 0.04, np.nan, 0.03, 0.5]
    out = benjamini_hochberg(ps)
    expected = stats.false_discovery_control([0.01, 0.04, 0.03, 0.5], method="bh")
    assert np.isnan(out[[1, 3]]).all()
    np.testing.assert_allclose(out[[0, 2, 4, 5]], expected, rtol=1e-12, atol=1e-12)
    assert benjamini_hochberg([]).size == 0
    assert benjamini_hochberg([0.2]).tolist() == [0.2]
    assert np.isnan(benjamini_hochberg([None, np.nan])).all()


@pytest.mark.parametrize("ps", [[0.1, 1.5], [-0.1, 0.2], ["x", 0.2]])
def test_benjamini_hochberg_refuses_what_is_not_a_p_value(ps: list[object]) -> None:
    with pytest.raises(ValidationError, match="benjamini_hochberg"):
        benjamini_hochberg(ps)  # type: ignore[arg-type]


# -- behaviour: shifts found, no shift left alone -------------------------------------------
def test_a_half_sd_mean_shift_is_found_by_every_numeric_test() -> None:
    rng = np.random.default_rng(11)
    ref = prepare_numeric(rng.normal(0, 1, 2000))
    cur = prepare_numeric(rng.normal(0.5, 1, 2000))
    results = {name: run(name, ref, cur) for name in NUMERIC_TESTS}
    assert results["ks"].p_value < 0.05
    assert results["wasserstein"].statistic >= 0.1
    assert results["wasserstein"].statistic == pytest.approx(0.5, abs=0.1)
    assert results["psi"].statistic >= 0.1
    assert results["jensen_shannon"].statistic >= 0.1
    assert all(r.drifted for r in results.values())


def test_no_shift_is_left_alone_by_every_distance() -> None:
    # p-value tests flag a no-shift pair alpha of the time by design: the false-positive
    # rate test below checks them; one draw is checked only against the effect sizes
    rng = np.random.default_rng(12)
    ref, cur = prepare_numeric(rng.normal(0, 1, 2000)), prepare_numeric(rng.normal(0, 1, 2000))
    assert not any(run(name, ref, cur).drifted for name in ("psi", "wasserstein",
                                                            "jensen_shannon"))


def test_a_shift_in_label_shares_is_found_and_no_shift_left_alone() -> None:
    rng = np.random.default_rng(13)
    ref = prepare_categorical(labels(rng, 2000, [0.5, 0.3, 0.2]))
    same = prepare_categorical(labels(rng, 2000, [0.5, 0.3, 0.2]))
    moved = prepare_categorical(labels(rng, 2000, [0.3, 0.3, 0.4]))
    assert all(run(name, ref, moved).drifted for name in CATEGORICAL_TESTS)
    assert not any(run(name, ref, same).drifted for name in ("psi", "jensen_shannon"))


def test_false_positive_rate_of_ks_and_chi2_stays_at_alpha() -> None:
    # With no shift a correct test flags about alpha (5%) of pairs: 10 of 200 expected.
    # The count is binomial, so a correct test exceeds 10 about 40% of the time; the
    # bound is the 99th percentile of Binomial(200, 0.05), 18 (a 9% rate), which a test
    # whose real false-positive rate were 10% would break more often than not.
    rng = np.random.default_rng(2024)
    trials, alpha = 200, 0.05
    bound = int(stats.binom.ppf(0.99, trials, alpha))
    ks_hits = chi2_hits = 0
    for _ in range(trials):
        ks_hits += run("ks", prepare_numeric(rng.normal(size=150)),
                       prepare_numeric(rng.normal(size=200)), alpha).drifted
        chi2_hits += run("chi2", prepare_categorical(labels(rng, 150, [0.5, 0.3, 0.2])),
                         prepare_categorical(labels(rng, 200, [0.5, 0.3, 0.2])),
                         alpha).drifted
    assert bound == 18
    assert ks_hits <= bound and chi2_hits <= bound
    assert (ks_hits + chi2_hits) / (2 * trials) <= 0.06


# -- degenerate input: a defined, finite answer ------------------------------------------------
def test_a_single_distinct_value_gives_finite_answers() -> None:
    seven, eight = prepare_numeric([7.0] * 40), prepare_numeric([8.0] * 40)
    for name in NUMERIC_TESTS:
        same, moved = run(name, seven, seven), run(name, seven, eight)
        for result in (same, moved):
            assert math.isfinite(result.statistic)
            assert result.p_value is None or math.isfinite(result.p_value)
        assert same.drifted is False
    assert run("ks", seven, seven).p_value == 1.0
    assert all(run(name, seven, eight).drifted for name in ("ks", "wasserstein"))
    assert all(run(name, seven, prepare_numeric([6.0] * 40)).drifted for name in NUMERIC_TESTS)
    # quantile bins of a constant reference are (-inf, 7) and [7, inf): a move up stays in
    # one bin, so the binned measures cannot see it (documented; ks and wasserstein can)
    assert run("psi", seven, eight).statistic == run("jensen_shannon", seven, eight).statistic
    assert run("psi", seven, eight).statistic == 0.0
    x = prepare_categorical(["x"] * 40)
    for name in CATEGORICAL_TESTS:
        assert run(name, x, x).drifted is False
        assert run(name, x, prepare_categorical(["y"] * 40)).drifted is True
