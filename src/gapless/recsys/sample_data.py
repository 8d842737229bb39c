"""A seeded generator of a tourism recommender data set: tourists, destinations, visits.

Nothing is shipped as a file: :func:`make_tourism` builds the three tables from a seed, so
every pattern a recommender could learn is planted on purpose, documented below, and the
same on every machine. :func:`write_tourism` stores them as versioned datasets.

Tables (all string columns hold text, ids are never null):

* ``tourists``, one row per tourist:

  * ``user_id`` (str, ``T00001``...).
  * ``home_region`` (one of :data:`REGIONS`): where the tourist lives; a streak of visits
    is centred on it a quarter of the time (planted property 4).
  * ``age_band`` (``18-24``, ``25-34``, ``35-44``, ``45-54``, ``55-64``, ``65+``).
  * ``budget`` (``low``, ``mid``, ``high``): younger tourists are more often ``low``.
  * ``taste`` (a key of :data:`TASTES`): the hidden taste cluster, kept as ground truth for
    tests and demos; a model must not use it as a feature.

* ``destinations``, one row per place:

  * ``item_id`` (str, ``D0001``...).
  * ``name`` (str): a plausible place name in the style of its region plus a qualifier
    from its type ("Lake Lindheim", "Isle of Kermor"); names may repeat.
  * ``region`` (one of :data:`REGIONS`), ``type`` (one of :data:`TYPES`, drawn from a
    region-specific mix: no beaches in the alps).
  * ``price_level`` (int 1..4): dearer in the alps and the north, cheaper in the balkans.
  * ``best_season`` (one of :data:`SEASONS`, drawn from a type-specific mix: beaches in
    summer, mountains in winter or summer, cities in spring or autumn).
  * ``tags`` (str): 3 to 6 distinct tags from :data:`TAGS`, space-separated, mostly from
    the type's and the region's vocabularies.
  * ``description`` (str): two sentences built from name, type, region, price, season and
    tags, so TF-IDF on it carries the same signal as the structured columns.
  * ``popularity_rank`` (int 1..n): hidden ground truth, 1 the most popular; the cold
    destinations take the last ranks.

* ``visits``, one row per visit, ordered by ``timestamp`` (then ``user_id``):

  * ``user_id``, ``item_id``: always present in the other two tables.
  * ``timestamp`` (datetime64, whole seconds): uniform over ``[start, start + days)``.
  * ``rating`` (int 1..5).

Planted properties (each checked in ``tests/recsys/test_sample_data.py``):

1. **Long-tail popularity**: a destination's base popularity is ``rank ** -ZIPF_EXPONENT``
   (Zipf, ranks shuffled over destinations), so the top 10% of destinations take well
   over 40% of the visits (about 60% at the default size).
2. **Taste clusters**: each tourist belongs to one of the eight :data:`TASTES`; a cluster
   multiplies the weight of its two preferred types by :data:`TYPE_BOOST`, its regions by
   :data:`REGION_BOOST` and each of its tags on the destination by ``1 + TAG_BOOST``.
   Over 60% of visits (about 74%) go to a destination of the tourist's preferred types,
   and those visits are rated about a point higher.
3. **Seasonality**: a destination whose ``best_season`` is the season of the visit
   (meteorological, northern hemisphere: see :func:`season_of`) weighs
   :data:`SEASON_BOOST` times more, so well over a quarter of visits match the season
   (about 44%, against 25% with the visits' seasons shuffled).
4. **Sequences**: a tourist's visits run in streaks (a new streak starts with probability
   :data:`STREAK_SWITCH` at each visit); a streak has a focus region (the home region with
   probability :data:`HOME_SHARE`, else drawn from the cluster's regions) weighing
   :data:`FOCUS_BOOST` times more. Consecutive visits therefore share a region far more
   often than two visits of the same tourist taken at random (about 41% against 25%): the
   history says what next.
5. **Budget**: :data:`BUDGET_PRICE` weighs price levels by budget, so high-budget tourists
   visit dearer destinations on average (mean price level about 2.8 against 2.2 for low
   budgets); a price that fits the budget (within one level of 1, 2.5 and 4 for low, mid
   and high) also rates higher.
6. **Activity**: every tourist has at least 2 visits (a temporal split can hold out the
   last one); the rest are spread by log-normal weights, so a few tourists have many
   visits and most have few (default size: median 13, maximum in the hundreds).
   :data:`COLD_SHARE` of the destinations (at least one when
   there are two or more) have zero weight and are never visited: cold items that only
   a content model can rank. A draw that repeats a destination the tourist already
   visited is redrawn up to :data:`REDRAWS` times, so revisits stay rare (about 5% of
   visits at the default size, almost all by the most active tourists; a tourist's last
   visit is a revisit about 3% of the time).

Ratings: ``2.7 + 1.0`` for a preferred type ``+ 0.3`` for a preferred region ``+ 0.3``
in the best season ``+ 0.3`` when the price fits the budget, plus a per-destination
quality (sd 0.35), a per-tourist bias (sd 0.3) and noise (sd 0.7), rounded into 1..5.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gapless.core.errors import ValidationError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

REGIONS = ("alps", "mediterranean", "nordic", "atlantic", "central_europe", "balkans",
           "british_isles", "baltic")
TYPES = ("beach", "mountain", "city", "countryside", "island", "lake")
SEASONS = ("spring", "summer", "autumn", "winter")
BUDGETS = ("low", "mid", "high")
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")

# Each type's and region's tag vocabulary; TAGS is their union, in a fixed order.
TYPE_TAGS = {
    "beach": ("swimming", "sunbathing", "watersports", "nightlife", "family", "seafood"),
    "mountain": ("hiking", "skiing", "climbing", "nature", "views", "wellness"),
    "city": ("museums", "history", "architecture", "nightlife", "shopping", "food"),
    "countryside": ("wine", "food", "cycling", "nature", "farm_stays", "history"),
    "island": ("diving", "sailing", "swimming", "seafood", "nature", "relaxation"),
    "lake": ("swimming", "hiking", "boating", "family", "nature", "wellness"),
}
REGION_TAGS = {
    "alps": ("skiing", "hiking", "wellness"),
    "mediterranean": ("food", "wine", "history"),
    "nordic": ("northern_lights", "nature", "wildlife"),
    "atlantic": ("surfing", "seafood", "cycling"),
    "central_europe": ("history", "architecture", "beer"),
    "balkans": ("history", "nightlife", "festivals"),
    "british_isles": ("history", "pubs", "hiking"),
    "baltic": ("architecture", "nature", "cycling"),
}
TAGS = tuple(dict.fromkeys(
    [tag for tags in TYPE_TAGS.values() for tag in tags]
    + [tag for tags in REGION_TAGS.values() for tag in tags]))

# The hidden taste clusters: preferred types, regions and tags.
TASTES = {
    "sun_and_sea": {"types": ("beach", "island"), "regions": ("mediterranean", "balkans"),
                    "tags": ("swimming", "sunbathing", "nightlife")},
    "alpine_active": {"types": ("mountain", "lake"), "regions": ("alps", "central_europe"),
                      "tags": ("hiking", "skiing", "climbing")},
    "city_culture": {"types": ("city", "countryside"),
                     "regions": ("central_europe", "mediterranean"),
                     "tags": ("museums", "history", "architecture")},
    "food_and_wine": {"types": ("countryside", "city"), "regions": ("mediterranean", "atlantic"),
                      "tags": ("food", "wine", "seafood")},
    "northern_nature": {"types": ("lake", "mountain"), "regions": ("nordic", "baltic"),
                        "tags": ("nature", "wildlife", "northern_lights")},
    "family_holidays": {"types": ("beach", "lake"), "regions": ("atlantic", "baltic"),
                        "tags": ("family", "swimming", "boating")},
    "island_divers": {"types": ("island", "beach"), "regions": ("mediterranean", "atlantic"),
                      "tags": ("diving", "sailing", "watersports")},
    "nightlife_weekends": {"types": ("city", "island"), "regions": ("balkans", "british_isles"),
                           "tags": ("nightlife", "festivals", "pubs")},
}

# Planted strengths, exported so tests and demos can refer to them.
ZIPF_EXPONENT = 1.2
TYPE_BOOST = 8.0
REGION_BOOST = 2.0
TAG_BOOST = 0.5
SEASON_BOOST = 3.0
FOCUS_BOOST = 20.0
STREAK_SWITCH = 0.3
HOME_SHARE = 0.25
COLD_SHARE = 0.05
REDRAWS = 10
ACTIVITY_SIGMA = 1.0
MIN_VISITS = 2
# Weight of price levels 1..4 for each budget (rows follow BUDGETS).
BUDGET_PRICE = ((1.6, 1.0, 0.45, 0.15), (0.8, 1.3, 1.0, 0.5), (0.3, 0.7, 1.4, 2.0))

_REGION_SHARE = (0.14, 0.2, 0.1, 0.12, 0.16, 0.1, 0.1, 0.08)
_HOME_SHARE = (0.1, 0.14, 0.12, 0.1, 0.26, 0.08, 0.14, 0.06)
_TYPE_MIX = {  # columns follow TYPES
    "alps": (0.0, 0.45, 0.15, 0.15, 0.0, 0.25),
    "mediterranean": (0.35, 0.05, 0.2, 0.1, 0.3, 0.0),
    "nordic": (0.05, 0.25, 0.2, 0.1, 0.15, 0.25),
    "atlantic": (0.35, 0.05, 0.2, 0.15, 0.2, 0.05),
    "central_europe": (0.0, 0.15, 0.45, 0.25, 0.0, 0.15),
    "balkans": (0.3, 0.15, 0.2, 0.1, 0.2, 0.05),
    "british_isles": (0.15, 0.15, 0.3, 0.25, 0.1, 0.05),
    "baltic": (0.25, 0.0, 0.35, 0.15, 0.1, 0.15),
}
_SEASON_MIX = {  # columns follow SEASONS
    "beach": (0.1, 0.8, 0.1, 0.0), "mountain": (0.1, 0.35, 0.1, 0.45),
    "city": (0.35, 0.15, 0.35, 0.15), "countryside": (0.35, 0.2, 0.4, 0.05),
    "island": (0.15, 0.7, 0.15, 0.0), "lake": (0.2, 0.6, 0.15, 0.05),
}
_REGION_PRICE = (3.0, 2.4, 3.1, 2.3, 2.5, 1.6, 2.6, 2.0)  # mean price level, by REGIONS
_TYPE_PRICE = (0.0, 0.2, 0.2, -0.3, 0.4, -0.1)  # added, by TYPES
_NAME_PARTS = {
    "alps": (("Ober", "Unter", "Hoch", "Gruen", "Stein", "Wald", "Schnee", "Kirch"),
             ("berg", "dorf", "tal", "horn", "see", "alm", "wang")),
    "mediterranean": (("Porto ", "San ", "Santa ", "Cala ", "Villa ", "Monte "),
                      ("rosa", "luce", "mare", "sole", "vento", "oliva", "marina")),
    "nordic": (("Bjorn", "Fjell", "Skog", "Lind", "Vik", "Ost", "Nord"),
               ("heim", "by", "fjord", "stad", "dal", "vik", "sund")),
    "atlantic": (("Ker", "Plou", "Lan", "Tre", "Pen", "Porth"),
                 ("mor", "gastel", "vern", "zance", "ven", "ec")),
    "central_europe": (("Neu", "Alt", "Gross", "Klein", "Rosen", "Linden", "Frei"),
                       ("burg", "stadt", "feld", "hausen", "au", "heim")),
    "balkans": (("Sveti ", "Novi ", "Stari ", "Bela ", "Zlat", "Kraj"),
                ("grad", "ovac", "ovo", "ica", "polje", "ina")),
    "british_isles": (("Ash", "Bright", "Kings", "Glen", "Hol", "Bran", "Wind"),
                      ("ford", "ton", "mouth", "bury", "wick", "more", "dale")),
    "baltic": (("Jur", "Pal", "Kur", "Sigu", "Venta", "Klai"),
               ("mala", "anga", "ciems", "lis", "peda", "nava")),
}
_NAME_FORMS = {
    "beach": ("{} Beach", "{} Bay"), "mountain": ("Mount {}", "{} Valley"),
    "city": ("{}", "Old {}"), "countryside": ("{} Hills", "{} Vale"),
    "island": ("Isle of {}", "{} Island"), "lake": ("Lake {}", "{} Lake"),
}
_TYPE_PHRASES = {
    "beach": "a beach resort with sandy shores and warm sea",
    "mountain": "a mountain village with high peaks and alpine trails",
    "city": "a lively city with old streets, squares and galleries",
    "countryside": "a countryside retreat among vineyards, farms and rolling hills",
    "island": "an island escape with quiet coves and clear water",
    "lake": "a lakeside town with calm water and shoreline walks",
}
_PRICE_WORDS = ("budget-friendly", "moderately priced", "upmarket", "luxury")


@dataclass(frozen=True)
class TourismData:
    """The three tables of one generated data set (see the module docstring)."""

    tourists: pd.DataFrame
    destinations: pd.DataFrame
    visits: pd.DataFrame


def make_tourism(n_tourists: int = 5000, n_destinations: int = 1000, n_visits: int = 100_000,
                 *, seed: int = 0, start: str = "2024-01-01", days: int = 730) -> TourismData:
    """Tourists, destinations and their visits, with the planted properties documented above.

    Same arguments -> identical frames. ``n_visits`` must be at least ``2 * n_tourists``
    because every tourist visits at least twice.
    """
    import numpy as np

    origin = _check_sizes(n_tourists, n_destinations, n_visits, days, start)
    rng = np.random.default_rng(seed)
    tourists = _tourists(n_tourists, rng)
    places = _destinations(n_destinations, rng)
    visits = _visits(tourists, places, n_visits, origin, days, rng)
    return TourismData(_tourist_frame(tourists), _destination_frame(places), visits)


def season_of(timestamps: Any) -> np.ndarray:
    """The meteorological season (northern hemisphere) of each timestamp, as in SEASONS.

    Shared by the generator and its tests so "the season of a visit" means one thing."""
    import numpy as np
    import pandas as pd

    month = pd.DatetimeIndex(timestamps).month.to_numpy()
    return np.asarray(SEASONS)[_season_index(month)]


def write_tourism(workspace: Any, data: TourismData, *,
                  prefix: str = "tourism") -> dict[str, str]:
    """Store the three tables as versioned datasets ``{prefix}-tourists``, ``-destinations``
    and ``-visits`` and return their refs, so a pipeline can name exactly what it trained on.

    ``workspace`` is a :class:`gapless.Workspace` (typed loosely: recsys sits below the
    workspace layer and must not import it)."""
    described = {
        "tourists": (data.tourists, None,
                     "Synthetic tourists: home region, age band, budget, hidden taste."),
        "destinations": (data.destinations, None,
                         "Synthetic destinations: region, type, price, season, tags, text."),
        "visits": (data.visits, "timestamp",
                   "Synthetic tourist visits with 1-5 ratings, ordered by time."),
    }
    refs = {}
    for table, (frame, time_column, description) in described.items():
        added = workspace.data.add(f"{prefix}-{table}", frame, time_column=time_column,
                                   description=description)
        refs[table] = added.version.ref
    return refs


# -- checks -------------------------------------------------------------------------------
def _check_sizes(n_tourists: Any, n_destinations: Any, n_visits: Any, days: Any,
                 start: Any) -> Any:
    """Reject bad sizes up front, naming the argument, before any work is done."""
    import pandas as pd

    for name, value in (("n_tourists", n_tourists), ("n_destinations", n_destinations),
                        ("n_visits", n_visits), ("days", days)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValidationError(f"make_tourism: {name} must be a positive integer, "
                                  f"got {value!r}")
    if n_visits < MIN_VISITS * n_tourists:
        raise ValidationError(
            f"make_tourism: n_visits must be at least {MIN_VISITS} * n_tourists "
            f"= {MIN_VISITS * n_tourists} (every tourist visits at least twice), "
            f"got {n_visits}")
    try:
        return pd.Timestamp(start)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"make_tourism: start must be a date such as '2024-01-01', "
                              f"got {start!r}") from exc


# -- tourists -----------------------------------------------------------------------------
def _tourists(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Index arrays per tourist; budget leans low for the young and high for the middle-aged."""
    import numpy as np

    age = rng.choice(len(AGE_BANDS), n, p=[0.12, 0.22, 0.2, 0.18, 0.16, 0.12])
    budget_p = np.array([[0.6, 0.32, 0.08], [0.35, 0.47, 0.18], [0.25, 0.5, 0.25],
                         [0.2, 0.5, 0.3], [0.25, 0.45, 0.3], [0.35, 0.45, 0.2]])
    budget = _draw_rows(budget_p, age, rng)
    return {
        "home": rng.choice(len(REGIONS), n, p=_HOME_SHARE),
        "age": age,
        "budget": budget,
        "taste": rng.integers(0, len(TASTES), n),
        "bias": rng.normal(0.0, 0.3, n),
        "activity": rng.lognormal(0.0, ACTIVITY_SIGMA, n),
    }


def _tourist_frame(t: dict[str, np.ndarray]) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    return pd.DataFrame({
        "user_id": _ids("T", len(t["home"]), 5),
        "home_region": np.asarray(REGIONS)[t["home"]],
        "age_band": np.asarray(AGE_BANDS)[t["age"]],
        "budget": np.asarray(BUDGETS)[t["budget"]],
        "taste": np.asarray(list(TASTES))[t["taste"]],
    })


# -- destinations -------------------------------------------------------------------------
def _destinations(n: int, rng: np.random.Generator) -> dict[str, Any]:
    """Attributes per destination, each drawn conditional on the ones before it."""
    import numpy as np

    region = rng.choice(len(REGIONS), n, p=_REGION_SHARE)
    kind = _draw_rows(np.asarray([_TYPE_MIX[r] for r in REGIONS]), region, rng)
    season = _draw_rows(np.asarray([_SEASON_MIX[k] for k in TYPES]), kind, rng)
    price_mean = np.asarray(_REGION_PRICE)[region] + np.asarray(_TYPE_PRICE)[kind]
    price = np.clip(np.rint(price_mean + rng.normal(0.0, 0.7, n)), 1, 4).astype(np.int64)
    tags = _draw_tags(region, kind, rng)
    n_cold = min(max(1, round(COLD_SHARE * n)), n - 1)
    order = rng.permutation(n)  # order[r] is the destination at rank r + 1
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(1, n + 1)
    popularity = np.where(rank <= n - n_cold, rank.astype(float) ** -ZIPF_EXPONENT, 0.0)
    return {"region": region, "type": kind, "season": season, "price": price, "tags": tags,
            "rank": rank, "popularity": popularity, "quality": rng.normal(0.0, 0.35, n),
            "name": _names(region, kind, rng)}


def _draw_tags(region: np.ndarray, kind: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A boolean destination x TAGS matrix with 3..6 tags per row, mostly from the type's
    and the region's vocabularies: weighted sampling without replacement by Gumbel top-k."""
    import numpy as np

    column = {tag: i for i, tag in enumerate(TAGS)}
    type_w = np.full((len(TYPES), len(TAGS)), 0.1)
    for k, name in enumerate(TYPES):
        type_w[k, [column[t] for t in TYPE_TAGS[name]]] = 6.0
    region_w = np.zeros((len(REGIONS), len(TAGS)))
    for r, name in enumerate(REGIONS):
        region_w[r, [column[t] for t in REGION_TAGS[name]]] = 3.0
    weight = type_w[kind] + region_w[region]
    keys = np.log(weight) + rng.gumbel(size=weight.shape)
    place = np.argsort(np.argsort(-keys, axis=1), axis=1)  # 0 = first tag drawn
    count = rng.integers(3, 7, len(kind))
    return place < count[:, None]


def _names(region: np.ndarray, kind: np.ndarray, rng: np.random.Generator) -> list[str]:
    """Regional syllables plus a type qualifier; a loop per destination is cheap enough."""
    u = rng.random((len(region), 3))
    names = []
    for (r, k, (a, b, c)) in zip(region, kind, u, strict=True):
        starts, ends = _NAME_PARTS[REGIONS[r]]
        head, tail = starts[int(a * len(starts))], ends[int(b * len(ends))]
        stem = head + (tail.capitalize() if head.endswith(" ") else tail)
        forms = _NAME_FORMS[TYPES[k]]
        names.append(forms[int(c * len(forms))].format(stem))
    return names


def _destination_frame(d: dict[str, Any]) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    tag_names = np.asarray(TAGS)
    tags = [" ".join(tag_names[row]) for row in d["tags"]]
    frame = pd.DataFrame({
        "item_id": _ids("D", len(d["region"]), 4),
        "name": d["name"],
        "region": np.asarray(REGIONS)[d["region"]],
        "type": np.asarray(TYPES)[d["type"]],
        "price_level": d["price"],
        "best_season": np.asarray(SEASONS)[d["season"]],
        "tags": tags,
    })
    frame["description"] = [_describe(*row) for row in zip(
        frame["name"], frame["type"], frame["region"], frame["price_level"],
        frame["best_season"], tags, strict=True)]
    frame["popularity_rank"] = d["rank"]
    return frame


def _describe(name: str, kind: str, region: str, price: int, season: str, tags: str) -> str:
    """Two sentences whose words repeat the structured columns, so text models see them."""
    words = [tag.replace("_", " ") for tag in tags.split()]
    listed = ", ".join(words[:-1]) + f" and {words[-1]}"
    return (f"{name} is {_TYPE_PHRASES[kind]} in the {region.replace('_', ' ')} region, "
            f"{_PRICE_WORDS[price - 1]} and at its best in {season}. "
            f"Visitors come for {listed}.")


# -- visits -------------------------------------------------------------------------------
def _visits(t: dict[str, np.ndarray], d: dict[str, Any], n_visits: int, origin: Any,
            days: int, rng: np.random.Generator) -> pd.DataFrame:
    """Who visits when (activity, streaks), then where (one vectorized draw per visit from
    the weight row of its cluster x budget x season x focus region), then the rating."""
    import numpy as np
    import pandas as pd

    user = _visit_owners(t["activity"], n_visits, rng)
    seconds = rng.integers(0, days * 86_400, n_visits)
    within = np.lexsort((seconds, user))  # per tourist, in time order
    user, seconds = user[within], seconds[within]
    when = origin + pd.to_timedelta(seconds, unit="s")
    season = _season_index(pd.DatetimeIndex(when).month.to_numpy())
    focus = _streak_focus(user, t["taste"], t["home"], rng)
    taste, budget = t["taste"][user], t["budget"][user]
    combo = ((taste * len(BUDGETS) + budget) * len(SEASONS) + season) * len(REGIONS) + focus
    flat = _flat_cdf(_choice_weights(d))
    item = _draw_flat(flat, len(d["region"]), combo, rng)
    item = _redraw_repeats(flat, len(d["region"]), combo, user, item, rng)
    rating = _ratings(t, d, user, item, taste, budget, season, rng)
    order = np.lexsort((np.arange(n_visits), user, seconds))
    return pd.DataFrame({
        "user_id": _ids("T", len(t["home"]), 5)[user[order]],
        "item_id": _ids("D", len(d["region"]), 4)[item[order]],
        "timestamp": when[order].astype("datetime64[s]"),
        "rating": rating[order],
    })


def _visit_owners(activity: np.ndarray, n_visits: int, rng: np.random.Generator) -> np.ndarray:
    """MIN_VISITS each, the rest spread by the heavy-tailed activity weights."""
    import numpy as np

    n = len(activity)
    extra = rng.multinomial(n_visits - MIN_VISITS * n, activity / activity.sum())
    return np.repeat(np.arange(n), extra + MIN_VISITS)


def _streak_focus(user: np.ndarray, taste: np.ndarray, home: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """The focus region of each visit's streak: visits are sorted by tourist and time, a
    streak starts at each tourist's first visit and then with chance STREAK_SWITCH."""
    import numpy as np

    first = np.r_[True, user[1:] != user[:-1]]
    starts = first | (rng.random(len(user)) < STREAK_SWITCH)
    streak = np.cumsum(starts) - 1
    owner = user[starts]
    liked = np.ones((len(TASTES), len(REGIONS)))
    for c, spec in enumerate(TASTES.values()):
        liked[c, [REGIONS.index(r) for r in spec["regions"]]] = 4.0
    region = _draw_rows(liked, taste[owner], rng)
    region = np.where(rng.random(len(owner)) < HOME_SHARE, home[owner], region)
    return region[streak]


def _choice_weights(d: dict[str, Any]) -> np.ndarray:
    """Destination weights for every (taste, budget, season, focus region), as one
    (combos x destinations) array: the product of the planted factors."""
    import numpy as np

    n = len(d["region"])
    affinity = np.empty((len(TASTES), n))
    for c, spec in enumerate(TASTES.values()):
        liked_type = np.isin(d["type"], [TYPES.index(k) for k in spec["types"]])
        liked_region = np.isin(d["region"], [REGIONS.index(r) for r in spec["regions"]])
        liked_tags = d["tags"][:, [TAGS.index(g) for g in spec["tags"]]].sum(axis=1)
        affinity[c] = (np.where(liked_type, TYPE_BOOST, 1.0)
                       * np.where(liked_region, REGION_BOOST, 1.0) * (1 + TAG_BOOST * liked_tags))
    budget = np.asarray(BUDGET_PRICE)[:, d["price"] - 1]
    season = np.where(d["season"] == np.arange(len(SEASONS))[:, None], SEASON_BOOST, 1.0)
    focus = np.where(d["region"] == np.arange(len(REGIONS))[:, None], FOCUS_BOOST, 1.0)
    weight = (d["popularity"] * affinity[:, None, None, None] * budget[None, :, None, None]
              * season[None, None, :, None] * focus[None, None, None, :])
    return weight.reshape(-1, n)


def _redraw_repeats(flat: np.ndarray, n_items: int, combo: np.ndarray, user: np.ndarray,
                    item: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Redraw a visit to a place the tourist has seen before, a few rounds, keeping the
    first visit: revisits stay rare, so a held-out last visit is usually a new place."""
    import pandas as pd

    item = item.copy()
    for _ in range(REDRAWS):
        again = pd.Series(user * n_items + item).duplicated().to_numpy()
        if not again.any():
            break
        item[again] = _draw_flat(flat, n_items, combo[again], rng)
    return item


def _ratings(t: dict[str, np.ndarray], d: dict[str, Any], user: np.ndarray, item: np.ndarray,
             taste: np.ndarray, budget: np.ndarray, season: np.ndarray,
             rng: np.random.Generator) -> np.ndarray:
    """1..5 stars: higher for the tourist's types and regions, in season, at a fitting price."""
    import numpy as np

    liked_type = np.zeros((len(TASTES), len(TYPES)), dtype=bool)
    liked_region = np.zeros((len(TASTES), len(REGIONS)), dtype=bool)
    for c, spec in enumerate(TASTES.values()):
        liked_type[c, [TYPES.index(k) for k in spec["types"]]] = True
        liked_region[c, [REGIONS.index(r) for r in spec["regions"]]] = True
    fits = np.abs(d["price"][item] - (1 + 1.5 * budget)) <= 1  # low~1, mid~2.5, high~4
    score = (2.7 + 1.0 * liked_type[taste, d["type"][item]]
             + 0.3 * liked_region[taste, d["region"][item]]
             + 0.3 * (d["season"][item] == season) + 0.3 * fits
             + d["quality"][item] + t["bias"][user] + rng.normal(0.0, 0.7, len(item)))
    return np.clip(np.rint(score), 1, 5).astype(np.int64)


# -- helpers ------------------------------------------------------------------------------
def _ids(prefix: str, n: int, width: int) -> np.ndarray:
    import numpy as np

    return np.asarray([f"{prefix}{i:0{width}d}" for i in range(1, n + 1)])


def _season_index(month: np.ndarray) -> np.ndarray:
    """Months to SEASONS positions: Mar-May spring, Jun-Aug summer, Sep-Nov autumn."""
    return ((month % 12) // 3 + 3) % 4


def _flat_cdf(weight: np.ndarray) -> np.ndarray:
    """Row-normalized CDFs laid end to end, row k shifted by k, for one searchsorted."""
    import numpy as np

    cdf = np.cumsum(weight, axis=1)
    cdf /= cdf[:, -1:]
    return (cdf + np.arange(len(cdf))[:, None]).ravel()


def _draw_flat(flat: np.ndarray, n_items: int, rows: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
    """One categorical draw per entry of ``rows`` from that row of a :func:`_flat_cdf`;
    a zero-weight item is never drawn (side="right" skips flat steps)."""
    import numpy as np

    u = rng.random(len(rows)) * (1 - 1e-9)
    return np.searchsorted(flat, rows + u, side="right") - rows * n_items


def _draw_rows(weight: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One categorical draw per entry of ``rows`` from that row of a table of weights."""
    return _draw_flat(_flat_cdf(weight), weight.shape[1], rows, rng)


__all__ = ["TASTES", "TourismData", "make_tourism", "season_of", "write_tourism"]
