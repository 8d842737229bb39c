"""The popularity, item-kNN and content recommenders on small tables whose answer is known,
the behaviour every model shares (masking, k, cold start, batching, skops), and item-kNN
against a dense numpy reference on a larger random matrix."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest
import skops.io
from scipy import sparse

from gapless.core.errors import ValidationError
from gapless.recsys.base import COLD_START, MODEL
from gapless.recsys.content import NO_KNOWN_LIKES, ContentRecommender
from gapless.recsys.interactions import Interactions, load_interactions
from gapless.recsys.item_knn import ItemKNNRecommender, item_similarity
from gapless.recsys.popularity import PopularityRecommender


def events(pairs: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(pairs, columns=["user_id", "item_id"])


# x: 3 users, y: 2 users, z: 1 user (4 events), w: 1 user
POPULAR = events([("a", "x"), ("b", "x"), ("c", "x"), ("a", "y"), ("b", "y"),
                  ("c", "z"), ("c", "z"), ("c", "z"), ("c", "z"), ("d", "w")])

# A and B go together, C and D go together; E is the most popular but goes with nothing
CO_VISITS = events([("u1", "A"), ("u1", "B"), ("u2", "A"), ("u2", "B"),
                    ("u3", "C"), ("u3", "D"), ("u4", "C"), ("u4", "D"),
                    ("u5", "A"), ("u6", "E"), ("u7", "E"), ("u8", "E")])

CATALOGUE = pd.DataFrame({
    "item_id": ["beach1", "beach2", "ski1", "ski2", "city1", "unlisted"],
    "description": ["sunny sandy beach by the sea", "quiet sandy beach, warm sea",
                    "snowy mountain slopes for skiing", "high mountain ski resort, snow",
                    "museums and old town streets", "a beach that is not in the catalogue"],
    "tags": [["beach", "surf"], ["beach", "sun"], ["ski", "snow"], ["ski", "alpine"],
             ["culture"], ["beach"]],
    "region": ["south", "south", "north", "north", "centre", "south"],
    "type": ["beach", "beach", "mountain", "mountain", "city", "beach"],
    "price_level": [2, 2, 3, 3, 1, 2],
    "best_season": ["summer", "summer", "winter", "winter", None, "summer"],
})
CONTENT_EVENTS = events([("sun_lover", "beach1"), ("skier", "ski1"), ("skier", "city1"),
                         ("other", "ski2"), ("other", "mystery"), ("third", "ski1")])


def content_data() -> tuple[Interactions, pd.DataFrame]:
    # the catalogue minus "unlisted": items nobody visited (beach2) still get a column;
    # "mystery" was visited but has no attributes
    listed = CATALOGUE[CATALOGUE.item_id != "unlisted"]
    return load_interactions(CONTENT_EVENTS, items=listed.item_id.tolist()), CATALOGUE


def fitted(kind: str):
    if kind == "popularity":
        return PopularityRecommender().fit(load_interactions(POPULAR))
    if kind == "item_knn":
        return ItemKNNRecommender(neighbours=5, shrink=0.0).fit(load_interactions(CO_VISITS))
    interactions, items = content_data()
    return ContentRecommender(popularity_weight=0.0).fit(interactions, items)  # similarity


MODELS = ["popularity", "item_knn", "content"]


# -- the known answers ------------------------------------------------------------------
def test_popularity_recommends_the_most_visited_unseen_items_counting_users_once():
    model = fitted("popularity")
    assert model.name == "popularity"
    rec = model.recommend("d", k=3)
    assert rec.items == ["x", "y", "z"]  # z has 4 events but one user, so it is last
    assert rec.strategy == MODEL
    assert set(model.recommend("a", k=2).items) == {"z", "w"}  # x and y are seen; z ties w
    assert model.recommend("a", k=2, exclude_seen=False).items == ["x", "y"]


def test_item_knn_recommends_the_item_co_visited_with_the_users_items():
    model = fitted("item_knn")
    assert model.name == "item_knn"
    rec = model.recommend("u5", k=1)
    assert rec.items == ["B"]  # not E, the popular one
    assert rec.scores[0] == pytest.approx(2 / (np.sqrt(3) * np.sqrt(2)))
    assert model.recommend("u3", k=4).scores == [0.0, 0.0, 0.0]  # C, D go with nothing else
    # with seen items allowed, A (the user's own item, not its own neighbour) scores 0
    assert model.recommend("u5", k=1, exclude_seen=False).items == ["B"]


def test_item_knn_neighbours_prune_each_target_items_list():
    # target B is similar to A (2 shared users) and to C (1 shared user); keep only A
    frame = events([("p", "A"), ("p", "B"), ("q", "A"), ("q", "B"), ("r", "B"), ("r", "C"),
                    ("s", "C")])
    model = ItemKNNRecommender(neighbours=1, shrink=0.0).fit(load_interactions(frame))
    similarity = model.similarity_.toarray()  # [source, target], items A, B, C
    assert similarity[:, 1].nonzero()[0].tolist() == [0]
    assert similarity[1, 1] == 0  # never an item's own neighbour
    # s has only C, and C is not among B's kept neighbours: B scores 0 for s
    rec = model.recommend("s", k=3)
    assert dict(zip(rec.items, rec.scores, strict=True))["B"] == 0


def test_content_recommends_similar_items_including_never_visited_ones():
    model = fitted("content")
    assert model.name == "content"
    interactions, _ = content_data()
    assert "beach2" in model.items_ and "unlisted" not in model.items_
    assert model.item_vectors_.shape[0] == len(model.items_)
    mystery = list(model.items_).index("mystery")
    assert model.item_vectors_[mystery].nnz == 0  # visited, but no attributes
    rec = model.recommend("sun_lover", k=1)
    assert rec.items == ["beach2"]  # nobody visited it; it shares tags, type and region
    assert model.recommend("third", k=1).items == ["ski2"]
    # the mystery item has a zero vector, so it scores 0 for everyone
    everything = model.recommend("sun_lover", k=100)
    assert dict(zip(everything.items, everything.scores, strict=True))["mystery"] == 0


def test_content_recommend_for_profile():
    model = fitted("content")
    rec = model.recommend_for_profile(["ski1", "nowhere"], k=2)
    assert rec.items[0] == "ski2" and "ski1" not in rec.items
    assert rec.strategy == MODEL and rec.extra == {"unknown_items": ["nowhere"]}
    assert model.recommend_for_profile(["ski1"], k=1, exclude_liked=False).items == ["ski1"]
    cold = model.recommend_for_profile(["nowhere"], k=3)
    assert cold.strategy == NO_KNOWN_LIKES
    assert cold.items == model.recommend("nobody", k=3).items
    assert model.recommend_for_profile([], k=3).strategy == COLD_START


def test_content_needs_its_columns():
    interactions, items = content_data()
    with pytest.raises(ValidationError, match="fit\\(interactions, items\\)"):
        ContentRecommender().fit(interactions)
    with pytest.raises(ValidationError) as error:
        ContentRecommender().fit(interactions, items.drop(columns=["tags", "region"]))
    assert "'tags'" in str(error.value) and "'region'" in str(error.value)
    with pytest.raises(ValidationError, match="'colour'"):
        ContentRecommender(attribute_columns=("colour",)).fit(interactions, items)
    with pytest.raises(ValidationError, match="more than once"):
        ContentRecommender().fit(interactions, pd.concat([items, items.iloc[:1]]))


def test_content_columns_are_configurable_and_may_be_empty_text():
    interactions, items = content_data()
    only_type = ContentRecommender(text_columns=(), attribute_columns=("type",),
                                   popularity_weight=0.0)
    rec = only_type.fit(interactions, items).recommend("sun_lover", k=1)
    assert rec.items == ["beach2"]
    no_words = items.assign(description="", tags=[[] for _ in range(len(items))])
    assert ContentRecommender(popularity_weight=0.0).fit(interactions, no_words).recommend(
        "sun_lover", k=1).items == ["beach2"]


def test_a_popularity_prior_weighs_similar_items_by_how_often_they_are_chosen():
    """Pure similarity ranks a never-visited look-alike first; the log prior, weighted,
    moves the similar items people do visit ahead of it, and a negative weight is named."""
    interactions, items = content_data()
    pure = ContentRecommender(popularity_weight=0.0).fit(interactions, items)
    weighted = ContentRecommender(popularity_weight=1.0).fit(interactions, items)
    rows = np.array([pure.user_rows_["sun_lover"]])
    prior = np.log(pure.popularity_ + 1e-3)
    assert np.allclose(weighted._scores(rows), pure._scores(rows) + prior)
    assert weighted.recommend("sun_lover", k=1).items != ["beach2"]  # beach2: never visited
    with pytest.raises(ValidationError, match="popularity_weight"):
        ContentRecommender(popularity_weight=-1).fit(interactions, items)


def test_invalid_parameters_are_refused():
    with pytest.raises(ValidationError, match="neighbours"):
        ItemKNNRecommender(neighbours=0).fit(load_interactions(CO_VISITS))
    with pytest.raises(ValidationError, match="shrink"):
        ItemKNNRecommender(shrink=-1.0).fit(load_interactions(CO_VISITS))
    interactions, items = content_data()
    with pytest.raises(ValidationError, match="max_features"):
        ContentRecommender(max_features=0).fit(interactions, items)


# -- what every model does --------------------------------------------------------------
@pytest.mark.parametrize("kind", MODELS)
def test_parameters_are_plain_keyword_attributes(kind):
    cls = type(fitted(kind))
    parameters = inspect.signature(cls.__init__).parameters
    defaults = cls()
    for name, parameter in list(parameters.items())[1:]:
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue  # no __init__ of its own: object's
        assert parameter.default is not inspect.Parameter.empty
        assert getattr(defaults, name) == parameter.default


@pytest.mark.parametrize("kind", MODELS)
def test_unknown_user_gets_the_popularity_ranking(kind):
    model = fitted(kind)
    rec = model.recommend("nobody", k=2)
    assert rec.strategy == COLD_START
    order = np.argsort(-model.popularity_, kind="stable")[:2]
    assert rec.items == [str(model.items_[i]) for i in order]


@pytest.mark.parametrize("kind", MODELS)
def test_k_beyond_the_catalogue_gives_every_unseen_item_sorted(kind):
    model = fitted(kind)
    for user in model.users_:
        seen = set(model.items_[model.seen_[model.user_rows_[user]].nonzero()[1]])
        rec = model.recommend(user, k=1000)
        assert set(rec.items) == set(model.items_) - seen
        assert len(rec.items) == len(set(rec.items))
        assert rec.scores == sorted(rec.scores, reverse=True)
        everything = model.recommend(user, k=1000, exclude_seen=False)
        assert set(everything.items) == set(model.items_)
        assert everything.scores == sorted(everything.scores, reverse=True)


@pytest.mark.parametrize("kind", MODELS)
def test_recommend_many_equals_repeated_recommend(kind):
    model = fitted(kind)
    users = [*model.users_, "nobody", model.users_[0]]
    for exclude_seen in (True, False):
        many = model.recommend_many(users, k=3, exclude_seen=exclude_seen)
        assert many == [model.recommend(u, k=3, exclude_seen=exclude_seen) for u in users]


@pytest.mark.parametrize("kind", MODELS)
def test_survives_a_skops_round_trip(kind):
    model = fitted(kind)
    payload = skops.io.dumps(model)
    loaded = skops.io.loads(payload, trusted=skops.io.get_untrusted_types(data=payload))
    assert type(loaded) is type(model)
    users = [*model.users_, "nobody"]
    assert loaded.recommend_many(users, k=10) == model.recommend_many(users, k=10)
    if kind == "content":
        assert loaded.recommend_for_profile(["ski1"]) == model.recommend_for_profile(["ski1"])


# -- item-kNN against a dense reference -------------------------------------------------
def dense_similarity(matrix: np.ndarray, neighbours: int, shrink: float) -> np.ndarray:
    dots = matrix.T @ matrix
    norms = np.sqrt((matrix * matrix).sum(axis=0))
    sims = dots / (norms[:, None] * norms[None, :] + shrink)
    sims[dots <= 0] = 0
    np.fill_diagonal(sims, 0)
    kept = np.zeros_like(sims)
    for target in range(sims.shape[1]):
        column = sims[:, target]
        order = np.lexsort((np.arange(len(column)), -column))  # best first, ties: lower i
        order = order[column[order] > 0][:neighbours]
        kept[order, target] = column[order]
    return kept


def random_interactions(seed: int, users: int, items: int, events: int,
                        weighted: bool) -> Interactions:
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, items + 1)
    rows = rng.integers(0, users, events)
    columns = rng.choice(items, events, p=popularity / popularity.sum())
    values = rng.integers(1, 5, events).astype(float) if weighted else np.ones(events)
    matrix = sparse.csr_matrix((values, (rows, columns)), shape=(users, items))
    matrix.sum_duplicates()
    return Interactions(matrix, np.array([f"u{i:05d}" for i in range(users)], dtype=object),
                        np.array([f"i{i:04d}" for i in range(items)], dtype=object))


@pytest.mark.parametrize("block_entries", [500, 4_000_000])
def test_item_knn_matches_a_dense_reference(block_entries):
    interactions = random_interactions(7, 2000, 500, 20_000, weighted=True)
    binary = (interactions.matrix > 0).astype(float)
    reference = dense_similarity(binary.toarray(), neighbours=20, shrink=10.0)
    similarity = item_similarity(binary, neighbours=20, shrink=10.0,
                                 block_entries=block_entries)
    assert np.array_equal(similarity.toarray(), reference)  # same values, same ties
    assert (np.diff(similarity.tocsc().indptr) <= 20).all()

    model = ItemKNNRecommender(neighbours=20, shrink=10.0).fit(interactions)
    for row in (0, 17, 1234, 1999):
        expected = binary[row].toarray().ravel() @ reference
        rec = model.recommend(interactions.users[row], k=500, exclude_seen=False)
        got = dict(zip(rec.items, rec.scores, strict=True))
        assert np.allclose([got[str(i)] for i in interactions.items], expected)


def test_item_knn_weighted_matches_a_dense_reference():
    interactions = random_interactions(11, 300, 60, 3000, weighted=True)
    weights = interactions.matrix.toarray()
    reference = dense_similarity(weights, neighbours=60, shrink=2.0)  # nothing pruned
    model = ItemKNNRecommender(neighbours=60, shrink=2.0, binary=False).fit(interactions)
    assert np.allclose(model.similarity_.toarray(), reference)
    rec = model.recommend(interactions.users[5], k=60, exclude_seen=False)
    got = dict(zip(rec.items, rec.scores, strict=True))
    assert np.allclose([got[str(i)] for i in interactions.items], weights[5] @ reference)
