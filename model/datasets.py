"""The datasets: the IBM Telco Customer Churn sample shipped with the package (the demo's), the
arrests data inside scikit-lego's wheel, and any CSV or Parquet file; splitting any of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from model.contract import ContractError, Declaration, ModelContract
from model.features import (
    CATEGORICAL_FEATURES,
    ID_COLUMN,
    LABEL_COLUMN,
    NUMERIC_FEATURES,
    TELCO_DECLARATION,
)

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
    frame: pd.DataFrame,
    seed: int = 42,
    test_share: float = 0.2,
    production_share: float = 0.25,
    label: str = LABEL_COLUMN,
    positive: str | None = None,
    time_column: str | None = None,
) -> DataSplit:
    """Seeded split stratified on the ``label`` column (on whether it is ``positive``, when
    given). With a ``time_column`` the split follows time instead: the reference is the earliest
    rows, the held-out set the next, production the latest, as a model meets them.

    Examples
    --------
    >>> parts = split(load_clean(), seed=7)
    >>> len(parts.reference) + len(parts.test) + len(parts.production)
    7043
    """
    if not 0 < test_share < 1 or not 0 < production_share < 1 or test_share + production_share >= 1:
        raise ValueError("test_share and production_share must be in (0, 1) and sum below 1")
    if time_column is not None:
        ordered = frame.sort_values(time_column, kind="stable")
        rest, production = train_test_split(ordered, test_size=production_share, shuffle=False)
        reference, test = train_test_split(
            rest, test_size=test_share / (1 - production_share), shuffle=False
        )
    else:

        def classes(part: pd.DataFrame) -> pd.Series:
            column = part[label]
            return column if positive is None else column.astype(str).str.strip() == positive

        rest, production = train_test_split(
            frame, test_size=production_share, stratify=classes(frame), random_state=seed
        )
        reference, test = train_test_split(
            rest,
            test_size=test_share / (1 - production_share),
            stratify=classes(rest),
            random_state=seed,
        )
    return DataSplit(
        reference=reference.reset_index(drop=True),
        test=test.reset_index(drop=True),
        production=production.reset_index(drop=True),
    )


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or Parquet file as a frame (text columns as text, no value taken for missing)."""
    if not path.exists():
        raise ContractError(f"no such file: {path}")
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path, engine="fastparquet")
    if path.suffix.lower() in (".csv", ".txt", ".zip", ".gz"):
        return pd.read_csv(path)
    raise ContractError(f"{path}: a CSV or Parquet file is expected (.csv, .parquet)")


ARRESTS_SENSITIVE = ("colour", "sex")


def load_arrests() -> pd.DataFrame:
    """Toronto Star arrests for marijuana possession (5226 rows), as scikit-lego ships them inside
    its wheel: whether the arrested person was released with a summons (``released``; the
    built-in contract takes "No", held, as the positive outcome), with ``colour`` and ``sex`` as
    the sensitive attributes. Read from the installed package, never from the network.

    >>> frame = load_arrests()
    >>> len(frame), sorted(frame["colour"].unique()), int((frame["released"] == "Yes").sum())
    (5226, ['Black', 'White'], 4334)
    """
    return pd.read_csv(Path(str(resources.files("sklego") / "data" / "arrests.zip")))


def split_as_declared(raw: pd.DataFrame, declaration: Declaration, seed: int) -> DataSplit:
    """``raw`` split as ``split`` does, on the declaration's label, positive value and time."""
    return split(raw, seed, label=declaration.label, positive=declaration.positive,
                 time_column=declaration.time_column)  # fmt: skip


def prepared_split(
    raw: pd.DataFrame, declaration: Declaration, seed: int, range_margin_spans: float
) -> tuple[DataSplit, ModelContract]:
    """Split ``raw`` (as the data comes), fit the contract on its reference part, and prepare
    every part by it (label 0/1, the contract's columns only). A bad declaration is refused in
    one line before anything is split."""
    declaration.fit(raw, range_margin_spans)  # names the problem on the whole data first
    parts = split_as_declared(raw, declaration, seed)
    contract = declaration.fit(parts.reference, range_margin_spans)
    return DataSplit(
        contract.prepare(parts.reference), contract.prepare(parts.test),
        contract.prepare(parts.production),
    ), contract  # fmt: skip


@dataclass(frozen=True)
class BuiltinDataset:
    """A dataset trustwatch ships a declaration for: the frame as it comes, and what is what."""

    name: str
    description: str
    load: Callable[[], pd.DataFrame]
    declaration: Declaration
    scenario: str  # the built-in scenario its demo streams


BUILTIN_DATASETS: dict[str, BuiltinDataset] = {
    "telco-churn": BuiltinDataset(
        "telco-churn", "IBM Telco Customer Churn (the demo's default)", load_clean,
        TELCO_DECLARATION, "full",
    ),
    "arrests": BuiltinDataset(
        "arrests", "Toronto marijuana arrests, from scikit-lego's wheel", load_arrests,
        # positive: held rather than released with a summons, the outcome whose misses matter
        Declaration(label="released", positive="No", sensitive=ARRESTS_SENSITIVE,
                    name="arrests"),
        "arrests-full",
    ),
}  # fmt: skip


def builtin_dataset(name: str) -> BuiltinDataset:
    try:
        return BUILTIN_DATASETS[name]
    except KeyError:
        known = ", ".join(BUILTIN_DATASETS)
        raise ContractError(f"unknown dataset {name!r}; built-in datasets: {known}") from None


def production_pool(contract: ModelContract, seed: int) -> pd.DataFrame:
    """The rows a built-in dataset's model never saw (the split's production part, from the seed
    the model was trained with), prepared by the contract: what the producer streams by default.
    """
    dataset = builtin_dataset(contract.name)
    return contract.prepare(split_as_declared(dataset.load(), dataset.declaration, seed).production)
