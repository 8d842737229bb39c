"""The factor models: implicit ALS (conjugate gradient, all users at once), BPR, and the
DeepWalk-style graph embeddings (random walks, PPMI, SVD), on planted user groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import skops.io
from scipy import sparse

from gapless import ValidationError
from gapless.recsys import graph_walk
from gapless.recsys.base import COLD_START, Recommender
from gapless.recsys.graph_walk import GraphWalkRecommender, bipartite_graph, random_walks
from gapless.recsys.interactions import load_interactions
from gapless.recsys.matrix_factorization import (
    ALSRecommender,
    BPRRecommender,
    _confidence,
    als_loss,
    cg_half_step,
)

GROUPS, USERS_PER_GROUP, ITEMS_PER_GROUP, VISITS = 3, 40, 15, 6


def planted(seed: int = 0) -> tuple[pd.DataFrame, dict[str, int], dict[str, int]]:
    """Users in GROUPS groups, each visiting VISITS random items of its own block (with
    repeats and weights); the group of every user and every item."""
    rng = np.random.default_rng(seed)
    rows, user_group, item_group = [], {}, {}
    for group in range(GROUPS):
        block = [f"i{group}_{k:02d}" for k in range(ITEMS_PER_GROUP)]
        item_group.update(dict.fromkeys(block, group))
        for member in range(USERS_PER_GROUP):
            user = f"u{group}_{member:02d}"
            user_group[user] = group
            for item in rng.choice(block, VISITS, replace=False):
                rows.append((user, item, int(rng.integers(1, 4))))
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "plays"])
    return frame, user_group, item_group


EVENTS, USER_GROUP, ITEM_GROUP = planted()
DATA = load_interactions(EVENTS, weight="plays")
MODELS = {
    "als": lambda **kw: ALSRecommender(factors=8, iterations=10, **kw),
    "graph_walk": lambda **kw: GraphWalkRecommender(dimensions=8, walk_length=10, **kw),
    "bpr": lambda **kw: BPRRecommender(factors=8, iterations=40, batch_size=64,
                                       learning_rate=0.1, **kw),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def fitted(request: pytest.FixtureRequest) -> Recommender:
    return MODELS[request.param]().fit(DATA)


def _own_block_share(model: Recommender, k: int = 5) -> float:
    answers = model.recommend_many(list(USER_GROUP), k)
    hits = [ITEM_GROUP[item] == USER_GROUP[a.user] for a in answers for item in a.items]
    assert len(hits) == k * len(USER_GROUP)
    return float(np.mean(hits))


def test_each_model_recommends_the_users_own_block(fitted: Recommender) -> None:
    assert _own_block_share(fitted) > 0.9  # chance: 1 / GROUPS


def test_randomized_svd_path_finds_the_blocks_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph_walk, "DENSE_SVD_CELLS", 0)
    assert _own_block_share(GraphWalkRecommender(dimensions=6).fit(DATA)) > 0.9


def test_seen_items_are_excluded_unless_asked(fitted: Recommender) -> None:
    seen = EVENTS.groupby("user_id")["item_id"].apply(set)
    for user in ("u0_00", "u1_07", "u2_39"):
        answer = fitted.recommend(user, 100)
        assert not set(answer.items) & seen[user]
        assert len(answer.items) == len(DATA.items) - len(seen[user])
        everything = fitted.recommend(user, 100, exclude_seen=False)
        assert set(everything.items) == set(map(str, DATA.items))
        assert everything.strategy == "model"
        # what the user visited is what the model believes in most
        assert set(everything.items[:VISITS]) & seen[user]


def test_unknown_users_get_the_popularity_ranking(fitted: Recommender) -> None:
    cold = fitted.recommend("nobody", 3)
    assert cold.strategy == COLD_START and len(cold.items) == 3
    many = fitted.recommend_many(["u0_00", "nobody"], 3)
    assert [a.strategy for a in many] == ["model", COLD_START]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_fixed_seed_gives_the_same_model(name: str) -> None:
    first, again = MODELS[name](seed=3).fit(DATA), MODELS[name](seed=3).fit(DATA)
    other = MODELS[name](seed=4).fit(DATA)
    users = list(USER_GROUP)
    assert first.recommend_many(users, 5) == again.recommend_many(users, 5)
    mine = first._scores(np.arange(len(users)))
    assert np.array_equal(mine, again._scores(np.arange(len(users))))
    assert not np.array_equal(mine, other._scores(np.arange(len(users))))


def test_fitted_models_survive_a_skops_round_trip(fitted: Recommender) -> None:
    data = skops.io.dumps(fitted)
    loaded = skops.io.loads(data, trusted=skops.io.get_untrusted_types(data=data))
    users = [*USER_GROUP, "nobody"]
    assert loaded.recommend_many(users, 5) == fitted.recommend_many(users, 5)
    assert type(loaded) is type(fitted)


def test_one_cg_half_step_reaches_the_exact_per_user_solution() -> None:
    rng = np.random.default_rng(1)
    factors, regularization, alpha = 6, 0.1, 5.0
    confidence = _confidence(DATA.matrix, alpha)
    items = rng.normal(size=(DATA.shape[1], factors)).astype(np.float32)
    start = rng.normal(size=(DATA.shape[0], factors)).astype(np.float32)
    # conjugate gradient is exact after `factors` steps (up to rounding)
    solved = cg_half_step(confidence, items, start, regularization, steps=factors)
    dense = confidence.toarray().astype(np.float64)
    y = items.astype(np.float64)
    for user in (0, 17, 45, 119):
        c = 1.0 + dense[user]
        p = (dense[user] > 0).astype(float)
        normal = (y.T * c) @ y + regularization * np.eye(factors)
        exact = np.linalg.solve(normal, (y.T * c) @ p)
        np.testing.assert_allclose(solved[user], exact, rtol=1e-3, atol=1e-3)
    # the usual 3 steps already lower the objective a long way from a random start
    loss = [als_loss(confidence, x, items, regularization)
            for x in (start, cg_half_step(confidence, items, start, regularization), solved)]
    assert loss[0] > loss[1] >= loss[2] * (1 - 1e-5)


def test_als_training_lowers_the_objective() -> None:
    model = ALSRecommender(factors=8, iterations=1, regularization=0.1, alpha=4.0).fit(DATA)
    longer = ALSRecommender(factors=8, iterations=8, regularization=0.1, alpha=4.0).fit(DATA)
    confidence = _confidence(DATA.matrix, 4.0)
    rng = np.random.default_rng(0)  # the initialisation of seed 0
    init = [rng.random(shape, dtype=np.float32) * 0.01
            for shape in ((DATA.shape[0], 8), (DATA.shape[1], 8))]
    losses = [als_loss(confidence, *init, 0.1),
              als_loss(confidence, model.user_factors_, model.item_factors_, 0.1),
              als_loss(confidence, longer.user_factors_, longer.item_factors_, 0.1)]
    assert losses[0] > losses[1] > losses[2]
    assert model.user_factors_.dtype == np.float32


def test_walks_follow_edges_and_start_everywhere() -> None:
    graph = bipartite_graph(DATA.matrix)
    walks = random_walks(graph, 2, 7, np.random.default_rng(0))
    assert walks.shape == (2 * graph.shape[0], 7)
    assert sorted(set(walks[:, 0].tolist())) == list(range(graph.shape[0]))
    steps = graph[walks[:, :-1].ravel(), walks[:, 1:].ravel()]
    assert np.all(np.asarray(steps).ravel() == 1.0)


def test_zero_weights_are_not_visits() -> None:
    frame = EVENTS.assign(plays=np.where(EVENTS["user_id"] == "u0_00", 0, EVENTS["plays"]))
    data = load_interactions(frame, weight="plays")
    assert sparse.issparse(data.matrix)
    for name in ("als", "graph_walk"):
        options = {"popularity_weight": 0.0} if name == "graph_walk" else {}
        model = MODELS[name](**options).fit(data)
        assert np.allclose(model._scores(np.array([0])), 0.0)  # u0_00 has no visits
    bpr = MODELS["bpr"]().fit(data)  # never sampled: u0_00 keeps its small start
    assert np.abs(bpr.user_factors_[0]).max() < 1.0 / 8


@pytest.mark.parametrize(("model", "parameter"), [
    (ALSRecommender(factors=0), "factors"),
    (ALSRecommender(factors=2.5), "factors"),
    (ALSRecommender(iterations=0), "iterations"),
    (ALSRecommender(regularization=-1.0), "regularization"),
    (ALSRecommender(alpha=float("nan")), "alpha"),
    (ALSRecommender(seed=True), "seed"),
    (BPRRecommender(batch_size=0), "batch_size"),
    (BPRRecommender(learning_rate=-0.1), "learning_rate"),
    (BPRRecommender(factors=-3), "factors"),
    (GraphWalkRecommender(walk_length=1), "walk_length"),
    (GraphWalkRecommender(walks_per_node=0), "walks_per_node"),
    (GraphWalkRecommender(window=0), "window"),
    (GraphWalkRecommender(dimensions=0), "dimensions"),
    (GraphWalkRecommender(negative=0), "negative"),
])
def test_bad_parameters_are_named_at_fit_time(model: Recommender, parameter: str) -> None:
    with pytest.raises(ValidationError, match=rf"{model.name}: {parameter} must be"):
        model.fit(DATA)


def test_als_solvers_solve_the_same_problem_from_the_same_start() -> None:
    """The implicit library's solver (the default when installed) and the numpy one reach
    the same objective and the same rankings; an unknown solver is named."""
    from gapless.recsys.interactions import Interactions
    from gapless.recsys.matrix_factorization import ALSRecommender, _confidence, als_loss

    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 400, 6000), rng.zipf(1.3, 6000) % 150
    matrix = sparse.csr_matrix((np.ones(6000), (users, items)), shape=(400, 150))
    matrix.sum_duplicates()
    data = Interactions(matrix, np.array([f"u{k}" for k in range(400)], dtype=object),
                        np.array([f"i{k:03d}" for k in range(150)], dtype=object))
    fitted = {s: ALSRecommender(factors=16, solver=s).fit(data) for s in ("numpy", "implicit")}
    losses = {s: als_loss(_confidence(m.seen_, m.alpha), m.user_factors_, m.item_factors_,
                          m.regularization) for s, m in fitted.items()}
    assert losses["implicit"] == pytest.approx(losses["numpy"], rel=1e-3)
    same = sum(fitted["numpy"].recommend(f"u{k}", 5).items
               == fitted["implicit"].recommend(f"u{k}", 5).items for k in range(100))
    assert same >= 90
    with pytest.raises(ValidationError, match="solver must be auto, implicit or numpy"):
        ALSRecommender(solver="gpu").fit(data)
