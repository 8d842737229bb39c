"""Matrix factorization for implicit feedback: alternating least squares (ALS) and BPR.

Hu, Koren & Volinsky (2008): every user-item cell has a preference ``p = weight > 0`` and
a confidence ``c = 1 + alpha * weight``; the factors minimise
``sum_ui c_ui (p_ui - x_u . y_i)^2 + regularization (|X|^2 + |Y|^2)`` over *all* cells,
the unvisited ones included, without ever building the dense matrix. Each half-iteration
fixes one side and improves every row of the other at once with a few conjugate-gradient
steps (Takacs, Pilaszy & Tikk 2011), warm-started from the previous factors: the product
of each user's normal matrix with a vector is ``YtY x_u + sum_{i in u} (c_ui - 1)
(y_i . x_u) y_i + regularization x_u``, computed for every user together from the sparse
structure (gather the factor rows of the visited cells, row-wise dot products, scale,
scatter-add with one sparse-dense product), the visited cells taken in chunks so memory
stays bounded. No Python loop over users or items; factors are float32.

:class:`BPRRecommender` learns the same kind of factors by ranking instead (Rendle et al.
2009): SGD on sampled (user, visited item, unvisited item) triples, in vectorized
minibatches.
"""

from __future__ import annotations

import math
from typing import Any

from gapless.core.errors import ValidationError
from gapless.recsys.base import Recommender

CHUNK = 1 << 17  # visited cells gathered at once: 2 x CHUNK x factors float32
CG_STEPS = 3  # conjugate-gradient steps per half-iteration
INIT_SCALE = 0.01


class ALSRecommender(Recommender):
    """Implicit-feedback ALS; scores are ``user_factors_[u] @ item_factors_.T``.

    ``factors``: the latent dimension; ``regularization``: the L2 penalty on both sides;
    ``alpha``: how much more a visited cell counts than an unvisited one per unit of
    weight; ``iterations``: ALS sweeps (each updates users, then items); ``seed``: the
    random initialisation; ``solver``: ``implicit`` (the `implicit` library's compiled
    conjugate gradient, 3.4x faster on 1M interactions, same objective: see
    benchmarks/RESULTS.md), ``numpy`` (this module's, no compiled dependency), or
    ``auto`` (implicit when installed: ``pip install 'gapless[recsys]'``). Both start
    from the same seeded factors and solve the same problem; the fitted model keeps
    only numpy arrays either way."""

    name = "als"

    def __init__(self, factors: int = 64, regularization: float = 0.05, alpha: float = 10.0,
                 iterations: int = 15, seed: int = 0, solver: str = "auto") -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.seed = seed
        self.solver = solver

    def _fit(self, interactions: Any, items: Any) -> None:
        import numpy as np

        factors = whole_number(self.name, "factors", self.factors, 1)
        iterations = whole_number(self.name, "iterations", self.iterations, 1)
        regularization = real_number(self.name, "regularization", self.regularization, 0.0)
        alpha = real_number(self.name, "alpha", self.alpha, 0.0)
        seed = whole_number(self.name, "seed", self.seed, 0)
        by_user = _confidence(self.seen_, alpha)
        by_item = by_user.T.tocsr()
        rng = np.random.default_rng(seed)
        n_users, n_items = by_user.shape
        users = (rng.random((n_users, factors), dtype=np.float32) * INIT_SCALE)
        items_f = (rng.random((n_items, factors), dtype=np.float32) * INIT_SCALE)
        if _solver(self.solver) == "implicit":
            users, items_f = _implicit_als(by_user, users, items_f, regularization, iterations)
        else:
            for _ in range(iterations):
                users = cg_half_step(by_user, items_f, users, regularization)
                items_f = cg_half_step(by_item, users, items_f, regularization)
        self.user_factors_ = users
        self.item_factors_ = items_f

    def _scores(self, rows: Any) -> Any:
        return self.user_factors_[rows] @ self.item_factors_.T


class BPRRecommender(Recommender):
    """Bayesian personalised ranking (Rendle et al. 2009): factors trained by SGD so that
    a user's visited item outscores a sampled unvisited one; scores are
    ``user_factors_[u] @ item_factors_.T + item_bias_``.

    Vectorized in minibatches of ``batch_size`` (user, visited item, sampled item) triples
    (gradients of a batch summed per row, no Python loop over triples); an epoch samples
    as many triples as there are visited cells, ``iterations`` epochs in all.
    ``learning_rate``: the SGD step; ``regularization``: the L2 penalty."""

    name = "bpr"

    def __init__(self, factors: int = 64, learning_rate: float = 0.05,
                 regularization: float = 0.01, iterations: int = 20, batch_size: int = 1024,
                 seed: int = 0) -> None:
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.batch_size = batch_size
        self.seed = seed

    def _fit(self, interactions: Any, items: Any) -> None:
        import numpy as np

        factors = whole_number(self.name, "factors", self.factors, 1)
        iterations = whole_number(self.name, "iterations", self.iterations, 1)
        batch_size = whole_number(self.name, "batch_size", self.batch_size, 1)
        rate = np.float32(real_number(self.name, "learning_rate", self.learning_rate, 0.0))
        reg = np.float32(real_number(self.name, "regularization", self.regularization, 0.0))
        seed = whole_number(self.name, "seed", self.seed, 0)
        visited = _confidence(self.seen_, 1.0)
        n_users, n_items = visited.shape
        rng = np.random.default_rng(seed)
        users = ((rng.random((n_users, factors), dtype=np.float32) - 0.5) / factors)
        items_f = ((rng.random((n_items, factors), dtype=np.float32) - 0.5) / factors)
        bias = np.zeros(n_items, dtype=np.float32)
        rows = _row_of_each_cell(visited)
        columns = visited.indices
        codes = rows.astype(np.int64) * n_items + columns  # sorted: CSR with sorted indices
        if visited.nnz == 0 or n_items < 2:
            self.user_factors_, self.item_factors_, self.item_bias_ = users, items_f, bias
            return
        for _ in range(iterations):
            order = rng.permutation(visited.nnz)
            for start in range(0, len(order), batch_size):
                picked = order[start:start + batch_size]
                u, i = rows[picked], columns[picked]
                j = _unvisited(rng, codes, u, n_items)
                xu, yi, yj = users[u], items_f[i], items_f[j]
                margin = np.einsum("ij,ij->i", xu, yi - yj) + bias[i] - bias[j]
                weight = (1.0 / (1.0 + np.exp(np.clip(margin, -30, 30)))).astype(np.float32)
                weight[j < 0] = 0.0  # no unvisited item found for that triple
                j = np.where(j < 0, i, j)
                g = weight[:, None]
                np.add.at(users, u, rate * (g * (yi - yj) - reg * xu))
                np.add.at(items_f, i, rate * (g * xu - reg * yi))
                np.add.at(items_f, j, rate * (-g * xu - reg * yj))
                np.add.at(bias, i, rate * (weight - reg * bias[i]))
                np.add.at(bias, j, rate * (-weight - reg * bias[j]))
        self.user_factors_, self.item_factors_, self.item_bias_ = users, items_f, bias

    def _scores(self, rows: Any) -> Any:
        return self.user_factors_[rows] @ self.item_factors_.T + self.item_bias_


def _unvisited(rng: Any, codes: Any, users: Any, n_items: int, tries: int = 5) -> Any:
    """A uniformly sampled item each user has not visited (-1 where ``tries`` draws all
    hit visited ones); ``codes``: the sorted ``user * n_items + item`` of the visits."""
    import numpy as np

    out = np.full(len(users), -1, dtype=np.int64)
    todo = np.arange(len(users))
    for _ in range(tries):
        draw = rng.integers(0, n_items, len(todo))
        code = users[todo].astype(np.int64) * n_items + draw
        where = np.minimum(np.searchsorted(codes, code), len(codes) - 1)
        fresh = codes[where] != code
        out[todo[fresh]] = draw[fresh]
        todo = todo[~fresh]
        if len(todo) == 0:
            break
    return out


def _solver(name: str) -> str:
    """``implicit`` or ``numpy``, as ``solver`` asks (``auto``: implicit when installed)."""
    import importlib.util

    from gapless.core.errors import ConfigError

    if name not in ("auto", "implicit", "numpy"):
        raise ValidationError(f"als: solver must be auto, implicit or numpy, got {name!r}")
    available = importlib.util.find_spec("implicit") is not None
    if name == "implicit" and not available:
        raise ConfigError("als: solver implicit needs the implicit library: "
                          "pip install 'gapless[recsys]'")
    return "implicit" if name == "implicit" or (name == "auto" and available) else "numpy"


def _implicit_als(confidence_less_one: Any, users: Any, items: Any, regularization: float,
                  iterations: int) -> tuple[Any, Any]:
    """The implicit library's CPU conjugate-gradient ALS from the given factors. It takes
    the confidence ``c`` itself (its ``alpha`` left at 1), and BLAS at one thread, as its
    own ``check_blas_config`` advises (its parallelism is OpenMP)."""
    import numpy as np
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    confidence = confidence_less_one.copy()
    confidence.data += np.float32(1.0)
    with threadpool_limits(limits=1, user_api="blas"):
        model = AlternatingLeastSquares(factors=users.shape[1], regularization=regularization,
                                        alpha=1.0, iterations=iterations, use_cg=True,
                                        calculate_training_loss=False)  # 3 CG steps, as ours
        model.user_factors, model.item_factors = users.copy(), items.copy()
        model.fit(confidence, show_progress=False)
    return (np.ascontiguousarray(model.user_factors, dtype=np.float32),
            np.ascontiguousarray(model.item_factors, dtype=np.float32))


def _confidence(seen: Any, alpha: float) -> Any:
    """Users x items CSR (float32) holding ``c - 1 = alpha * weight`` on the visited cells
    (weight > 0; a cell of weight 0 is an unvisited one)."""
    import numpy as np
    from scipy import sparse

    matrix = sparse.csr_matrix(seen, dtype=np.float32, copy=True)
    matrix.data[~(matrix.data > 0)] = 0.0
    matrix.eliminate_zeros()
    matrix.sort_indices()
    matrix.data *= np.float32(alpha)
    return matrix


def cg_half_step(confidence: Any, fixed: Any, solve: Any, regularization: float,
                 steps: int = CG_STEPS) -> Any:
    """``steps`` conjugate-gradient steps on every row of ``solve`` at once, towards the
    least-squares solution given the ``fixed`` side's factors. ``confidence``: CSR, rows
    of ``solve`` x rows of ``fixed``, holding ``c - 1`` on the visited cells (preference 1
    there, 0 elsewhere). Returns the new factors (float32)."""
    import numpy as np

    fixed = np.ascontiguousarray(fixed, dtype=np.float32)
    x = np.array(solve, dtype=np.float32, copy=True)
    gram = (fixed.T @ fixed).astype(np.float32)
    gram[np.diag_indices_from(gram)] += np.float32(regularization)
    rows = _row_of_each_cell(confidence)
    # right-hand side: sum_{i in u} c_ui p_ui y_i = sum_{i in u} (1 + (c_ui - 1)) y_i
    target = _with_data(confidence, confidence.data + np.float32(1.0)) @ fixed
    residual = target - _apply(confidence, rows, fixed, gram, x)
    direction = residual.copy()
    rs_old = np.einsum("ij,ij->i", residual, residual)
    for _ in range(steps):
        product = _apply(confidence, rows, fixed, gram, direction)
        curvature = np.einsum("ij,ij->i", direction, product)
        step = _divide(rs_old, curvature)
        x += step[:, None] * direction
        residual -= step[:, None] * product
        rs_new = np.einsum("ij,ij->i", residual, residual)
        direction *= _divide(rs_new, rs_old)[:, None]
        direction += residual
        rs_old = rs_new
    return x


def _apply(confidence: Any, rows: Any, fixed: Any, gram: Any, vectors: Any) -> Any:
    """Each row's normal matrix times its vector, for every row at once:
    ``(YtY + reg I) v_u + sum_{i in u} (c_ui - 1) (y_i . v_u) y_i``."""
    import numpy as np

    columns = confidence.indices
    dots = np.empty(confidence.nnz, dtype=np.float32)
    for start in range(0, confidence.nnz, CHUNK):
        stop = min(start + CHUNK, confidence.nnz)
        np.einsum("ij,ij->i", vectors[rows[start:stop]], fixed[columns[start:stop]],
                  out=dots[start:stop])
    dots *= confidence.data
    return vectors @ gram + _with_data(confidence, dots) @ fixed


def _row_of_each_cell(matrix: Any) -> Any:
    import numpy as np

    return np.repeat(np.arange(matrix.shape[0], dtype=np.int32), np.diff(matrix.indptr))


def _with_data(matrix: Any, data: Any) -> Any:
    from scipy import sparse

    return sparse.csr_matrix((data, matrix.indices, matrix.indptr), shape=matrix.shape,
                             copy=False)


def _divide(numerator: Any, denominator: Any) -> Any:
    """``numerator / denominator`` row-wise, 0 where the denominator is 0 (a converged row)."""
    import numpy as np

    out = np.zeros_like(numerator)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def als_loss(confidence: Any, user_factors: Any, item_factors: Any,
             regularization: float) -> float:
    """The implicit-ALS objective over every cell, without the dense matrix:
    ``sum_ui c_ui (p_ui - x_u . y_i)^2 + reg (|X|^2 + |Y|^2)``; ``confidence`` as in
    :func:`cg_half_step` (users x items, ``c - 1`` on the visited cells)."""
    import numpy as np

    x = np.asarray(user_factors, dtype=np.float64)
    y = np.asarray(item_factors, dtype=np.float64)
    rows = _row_of_each_cell(confidence)
    scores = np.einsum("ij,ij->i", x[rows], y[confidence.indices])
    # all cells with confidence 1 and preference 0, then correct the visited ones
    everywhere = float(np.sum((x.T @ x) * (y.T @ y)))
    visited = float(np.sum((1.0 + confidence.data) * (1.0 - scores) ** 2 - scores ** 2))
    penalty = regularization * float(np.sum(x * x) + np.sum(y * y))
    return everywhere + visited + penalty


def whole_number(model: str, name: str, value: Any, minimum: int) -> int:
    """``value`` as an int >= ``minimum``, or a ValidationError naming the parameter."""
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValidationError(f"{model}: {name} must be a whole number >= {minimum}, "
                              f"got {value!r}")
    return int(value)


def real_number(model: str, name: str, value: Any, minimum: float) -> float:
    """``value`` as a finite float >= ``minimum``, or a ValidationError naming it."""
    import numbers

    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(float(value)) or value < minimum):
        raise ValidationError(f"{model}: {name} must be a finite number >= {minimum}, "
                              f"got {value!r}")
    return float(value)
