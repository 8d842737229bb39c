"""Content-based: items like the ones a user had, by their descriptions and attributes.

Each catalogue item becomes one sparse vector: the TF-IDF of its text columns joined
together, next to a one-hot of its attribute columns (scaled by ``attribute_weight``),
L2-normalised as a whole. A user's profile is the weighted mean of the vectors of the
items they interacted with, and an item's score is the profile's dot product with the
item's vector, so items nobody has visited yet (present in the catalogue given to
:func:`~gapless.recsys.interactions.load_interactions` through ``items=``) are
recommended as readily as popular ones. Only the item matrix is kept after fitting (no
vectorizer), so a fitted model is arrays, a sparse matrix and plain values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gapless.core.errors import ValidationError
from gapless.recsys.base import COLD_START, MODEL, Recommendation, Recommender, _top_k

ITEM_ID = "item_id"
NO_KNOWN_LIKES = "popularity (no known liked items)"


class ContentRecommender(Recommender):
    """TF-IDF + one-hot item vectors; users scored by their mean item vector.

    ``text_columns``: free-text columns (strings, or lists of strings such as tags)
    joined for TF-IDF; ``attribute_columns``: categorical columns, one-hot encoded;
    ``max_features``: the TF-IDF vocabulary size; ``attribute_weight``: the length of
    the attribute part relative to the text part (each is L2-normalised first);
    ``popularity_weight``: how much the items' log popularity adds to the similarity
    (0: pure similarity, which ranks rare look-alikes first; 0.1-0.2 beat the popularity
    baseline on tourism and MovieLens, see benchmarks/RESULTS.md)."""

    name = "content"

    def __init__(self, text_columns: Sequence[str] = ("description", "tags"),
                 attribute_columns: Sequence[str] = ("region", "type", "price_level",
                                                     "best_season"),
                 max_features: int = 5000, attribute_weight: float = 1.0,
                 popularity_weight: float = 0.2) -> None:
        self.text_columns = text_columns
        self.attribute_columns = attribute_columns
        self.max_features = max_features
        self.attribute_weight = attribute_weight
        self.popularity_weight = popularity_weight

    def _fit(self, interactions: Any, items: Any) -> None:
        from gapless.recsys.matrix_factorization import real_number

        real_number(self.name, "popularity_weight", self.popularity_weight, 0.0)
        self.item_vectors_ = self._item_vectors(items)

    # -- item vectors ----------------------------------------------------------------------
    def _item_vectors(self, items: Any) -> Any:
        import numpy as np
        from scipy import sparse
        from sklearn.preprocessing import normalize

        text_columns = [str(c) for c in self.text_columns]
        attribute_columns = [str(c) for c in self.attribute_columns]
        needed = [ITEM_ID, *text_columns, *attribute_columns]
        if items is None:
            raise ValidationError(f"{self.name}: needs the item attributes (a DataFrame with "
                                  f"columns {needed}); call fit(interactions, items)")
        columns = [str(c) for c in getattr(items, "columns", [])]
        missing = [c for c in needed if c not in columns]
        if missing:
            raise ValidationError(f"{self.name}: the item attributes have no column(s) "
                                  f"{missing}; they have {columns[:20]}")
        if isinstance(self.max_features, bool) \
                or not isinstance(self.max_features, (int, np.integer)) or self.max_features < 1:
            raise ValidationError(f"{self.name}: max_features must be a whole number >= 1, "
                                  f"got {self.max_features!r}")
        if not float(self.attribute_weight) >= 0:
            raise ValidationError(f"{self.name}: attribute_weight must be a number >= 0, "
                                  f"got {self.attribute_weight!r}")
        if items[ITEM_ID].isna().any():
            row = int(items[ITEM_ID].isna().to_numpy().argmax())
            raise ValidationError(f"{self.name}: item attributes row {row} has no {ITEM_ID}")
        ids = items[ITEM_ID].astype(str).to_numpy()
        duplicated = items[ITEM_ID].astype(str).duplicated().to_numpy()
        if duplicated.any():
            raise ValidationError(f"{self.name}: the item attributes list {ITEM_ID} "
                                  f"{ids[duplicated][:5].tolist()} more than once")
        # the attribute rows of the fitted catalogue, in self.items_ order
        position = {item: i for i, item in enumerate(ids)}
        found = np.asarray([position.get(str(item), -1) for item in self.items_],
                           dtype=np.int64)
        present = found >= 0
        table = items.iloc[found[present]].reset_index(drop=True)
        n_rows = len(table)

        text = _text_matrix(table, text_columns, int(self.max_features))
        attributes = _one_hot(table, attribute_columns)
        parts = []
        if text.shape[1]:
            parts.append(normalize(text))
        if attributes.shape[1] and float(self.attribute_weight) > 0:
            parts.append(normalize(attributes) * float(self.attribute_weight))
        known = (sparse.hstack(parts, format="csr") if parts
                 else sparse.csr_matrix((n_rows, 0)))
        known = normalize(known).astype(np.float64).tocsr()
        # scatter the known rows into the whole catalogue; absent items stay zero vectors
        placement = sparse.csr_matrix(
            (np.ones(n_rows), (np.flatnonzero(present), np.arange(n_rows))),
            shape=(len(self.items_), n_rows))
        vectors = (placement @ known).tocsr()
        vectors.sort_indices()
        return vectors

    # -- scoring ---------------------------------------------------------------------------
    def _profiles(self, weights: Any) -> Any:
        """Each row of ``weights`` (users x items, sparse) as the weighted mean vector."""
        import numpy as np
        from scipy import sparse

        totals = np.asarray(weights.sum(axis=1)).ravel()
        scale = sparse.diags(np.divide(1.0, totals, out=np.zeros_like(totals),
                                       where=totals > 0))
        return (scale @ weights @ self.item_vectors_).tocsr()

    def _scores(self, rows: Any) -> Any:
        import numpy as np

        profiles = self._profiles(self.seen_[rows])
        return self._with_prior(np.asarray((profiles @ self.item_vectors_.T).toarray(),
                                           dtype=np.float64))

    def _with_prior(self, similarity: Any) -> Any:
        weight = float(self.popularity_weight)
        return similarity + weight * self._log_popularity() if weight else similarity

    def recommend_for_profile(self, liked_items: Sequence[Any], k: int = 10, *,
                              exclude_liked: bool = True,
                              user: str = "") -> Recommendation:
        """The top ``k`` items for someone who is not a known user but names the items
        they like (``liked_items``: catalogue ids; unknown ids are ignored and listed in
        ``extra["unknown_items"]``). When none is known the popularity ranking answers,
        with ``strategy`` saying so."""
        import numpy as np
        from scipy import sparse

        self._check_fitted()
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValidationError(f"k must be a whole number >= 1, got {k!r}")
        index = {str(item): i for i, item in enumerate(self.items_)}
        liked = [str(item) for item in liked_items]
        columns = sorted({index[item] for item in liked if item in index})
        unknown = [item for item in liked if item not in index]
        extra = {"unknown_items": unknown} if unknown else {}
        if columns:
            weights = sparse.csr_matrix(
                (np.ones(len(columns)), (np.zeros(len(columns), dtype=np.int64), columns)),
                shape=(1, len(self.items_)))
            scores = self._with_prior(np.asarray(
                (self._profiles(weights) @ self.item_vectors_.T).toarray(), dtype=np.float64))
            strategy = MODEL
        else:
            scores = np.array(self._fallback_scores(), dtype=np.float64)[None, :]
            strategy = NO_KNOWN_LIKES if liked else COLD_START
        if exclude_liked and columns:
            scores[0, columns] = -np.inf
        (top,), (values,) = _top_k(scores, min(k, len(self.items_)))
        return Recommendation(str(user), self._decode(top), values, strategy, extra)


def _cell_text(value: Any) -> str:
    """One cell as text: lists/tuples/sets/arrays of tags joined by spaces, missing -> ""."""
    import numpy as np
    import pandas as pd

    if isinstance(value, (list, tuple, set, frozenset, np.ndarray)):
        return " ".join(_cell_text(v) for v in value)
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)


def _text_matrix(table: Any, columns: list[str], max_features: int) -> Any:
    """TF-IDF (unnormalised rows are fine: normalised later) of the joined text columns;
    a matrix with no columns when there is no text at all."""
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not columns or len(table) == 0:
        return sparse.csr_matrix((len(table), 0))
    documents = [" ".join(_cell_text(v) for v in row)
                 for row in zip(*(table[c].tolist() for c in columns), strict=True)]
    vectorizer = TfidfVectorizer(max_features=max_features, sublinear_tf=True)
    try:
        return vectorizer.fit_transform(documents).tocsr()
    except ValueError:  # empty vocabulary: no usable word anywhere
        return sparse.csr_matrix((len(table), 0))


def _one_hot(table: Any, columns: list[str]) -> Any:
    """One column per (attribute, value) seen; missing values get no column."""
    import numpy as np
    import pandas as pd
    from scipy import sparse

    blocks = []
    for column in columns:
        values = table[column]
        absent = values.isna().to_numpy()
        codes, uniques = pd.factorize(values.astype(str).where(~absent, None), sort=True)
        rows = np.flatnonzero(codes >= 0)
        blocks.append(sparse.csr_matrix((np.ones(len(rows)), (rows, codes[rows])),
                                        shape=(len(table), len(uniques))))
    if not blocks:
        return sparse.csr_matrix((len(table), 0))
    return sparse.hstack(blocks, format="csr")
