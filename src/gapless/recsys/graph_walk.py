"""Graph embeddings from random walks on the user-item graph (DeepWalk-style).

Users and items are the nodes of one bipartite graph, an edge for every visited cell
(weight > 0). From every node start ``walks_per_node`` uniform random walks of
``walk_length`` nodes, all advanced together one step at a time with numpy (each walk
picks a random neighbour through the CSR ``indptr``/``indices``; no Python loop per walk).
Node pairs at most ``window`` steps apart on a walk are counted, in chunks of walks
summed into one sparse matrix.

The embeddings are learned from those walks by factorizing the shifted positive
pointwise mutual information of the co-occurrence counts,
``max(log(#(u,i) D / (#u #i)) - log(negative), 0)``, with a truncated SVD: this is the
matrix that skip-gram with ``negative`` negative samples -- the learner of DeepWalk --
implicitly factorizes (Levy & Goldberg 2014; Qiu et al. 2018, NetMF), so the SVD gives
the DeepWalk embeddings without the stochastic training. Only the user x item block of
that matrix is kept and factorized: on a bipartite graph a user and an item are always an
odd number of steps apart, so the odd offsets up to ``window`` carry every user-item pair
(multi-hop ones included), and the user-user block -- the biggest by far, and never used
to score -- is never built. With ``PPMI ~ U S V^T`` a user's embedding is its row of
``U sqrt(S)``, an item's its row of ``V sqrt(S)``, and a user's score for an item is
their dot product: the low-rank estimate of their shifted PMI on the walks.
"""

from __future__ import annotations

from typing import Any

from gapless.recsys.base import Recommender
from gapless.recsys.matrix_factorization import real_number, whole_number

PAIRS_PER_CHUNK = 1 << 22  # node pairs counted at once (walks x positions x window)
DENSE_SVD_CELLS = 1 << 22  # a PPMI matrix this small (users x items) gets an exact SVD
SVD_POWER_ITERATIONS = 5


class GraphWalkRecommender(Recommender):
    """DeepWalk-style embeddings of users and items (random walks + PPMI + SVD).

    ``walks_per_node``: walks started from every node; ``walk_length``: nodes per walk
    (>= 2); ``window``: the largest distance on a walk counted as co-occurring;
    ``dimensions``: the embedding size; ``negative``: the skip-gram negative samples,
    i.e. the PMI shift ``log(negative)``; ``seed``: the walks and the SVD start;
    ``popularity_weight``: how much the items' log popularity adds to the embedding score.
    PMI measures how much more often a user and an item meet on the walks than chance,
    relative to how common the item is, so alone it ranks rare items first; adding the
    log prior with weight 1 gives the walks' ``log P(item | user)``, and 0.5 did best on
    tourism and MovieLens (benchmarks/RESULTS.md)."""

    name = "graph_walk"

    def __init__(self, walks_per_node: int = 10, walk_length: int = 20, window: int = 5,
                 dimensions: int = 64, negative: int = 1, seed: int = 0,
                 popularity_weight: float = 0.5) -> None:
        self.walks_per_node = walks_per_node
        self.walk_length = walk_length
        self.window = window
        self.dimensions = dimensions
        self.negative = negative
        self.seed = seed
        self.popularity_weight = popularity_weight

    def _fit(self, interactions: Any, items: Any) -> None:
        import numpy as np

        walks_per_node = whole_number(self.name, "walks_per_node", self.walks_per_node, 1)
        walk_length = whole_number(self.name, "walk_length", self.walk_length, 2)
        window = whole_number(self.name, "window", self.window, 1)
        dimensions = whole_number(self.name, "dimensions", self.dimensions, 1)
        negative = whole_number(self.name, "negative", self.negative, 1)
        seed = whole_number(self.name, "seed", self.seed, 0)
        real_number(self.name, "popularity_weight", self.popularity_weight, 0.0)
        rng = np.random.default_rng(seed)
        n_users, n_items = self.seen_.shape
        graph = bipartite_graph(self.seen_)
        walks = random_walks(graph, walks_per_node, walk_length, rng)
        counts = cooccurrence(walks, n_users, n_items, window)
        del walks
        ppmi = shifted_ppmi(counts, negative)
        del counts
        self.user_embeddings_, self.item_embeddings_ = _truncated_svd(ppmi, dimensions, seed)

    def _scores(self, rows: Any) -> Any:
        scores = self.user_embeddings_[rows] @ self.item_embeddings_.T
        weight = float(self.popularity_weight)
        return scores + weight * self._log_popularity() if weight else scores


def bipartite_graph(seen: Any) -> Any:
    """The symmetric (users + items) x (users + items) CSR adjacency of the visited cells
    (weight > 0), users first; data 1."""
    import numpy as np
    from scipy import sparse

    visited = sparse.csr_matrix(seen, copy=True)
    visited.data = (visited.data > 0).astype(np.float32)
    visited.eliminate_zeros()
    graph = sparse.bmat([[None, visited], [visited.T, None]], format="csr",
                        dtype=np.float32)
    n_users, n_items = visited.shape
    graph.resize((n_users + n_items, n_users + n_items))  # an empty block keeps its size
    graph.sort_indices()
    return graph


def random_walks(graph: Any, walks_per_node: int, walk_length: int, rng: Any) -> Any:
    """Uniform random walks, ``walks_per_node`` from every node with a neighbour:
    an int32 array (walks x walk_length) of node ids, all walks advanced together."""
    import numpy as np

    indptr = graph.indptr.astype(np.int64)
    indices = graph.indices.astype(np.int32)
    degree = np.diff(indptr)
    starts = np.flatnonzero(degree > 0).astype(np.int32)
    walks = np.empty((len(starts) * walks_per_node, walk_length), dtype=np.int32)
    walks[:, 0] = np.tile(starts, walks_per_node)
    for step in range(1, walk_length):
        here = walks[:, step - 1]
        offset = (rng.random(len(here)) * degree[here]).astype(np.int64)
        walks[:, step] = indices[indptr[here] + offset]  # every node on a walk has a degree
    return walks


def cooccurrence(walks: Any, n_users: int, n_items: int, window: int) -> Any:
    """Counts of (user, item) pairs at an odd distance of at most ``window`` steps on the
    walks (on a bipartite graph every user-item pair is an odd distance apart, every
    same-kind pair an even one): a float64 CSR (users x items), summed chunk by chunk."""
    import numpy as np
    from scipy import sparse

    n_walks, length = walks.shape
    offsets = range(1, min(window, length - 1) + 1, 2)
    per_walk = max(1, sum(length - d for d in offsets))
    chunk = max(1, PAIRS_PER_CHUNK // per_walk)
    total = sparse.csr_matrix((n_users, n_items), dtype=np.float64)
    for start in range(0, n_walks, chunk):
        block = walks[start:start + chunk]
        left = np.concatenate([block[:, :-d].ravel() for d in offsets])
        right = np.concatenate([block[:, d:].ravel() for d in offsets])
        users = np.minimum(left, right)  # users are numbered before items
        items = np.maximum(left, right) - n_users
        counts = sparse.coo_matrix((np.ones(len(users), dtype=np.float64), (users, items)),
                                   shape=(n_users, n_items)).tocsr()
        total = total + counts
    total.sum_duplicates()
    return total


def shifted_ppmi(counts: Any, negative: int) -> Any:
    """``max(log(#(u,i) D / (#u #i)) - log(negative), 0)`` on the counted pairs, as a
    float32 CSR with the non-positive cells dropped (D: all pairs; #u: u's pairs)."""
    import numpy as np
    from scipy import sparse

    counts = counts.tocoo()
    by_row = np.asarray(counts.sum(axis=1)).ravel()
    by_column = np.asarray(counts.sum(axis=0)).ravel()
    total = float(by_row.sum())
    pmi = (np.log(counts.data) + np.log(total) - np.log(by_row[counts.row])
           - np.log(by_column[counts.col]) - np.log(negative))
    keep = pmi > 0
    return sparse.csr_matrix((pmi[keep].astype(np.float32),
                              (counts.row[keep], counts.col[keep])), shape=counts.shape)


def _truncated_svd(matrix: Any, dimensions: int, seed: int) -> tuple[Any, Any]:
    """``U sqrt(S)`` and ``V sqrt(S)`` of the top ``dimensions`` singular triplets (fewer
    when the matrix is smaller), float32, largest first: exact for a small matrix,
    randomized (Halko et al. 2011, seeded) otherwise."""
    import numpy as np

    rows, columns = matrix.shape
    if rows * columns <= DENSE_SVD_CELLS or dimensions >= min(rows, columns):
        u, s, vt = np.linalg.svd(matrix.toarray().astype(np.float64), full_matrices=False)
        u, s, vt = u[:, :dimensions], s[:dimensions], vt[:dimensions]
    else:
        from sklearn.utils.extmath import randomized_svd

        u, s, vt = randomized_svd(matrix, dimensions, n_iter=SVD_POWER_ITERATIONS,
                                  random_state=seed)
    root = np.sqrt(np.maximum(s, 0.0))
    return ((u * root).astype(np.float32), (vt.T * root).astype(np.float32))
