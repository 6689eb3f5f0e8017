"""Loading, cleaning and splitting the IBM Telco Customer Churn sample shipped with the package."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from model.features import CATEGORICAL_FEATURES, ID_COLUMN, LABEL_COLUMN, NUMERIC_FEATURES

DATASET_FILENAME = "telco-customer-churn.csv"


def dataset_path() -> Path:
    """Path of the Telco CSV inside the installed ``model`` package."""
    return Path(str(resources.files("model") / "data" / DATASET_FILENAME))


def load_raw(path: Path | None = None) -> pd.DataFrame:
    """Read the CSV exactly as shipped, every column as text."""
    return pd.read_csv(path or dataset_path(), dtype=str, keep_default_na=False)


def clean(raw: pd.DataFrame) -> pd.DataFrame:
    """Typed, model-ready frame.

    ``TotalCharges`` is blank for the 11 customers with ``tenure == 0``: they have not been billed
    yet, so the blank becomes 0.0 rather than a missing value. ``Churn`` becomes 0/1 and
    ``SeniorCitizen`` stays a category ("0"/"1") so it is monitored as a group attribute.

    Examples
    --------
    >>> frame = clean(load_raw())
    >>> len(frame), int(frame["Churn"].sum()), int(frame["TotalCharges"].isna().sum())
    (7043, 1869, 0)
    """
    frame = pd.DataFrame({ID_COLUMN: raw[ID_COLUMN].astype(str)})
    for column in CATEGORICAL_FEATURES:
        frame[column] = raw[column].astype(str).str.strip()
    total = raw["TotalCharges"].astype(str).str.strip()
    frame["tenure"] = pd.to_numeric(raw["tenure"], errors="raise").astype("int64")
    frame["MonthlyCharges"] = pd.to_numeric(raw["MonthlyCharges"], errors="raise").astype(float)
    frame["TotalCharges"] = pd.to_numeric(total.where(total != "", "0"), errors="raise").astype(
        float
    )
    churn = raw[LABEL_COLUMN].astype(str).str.strip()
    unknown = sorted(set(churn) - {"Yes", "No"})
    if unknown:
        raise ValueError(f"Churn must be Yes or No, found {unknown}")
    frame[LABEL_COLUMN] = (churn == "Yes").astype("int64")
    ordered = [ID_COLUMN, *CATEGORICAL_FEATURES, *NUMERIC_FEATURES, LABEL_COLUMN]
    return frame[ordered]


def load_clean(path: Path | None = None) -> pd.DataFrame:
    """The cleaned Telco frame."""
    return clean(load_raw(path))


@dataclass(frozen=True)
class DataSplit:
    """Disjoint partitions of the cleaned data.

    ``reference`` is the training data: the model is fit on it and the monitors compare production
    windows against it. ``test`` is held out for the performance baseline. ``production`` is the
    pool the producer streams from; the model never saw it.
    """

    reference: pd.DataFrame
    test: pd.DataFrame
    production: pd.DataFrame


def split(
    frame: pd.DataFrame, seed: int = 42, test_share: float = 0.2, production_share: float = 0.25
) -> DataSplit:
    """Seeded split stratified on the label.

    Examples
    --------
    >>> parts = split(load_clean(), seed=7)
    >>> len(parts.reference) + len(parts.test) + len(parts.production)
    7043
    """
    if not 0 < test_share < 1 or not 0 < production_share < 1 or test_share + production_share >= 1:
        raise ValueError("test_share and production_share must be in (0, 1) and sum below 1")
    rest, production = train_test_split(
        frame, test_size=production_share, stratify=frame[LABEL_COLUMN], random_state=seed
    )
    reference, test = train_test_split(
        rest,
        test_size=test_share / (1 - production_share),
        stratify=rest[LABEL_COLUMN],
        random_state=seed,
    )
    return DataSplit(
        reference=reference.reset_index(drop=True),
        test=test.reset_index(drop=True),
        production=production.reset_index(drop=True),
    )
