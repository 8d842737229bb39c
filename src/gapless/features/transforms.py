"""Feature transforms: the task spec's ``features`` and ``transforms`` compiled to scikit-learn.

:func:`build_preprocessor` turns them into one unfitted ``ColumnTransformer`` that becomes
the first step of the model pipeline, so serving runs exactly the code training ran.

Columns no transform names get an automatic treatment by semantic type
(:func:`semantic_types`):

==============  ===============================================================
float, integer  median impute, standard scale
boolean         as 0/1 (unknown or missing values: the most frequent one)
categorical     most-frequent impute, one-hot (unknown categories ignored, categories
                seen fewer than :data:`MIN_CATEGORY_COUNT` times pooled as infrequent)
datetime        parts ``year``, ``month``, ``dayofweek``, then median impute
text            TF-IDF with at most 200 terms, one vectorizer per column (a transform
                with ``encode`` treats it as categorical instead)
identifier      dropped
==============  ===============================================================

A transform overrides these step by step: a step it leaves unset keeps the automatic
choice (``{columns: [income], scale: robust}`` still median-imputes; ``scale`` and
``impute`` on a datetime column apply to its parts; booleans are always 0/1, whatever
``encode`` says). A column may be named by one transform only. Every fault in the
spec (a missing column, a numeric step on a string column, datetime parts on a number,
no features left) raises :class:`~gapless.core.errors.ValidationError` before anything
is fitted. Two small estimators live here, :class:`DatetimeParts` and :class:`AsStrings`;
they are plain top-level classes so a saved pipeline loads them by name with skops.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from gapless.core.errors import ValidationError

if TYPE_CHECKING:
    from sklearn.compose import ColumnTransformer

# A transform entry: any object with the fields of gapless.training.specs.Transform
# (columns, impute, fill_value, scale, encode, bucketize, datetime_parts, tfidf, drop).
Transform = Any

DATETIME_PARTS = ("year", "month", "day", "dayofweek", "hour", "dayofyear")
# part name -> pandas ``.dt`` attribute (dayofweek: Monday=0)
_PART_ATTRIBUTE = {"year": "year", "month": "month", "day": "day", "dayofweek": "day_of_week",
                   "hour": "hour", "dayofyear": "day_of_year"}
AUTO_DATETIME_PARTS = ("year", "month", "dayofweek")
AUTO_TFIDF_MAX_FEATURES = 200
# Categories seen fewer times than this in the training rows share one "infrequent" column.
MIN_CATEGORY_COUNT = 5
# An integer column named like an id whose values are at least this distinct is an identifier,
# even when a few duplicates keep infer_types from calling it one.
ID_DISTINCT_FRACTION = 0.95
_ID_NAME = re.compile(r"(^|_)(id|uuid|key|rownames|index)$", re.IGNORECASE)
_NUMERIC = ("integer", "float", "boolean")
_TFIDF_OPTIONS = {"max_features", "ngram_range", "min_df", "max_df", "stop_words", "lowercase",
                  "sublinear_tf", "binary", "analyzer", "norm", "use_idf", "token_pattern"}
_BUCKET_OPTIONS = {"bins", "strategy", "encode"}


class FeatureSpec(Protocol):
    """What this module reads from a task spec (:class:`gapless.training.specs.TaskSpec`
    satisfies it); a protocol because ``training`` sits above ``features``."""

    @property
    def features(self) -> Any: ...  # .include: list[str] | None, .exclude: list[str]

    @property
    def transforms(self) -> Sequence[Transform]: ...

    @property
    def seed(self) -> int: ...

    @property
    def problem(self) -> str | None: ...


class DatetimeParts(TransformerMixin, BaseEstimator):
    """Datetime columns to numbers: one output column per (input column, part).

    Accepts datetime64 columns or strings ``pd.to_datetime`` parses (what JSON brings at
    serving time); missing or unparseable values become NaN, so follow it with an imputer.
    """

    def __init__(self, parts: Sequence[str] = AUTO_DATETIME_PARTS) -> None:
        self.parts = parts

    def fit(self, X: Any, y: Any = None) -> DatetimeParts:  # noqa: N803 - sklearn's name
        unknown = [part for part in self.parts if part not in DATETIME_PARTS]
        if not self.parts or unknown:
            raise ValidationError(f"DatetimeParts: parts must be a non-empty subset of "
                                  f"{list(DATETIME_PARTS)}, got {list(self.parts)!r}")
        frame = _as_frame(X)
        self.n_features_in_ = frame.shape[1]
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def transform(self, X: Any) -> np.ndarray:  # noqa: N803
        frame = _as_frame(X)
        if frame.shape[1] != self.n_features_in_:
            raise ValidationError(f"DatetimeParts: expected {self.n_features_in_} columns, "
                                  f"got {frame.shape[1]}")
        out = np.empty((len(frame), frame.shape[1] * len(self.parts)), dtype=float)
        for j in range(frame.shape[1]):
            stamps = _to_datetime(frame.iloc[:, j])
            for k, part in enumerate(self.parts):
                values = getattr(stamps.dt, _PART_ATTRIBUTE[part])
                out[:, j * len(self.parts) + k] = values.to_numpy(dtype=float, na_value=np.nan)
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        names = _input_names(self, input_features)
        return np.asarray([f"{name}_{part}" for name in names for part in self.parts],
                          dtype=object)


class AsStrings(TransformerMixin, BaseEstimator):
    """Values as strings, every kind of missing (None, NaN, NA) as ``missing`` (None: NaN).

    Puts string columns in one form whatever a request brings (a JSON ``null`` arrives as
    None, which imputers do not count as missing; mixed types break encoders).
    ``flatten=True`` gives the 1-D array of one column that a text vectorizer takes.
    """

    def __init__(self, missing: str | None = None, flatten: bool = False) -> None:
        self.missing = missing
        self.flatten = flatten

    def fit(self, X: Any, y: Any = None) -> AsStrings:  # noqa: N803
        frame = _as_frame(X)
        self.n_features_in_ = frame.shape[1]
        if self.flatten and self.n_features_in_ != 1:
            raise ValidationError(f"AsStrings(flatten=True) takes one column, "
                                  f"got {self.n_features_in_}")
        if isinstance(X, pd.DataFrame | pd.Series) and not isinstance(frame.columns,
                                                                      pd.RangeIndex):
            self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        return self

    def transform(self, X: Any) -> np.ndarray:  # noqa: N803
        frame = _as_frame(X)
        out = np.empty(frame.shape, dtype=object)
        fill = np.nan if self.missing is None else self.missing
        for j in range(frame.shape[1]):
            column = frame.iloc[:, j]
            strings = column.astype(str).to_numpy(dtype=object)
            strings[column.isna().to_numpy()] = fill
            out[:, j] = strings
        return out[:, 0] if self.flatten else out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(_input_names(self, input_features), dtype=object)


def _as_frame(X: Any) -> pd.DataFrame:  # noqa: N803
    if isinstance(X, pd.DataFrame):
        return X
    if isinstance(X, pd.Series):
        return X.to_frame()
    array = np.asarray(X, dtype=object)
    return pd.DataFrame(array.reshape(len(array), -1))


def _to_datetime(values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    try:
        return pd.to_datetime(values, errors="coerce")
    except (TypeError, ValueError):  # mixed time zones
        return pd.to_datetime(values, errors="coerce", utc=True)


def _input_names(estimator: BaseEstimator, input_features: Any) -> list[str]:
    if input_features is not None:
        return [str(name) for name in input_features]
    if hasattr(estimator, "feature_names_in_"):
        return [str(name) for name in estimator.feature_names_in_]
    return [f"x{i}" for i in range(estimator.n_features_in_)]


def semantic_types(frame: pd.DataFrame) -> dict[str, str]:
    """The semantic type of every column (see :mod:`gapless.data.types`).

    Refines :func:`~gapless.data.types.infer_types` in one way: an integer column named
    like an id (``id``, ``*_id``, ``key``, ``rownames``, ``index``) whose values are at
    least 95% distinct is an identifier even with a few duplicate rows.
    """
    from gapless.data.types import infer_types

    try:
        types = infer_types(frame)
    except Exception:  # noqa: BLE001 - pyarrow refuses some columns; go column by column
        types = {name: _column_type(frame[name]) for name in frame.columns}
    for name, kind in types.items():
        if kind == "integer" and _ID_NAME.search(str(name)):
            non_null = int(frame[name].notna().sum())
            if non_null and frame[name].nunique() >= ID_DISTINCT_FRACTION * non_null:
                types[name] = "identifier"
    return types


def _column_type(column: pd.Series) -> str:
    from gapless.data.types import infer_types

    if isinstance(column.dtype, pd.CategoricalDtype):  # Arrow cannot count its distinct values
        return "categorical"
    try:
        return infer_types(column.to_frame())[column.name]
    except Exception:  # noqa: BLE001 - mixed Python objects: judge them by their text
        return infer_types(column.where(column.isna(), column.astype(str)).to_frame())[
            column.name]


def _missing(what: str, names: Sequence[str], frame: pd.DataFrame) -> None:
    columns = [str(column) for column in frame.columns]
    absent = [name for name in names if name not in frame.columns]
    if not absent:
        return
    hints = []
    for name in absent:
        close = difflib.get_close_matches(str(name), columns, n=3, cutoff=0.6)
        hints.append(f"`{name}`" + (f" (did you mean {', '.join(close)}?)" if close else ""))
    raise ValidationError(f"{what} names column(s) not in the data: {'; '.join(hints)}; "
                          f"the columns are {columns}")


def _describe(index: int, transform: Transform) -> str:
    return f"transforms[{index}] (columns {list(transform.columns)})"


def feature_columns(frame: pd.DataFrame, spec: FeatureSpec, target: str | None, *,
                    types: dict[str, str] | None = None) -> list[str]:
    """The columns that feed the model, in the frame's order.

    ``features.include`` (default: every column) minus ``features.exclude``, the target,
    columns a transform drops, columns with no value at all, and identifiers that neither
    ``include`` nor a transform names explicitly. ``types``: :func:`semantic_types` of
    ``frame``, when already known.
    """
    include, exclude = spec.features.include, spec.features.exclude
    if include is not None:
        _missing("features.include", include, frame)
    _missing("features.exclude", exclude, frame)
    for index, transform in enumerate(spec.transforms):
        _missing(_describe(index, transform), transform.columns, frame)
    named = {name for transform in spec.transforms for name in transform.columns}
    dropped = {name for t in spec.transforms if t.drop for name in t.columns}
    explicit = set(include or ()) | named
    types = semantic_types(frame) if types is None else types
    chosen = []
    for name in frame.columns:
        if name == target or name in exclude or name in dropped:
            continue
        if include is not None and name not in include:
            continue
        if types[name] == "identifier" and name not in explicit:
            continue
        if name not in explicit and frame[name].isna().all():
            continue
        chosen.append(name)
    if not chosen:
        raise ValidationError(
            f"no feature columns left from {[str(c) for c in frame.columns]} after removing "
            f"the target {target!r}, identifiers, excluded and dropped columns; "
            "check features.include / features.exclude and the transforms")
    return chosen


def _kind(types: dict[str, str], frame: pd.DataFrame, name: str) -> str:
    kind = types[name]
    if kind == "identifier":  # named explicitly: use what its storage says
        return "integer" if pd.api.types.is_numeric_dtype(frame[name]) else "categorical"
    return kind


def _check_steps(where: str, transform: Transform, kinds: dict[str, str]) -> None:
    # (step, used, also fine for datetime columns, whose parts are numbers)
    numeric_steps = [(step, on_dates) for step, used, on_dates in (
        (f"impute '{transform.impute}'", transform.impute in ("mean", "median"), True),
        (f"scale '{transform.scale}'", transform.scale not in (None, "none"), True),
        ("bucketize", transform.bucketize is not None, False)) if used]
    for name, kind in kinds.items():
        if transform.datetime_parts is not None and kind != "datetime":
            raise ValidationError(
                f"{where}: datetime_parts needs datetime columns, but `{name}` is {kind}; "
                "convert it first (pd.to_datetime) or remove it from this transform")
        if transform.tfidf is not None and kind not in ("text", "categorical"):
            raise ValidationError(f"{where}: tfidf needs text columns, but `{name}` is {kind}; "
                                  "remove it from this transform")
        for step, on_dates in numeric_steps:
            if kind not in _NUMERIC and not (on_dates and kind == "datetime"):
                raise ValidationError(
                    f"{where}: {step} needs numeric columns, but `{name}` is {kind}; "
                    "remove it from this transform, or use encode / impute most_frequent")
        if transform.encode == "none" and kind in ("categorical", "text"):
            raise ValidationError(f"{where}: encode 'none' would pass the strings of `{name}` "
                                  "to the model; choose onehot, ordinal or target, or drop it")
    for option, allowed in ((transform.tfidf, _TFIDF_OPTIONS),
                            (transform.bucketize, _BUCKET_OPTIONS)):
        unknown = sorted(set(option or ()) - allowed)
        if unknown:
            raise ValidationError(f"{where}: unknown option(s) {unknown}; "
                                  f"known: {sorted(allowed)}")


def _imputer(strategy: str | None, default: str, fill_value: Any, *, text: bool) -> Any:
    from sklearn.impute import SimpleImputer

    strategy = strategy or default
    if strategy == "none":
        return None
    if strategy == "constant":
        fill = fill_value if fill_value is not None else ("missing" if text else 0)
        return SimpleImputer(strategy="constant", fill_value=fill)
    return SimpleImputer(strategy=strategy)


def _scaler(scale: str | None, default: str | None, *, sparse: bool = False) -> Any:
    from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

    scale = scale or default
    if sparse and scale not in (None, "none"):  # centring would densify one-hot buckets
        return MaxAbsScaler() if scale == "minmax" else StandardScaler(with_mean=False)
    return {"standard": StandardScaler(), "minmax": MinMaxScaler(), "robust": RobustScaler(),
            None: None, "none": None}[scale]


def _encoder(encode: str | None, seed: int, target: str | None, where: str,
             problem: str | None) -> Any:
    from sklearn.model_selection import KFold, StratifiedKFold
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, TargetEncoder

    if encode in (None, "onehot"):
        return OneHotEncoder(handle_unknown="ignore", min_frequency=MIN_CATEGORY_COUNT)
    if encode == "ordinal":
        return OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                              encoded_missing_value=-1)
    if target is None:
        raise ValidationError(f"{where}: target encoding needs a target, and this task has "
                              "none (clustering); use onehot or ordinal")
    classification = problem in ("binary", "multiclass")
    folds = (StratifiedKFold if classification else KFold)(5, shuffle=True, random_state=seed)
    target_type = {"binary": "binary", "multiclass": "multiclass",
                   "regression": "continuous"}.get(problem or "", "auto")
    return TargetEncoder(target_type=target_type, cv=folds)


def _steps(*steps: Any) -> Any:
    from sklearn.pipeline import make_pipeline

    present = [step for step in steps if step is not None]
    return make_pipeline(*present) if present else "passthrough"


def _numeric(t: Transform | None, seed: int, target: str | None, where: str,
             problem: str | None) -> Any:
    from sklearn.preprocessing import KBinsDiscretizer

    if t is not None and t.encode not in (None, "none"):  # numbers used as categories
        return _categorical(t, seed, target, where, problem, strings=False)
    bins = None
    if t is not None and t.bucketize is not None:
        bins = KBinsDiscretizer(n_bins=int(t.bucketize.get("bins", 5)),
                                strategy=t.bucketize.get("strategy", "quantile"),
                                encode=t.bucketize.get("encode", "onehot"))
    impute = _imputer(t and t.impute, "median", t and t.fill_value, text=False)
    scale = _scaler(t and t.scale, None if bins is not None else "standard",
                    sparse=bins is not None and bins.encode == "onehot")
    return _steps(impute, bins, scale)


def _boolean(t: Transform | None, width: int) -> Any:
    from sklearn.preprocessing import OrdinalEncoder

    as_01 = OrdinalEncoder(categories=[[False, True]] * width,
                           handle_unknown="use_encoded_value", unknown_value=np.nan)
    impute = _imputer(t and t.impute, "most_frequent", t and t.fill_value, text=False)
    return _steps(as_01, impute, _scaler(t and t.scale, None))


def _categorical(t: Transform | None, seed: int, target: str | None, where: str,
                 problem: str | None, *, strings: bool = True) -> Any:
    impute = _imputer(t and t.impute, "most_frequent", t and t.fill_value, text=strings)
    return _steps(AsStrings() if strings else None, impute,
                  _encoder(t and t.encode, seed, target, where, problem))


def _datetime(t: Transform | None) -> Any:
    parts = tuple(t.datetime_parts) if t is not None and t.datetime_parts else AUTO_DATETIME_PARTS
    impute = _imputer(t and t.impute, "median", t and t.fill_value, text=False)
    return _steps(DatetimeParts(parts=parts), impute, _scaler(t and t.scale, None))


def _tfidf(t: Transform | None) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    options = dict(t.tfidf) if t is not None and t.tfidf else {
        "max_features": AUTO_TFIDF_MAX_FEATURES}
    if "ngram_range" in options:
        options["ngram_range"] = tuple(options["ngram_range"])
    return _steps(AsStrings(missing="", flatten=True), TfidfVectorizer(**options))


def _compile(kind: str, t: Transform | None, seed: int, target: str | None,
             where: str, problem: str | None, width: int = 1) -> Any:
    if t is not None and t.tfidf is not None:
        return _tfidf(t)
    if kind in ("integer", "float"):
        return _numeric(t, seed, target, where, problem)
    if kind == "boolean":
        return _boolean(t, width)
    if kind == "datetime":
        return _datetime(t)
    if kind == "text" and (t is None or t.encode is None):
        return _tfidf(t)
    return _categorical(t, seed, target, where, problem)


def build_preprocessor(frame: pd.DataFrame, spec: FeatureSpec, *, target: str | None,
                       problem: str | None = None, dense: bool = False) -> ColumnTransformer:
    """The unfitted ColumnTransformer for ``spec`` over ``frame``'s columns.

    Validates everything first (see the module docstring). ``problem`` (default: the
    spec's) tells target encoding what the target is. ``dense=True`` makes the
    output a dense array whatever the encoders produce, for estimators that need one.
    Output feature names are ``<block>__<column>[_<suffix>]`` (``get_feature_names_out``).
    """
    from sklearn.compose import ColumnTransformer

    types = semantic_types(frame)
    columns = feature_columns(frame, spec, target, types=types)
    problem = problem or spec.problem
    seen: dict[str, int] = {}
    blocks: list[tuple[str, Any, Any]] = []
    for index, transform in enumerate(spec.transforms):
        where = _describe(index, transform)
        for name in transform.columns:
            if name in seen:
                raise ValidationError(f"{where}: column `{name}` is already named by "
                                      f"transforms[{seen[name]}]; name each column once")
            seen[name] = index
        if transform.drop:
            continue
        names = [name for name in transform.columns if name in columns]
        kinds = {name: _kind(types, frame, name) for name in names}
        _check_steps(where, transform, kinds)
        by_kind: dict[str, list[str]] = {}
        for name in names:
            if transform.tfidf is not None or (kinds[name] == "text" and not transform.encode):
                # a vectorizer takes one 1-D column: select it by name, not in a list
                blocks.append((f"t{index}_text_{len(blocks)}",
                               _compile("text", transform, spec.seed, target, where, problem),
                               name))
            else:
                by_kind.setdefault(kinds[name], []).append(name)
        for kind, group in by_kind.items():
            blocks.append((f"t{index}_{kind}",
                           _compile(kind, transform, spec.seed, target, where, problem,
                                    len(group)), group))
    auto: dict[str, list[str]] = {}
    for name in columns:
        if name not in seen:
            auto.setdefault(_kind(types, frame, name), []).append(name)
    for kind in ("integer", "float", "boolean", "categorical", "datetime"):
        if kind in auto:
            blocks.append((kind, _compile(kind, None, spec.seed, target, "auto", problem,
                                          len(auto[kind])), auto[kind]))
    for position, name in enumerate(auto.get("text", ())):
        blocks.append((f"text_{position}",
                       _compile("text", None, spec.seed, target, "auto", problem), name))
    return ColumnTransformer(blocks, remainder="drop",
                             sparse_threshold=0.0 if dense else 0.3)


__all__ = ["AUTO_DATETIME_PARTS", "DATETIME_PARTS", "MIN_CATEGORY_COUNT", "AsStrings",
           "DatetimeParts", "FeatureSpec", "build_preprocessor", "feature_columns",
           "semantic_types"]
