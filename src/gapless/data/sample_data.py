"""A seeded generator of a realistic loan-applications table for the demo and the tests.

Nothing is shipped as a file: :func:`make_loans` builds the table from a seed, so every
quirk below is planted on purpose, documented, and the same on every machine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gapless.core.errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd

REGIONS = ("north", "south", "east", "west", "central")
EMPLOYMENT = ("salaried", "self_employed", "retired", "student", "unemployed")
HOUSING = ("own", "mortgage", "rent", "with_parents")
PURPOSES = ("car", "debt_consolidation", "home_improvement", "education", "medical", "business")
NEW_PURPOSE = "green_energy"
CHANNELS = ("branch", "online", "broker")

# Planted rates, exported so tests and the demo can check against them.
INCOME_MISSING_BASE = 0.03
INCOME_MISSING_SELF_EMPLOYED = 0.35
INCOME_MISSING_UNDER_25 = 0.15
CREDIT_SCORE_MISSING_BASE = 0.02
CREDIT_SCORE_MISSING_BROKER = 0.20
DEBT_MISSING_RATE = 0.04
HOUSING_MISSING_RATE = 0.02
INCOME_SHIFT = 1.10  # second-half income multiplier
RATE_SHIFT = 1.5  # second-half interest-rate increase, percentage points
AGE_SENTINEL = 999


def make_loans(n_rows: int = 5000, *, seed: int = 0, start: str = "2024-01-01",
               periods_days: int = 365) -> pd.DataFrame:
    """A mixed-type table of loan applications with planted, documented data problems.

    One row per application, ordered by ``applied_at``; same ``seed`` -> identical frame.

    Columns:

    * ``application_id`` (int): 1..n, unique except for the planted duplicates.
    * ``customer_id`` (str, ``C00001``...): about one customer in five applies more than
      once; customer-level columns (region, employment, housing, age) repeat across their
      applications, so ffill/bfill per customer along time has something to use.
    * ``applied_at`` (datetime64): uniform over ``[start, start + periods_days)``.
    * ``region`` ({north, south, east, west, central}), ``employment`` ({salaried,
      self_employed, retired, student, unemployed}), ``housing`` ({own, mortgage, rent,
      with_parents}, tied to age), ``purpose`` ({car, debt_consolidation, home_improvement,
      education, medical, business}, plus ``green_energy`` later), ``channel`` ({branch,
      online, broker}).
    * ``age`` (int, years), ``income`` (float, yearly, log-normal by employment and age),
      ``loan_amount`` (float), ``term_months`` (int in 12..60), ``debt`` (float, existing
      debt, 0 for about 30%), ``credit_score`` (float, 300..850), ``interest_rate`` (float,
      percent, priced from credit score, term and time).
    * ``has_guarantor`` (bool).
    * ``defaulted`` (int 0/1, the target, about 10%): logistic in lower credit score, higher
      (debt + loan) / income, higher interest rate, unemployment, students, youth; lower
      with a guarantor. Drawn from the true values, before missingness and outliers.

    Planted quirks:

    * **MAR missingness** in ``income``: missing with probability 0.03, plus 0.35 for
      ``employment == "self_employed"``, plus 0.15 for ``age < 25``.
      ``credit_score``: 0.02, plus 0.20 when ``channel == "broker"``.
    * **MCAR missingness**: ``debt`` (4% of rows) and ``housing`` (2%) at random.
    * **Outliers** (``n = n_rows - n_rows // 200`` distinct applications): ``income``
      multiplied by 10 (a typed extra zero) in ``n // 300`` rows with income present;
      ``age`` set to the sentinel 999 in ``max(1, n // 1000)`` rows.
    * **Duplicates**: ``n_rows // 200`` rows are exact copies of another row (same
      ``application_id``), placed right after it: a double-submitted form.
    * **Shift along time**: from the midpoint ``start + periods_days / 2`` on, income is
      10% higher, interest rates are 1.5 points higher, the purpose ``green_energy``
      appears (about 12% of those applications) and never before; the share of ``online``
      applications rises steadily across the whole period (40% -> 65%).
    """
    import numpy as np
    import pandas as pd

    if not isinstance(n_rows, int) or n_rows < 50:
        raise ValidationError(f"make_loans: n_rows must be an integer >= 50, got {n_rows!r}")
    if not isinstance(periods_days, int) or periods_days < 2:
        raise ValidationError(f"make_loans: periods_days must be an integer >= 2, "
                              f"got {periods_days!r}")
    rng = np.random.default_rng(seed)
    n_dup = n_rows // 200
    n = n_rows - n_dup

    # -- customers: who applies ---------------------------------------------------------------
    n_cust = max(1, int(n / 1.25))
    employment_c = rng.choice(EMPLOYMENT, n_cust, p=[0.60, 0.16, 0.12, 0.07, 0.05])
    age_c = np.clip(rng.normal(40, 11, n_cust), 21, 66)
    age_c = np.where(employment_c == "student", rng.uniform(18, 27, n_cust), age_c)
    age_c = np.where(employment_c == "retired", rng.uniform(60, 86, n_cust), age_c)
    age_c = age_c.astype(int)
    region_c = rng.choice(REGIONS, n_cust, p=[0.25, 0.25, 0.2, 0.2, 0.1])
    young = age_c < 28
    housing_c = np.where(
        young, rng.choice(HOUSING, n_cust, p=[0.05, 0.15, 0.5, 0.3]),
        rng.choice(HOUSING, n_cust, p=[0.35, 0.35, 0.27, 0.03]))
    log_income = {"salaried": np.log(48_000), "self_employed": np.log(52_000),
                  "retired": np.log(28_000), "student": np.log(9_000),
                  "unemployed": np.log(12_000)}
    income_c = np.exp(np.vectorize(log_income.get)(employment_c)
                      + 0.012 * (np.minimum(age_c, 52) - 38)
                      + rng.normal(0, np.where(employment_c == "self_employed", 0.7, 0.4)))
    score_c = (680 + 1.5 * (np.minimum(age_c, 70) - 40) - 60 * (employment_c == "unemployed")
               + 20 * (housing_c == "own") + rng.normal(0, 55, n_cust))

    # -- applications ---------------------------------------------------------------------
    customer = np.concatenate([np.arange(n_cust), rng.integers(0, n_cust, n - n_cust)])
    rng.shuffle(customer)
    offsets = np.sort(rng.uniform(0, periods_days, n))
    late = offsets >= periods_days / 2
    progress = offsets / periods_days
    emp = employment_c[customer]
    age = age_c[customer]
    purpose = rng.choice(PURPOSES, n, p=[0.25, 0.3, 0.18, 0.08, 0.07, 0.12])
    purpose = np.where((emp == "self_employed") & (rng.random(n) < 0.3), "business", purpose)
    purpose = np.where(late & (rng.random(n) < 0.12), NEW_PURPOSE, purpose)
    online = rng.random(n) < 0.40 + 0.25 * progress
    channel = np.where(online, "online", rng.choice(["branch", "broker"], n, p=[0.6, 0.4]))
    income = income_c[customer] * rng.lognormal(0, 0.05, n) * np.where(late, INCOME_SHIFT, 1.0)
    multiplier = {"car": 1.0, "debt_consolidation": 0.9, "home_improvement": 1.3,
                  "education": 0.6, "medical": 0.4, "business": 1.5, NEW_PURPOSE: 1.2}
    loan = income * np.vectorize(multiplier.get)(purpose) * rng.lognormal(np.log(0.25), 0.5, n)
    loan = np.maximum(500, np.round(loan, -2))
    term = rng.choice([12, 24, 36, 48, 60], n, p=[0.1, 0.2, 0.35, 0.15, 0.2])
    debt = np.where(rng.random(n) < 0.3, 0.0, income * rng.lognormal(np.log(0.3), 0.8, n))
    score = np.clip(np.round(score_c[customer] + rng.normal(0, 10, n)), 300, 850)
    rate = (4.0 + (720 - score) / 40 + 0.02 * term + RATE_SHIFT * late
            + rng.normal(0, 0.8, n))
    rate = np.round(np.clip(rate, 2.0, 30.0), 2)
    guarantor = rng.random(n) < np.where(emp == "student", 0.35, 0.12)
    burden = np.minimum((debt + loan) / income, 5.0)
    logit = (-2.3 - 0.012 * (score - 680) + 0.7 * (burden - 0.8) + 0.12 * (rate - 8)
             + 1.0 * (emp == "unemployed") + 0.4 * (emp == "student")
             - 0.7 * guarantor - 0.01 * (age - 40))
    defaulted = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)

    frame = pd.DataFrame({
        "application_id": np.arange(1, n + 1, dtype=np.int64),
        "customer_id": np.char.add("C", np.char.zfill((customer + 1).astype(str), 5)),
        "applied_at": pd.Timestamp(start) + pd.to_timedelta(offsets * 86_400, unit="s"),
        "region": region_c[customer],
        "employment": emp,
        "housing": housing_c[customer].astype(object),
        "age": age.astype(np.int64),
        "income": np.round(income, 2),
        "purpose": purpose,
        "channel": channel,
        "loan_amount": loan,
        "term_months": term.astype(np.int64),
        "debt": np.round(debt, 2),
        "credit_score": score,
        "interest_rate": rate,
        "has_guarantor": guarantor,
        "defaulted": defaulted,
    })
    frame["applied_at"] = frame["applied_at"].dt.floor("s")

    # -- planted problems ---------------------------------------------------------------------
    p_income = (INCOME_MISSING_BASE + INCOME_MISSING_SELF_EMPLOYED * (emp == "self_employed")
                + INCOME_MISSING_UNDER_25 * (age < 25))
    frame.loc[rng.random(n) < p_income, "income"] = np.nan
    p_score = CREDIT_SCORE_MISSING_BASE + CREDIT_SCORE_MISSING_BROKER * (channel == "broker")
    frame.loc[rng.random(n) < p_score, "credit_score"] = np.nan
    frame.loc[rng.random(n) < DEBT_MISSING_RATE, "debt"] = np.nan
    frame.loc[rng.random(n) < HOUSING_MISSING_RATE, "housing"] = None
    present = np.flatnonzero(frame["income"].notna().to_numpy())
    typo = rng.choice(present, n // 300, replace=False)
    frame.loc[typo, "income"] = frame.loc[typo, "income"] * 10
    frame.loc[rng.choice(n, max(1, n // 1000), replace=False), "age"] = AGE_SENTINEL

    copies = np.sort(rng.choice(n, n_dup, replace=False))
    order = np.sort(np.concatenate([np.arange(n), copies]), kind="stable")
    return frame.iloc[order].reset_index(drop=True)


LATE_BASE = 0.05  # chance a repayment is late
LATE_BEFORE_DEFAULT = 0.40  # ... in the LATE_LEAD_DAYS before an application that defaulted
LATE_LEAD_DAYS = 120


def make_repayments(loans: pd.DataFrame, *, seed: int = 0, every_days: float = 30.0,
                    history_days: int = 180) -> pd.DataFrame:
    """The loan applicants' repayments on their other credit lines, one row per payment:
    a time-varying source for feature views (``customer_id``, ``paid_at``, ``amount``,
    ``days_late``, ``late`` 0/1), ordered by ``paid_at``.

    Each customer pays about every ``every_days`` days, from ``history_days`` before their
    first application to the last application in ``loans``. Payments are late with chance
    :data:`LATE_BASE`, and :data:`LATE_BEFORE_DEFAULT` in the :data:`LATE_LEAD_DAYS`
    before an application of theirs that defaulted: trouble shows in the repayments
    before the default, so only features taken as of each application (a point-in-time
    join) carry the signal honestly."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    applied = loans[["customer_id", "applied_at", "defaulted"]].dropna(
        subset=["customer_id", "applied_at"])
    applied = applied.assign(applied_at=applied["applied_at"].astype("datetime64[ns]"))
    end = applied["applied_at"].max()
    first = applied.groupby("customer_id", sort=True)["applied_at"].min() - pd.Timedelta(
        days=history_days)
    span = (end - first).dt.total_seconds().to_numpy()
    counts = np.maximum(1, (span / (every_days * 86_400)).astype(np.int64))
    owner = np.repeat(np.arange(len(first)), counts)
    offsets = rng.uniform(0.0, 1.0, len(owner)) * span[owner]
    payments = pd.DataFrame({
        "customer_id": first.index.to_numpy()[owner],
        "paid_at": (first.to_numpy()[owner] + pd.to_timedelta(offsets, unit="s")).floor("s"),
    }).sort_values("paid_at", kind="stable").reset_index(drop=True)
    # The next defaulted application of the same customer, if any, at or after each payment.
    defaults = applied.loc[applied["defaulted"] == 1, ["customer_id", "applied_at"]]
    ahead = pd.merge_asof(payments, defaults.sort_values("applied_at"), left_on="paid_at",
                          right_on="applied_at", by="customer_id", direction="forward")
    troubled = (ahead["applied_at"] - ahead["paid_at"] <= pd.Timedelta(
        days=LATE_LEAD_DAYS)).to_numpy()
    n = len(payments)
    late = rng.random(n) < np.where(troubled, LATE_BEFORE_DEFAULT, LATE_BASE)
    return payments.assign(
        amount=np.round(rng.gamma(3.0, 120.0, n), 2),
        days_late=np.where(late, rng.integers(3, 60, n), 0).astype(np.int64),
        late=late.astype(np.int64))


__all__ = ["make_loans", "make_repayments"]
