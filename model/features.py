"""The Telco demo's columns and its model contract (one instance of ``model.contract``)."""

from __future__ import annotations

import pandas as pd

from model.contract import Declaration, ModelContract

ID_COLUMN = "customerID"
LABEL_COLUMN = "Churn"

NUMERIC_FEATURES: tuple[str, ...] = ("tenure", "MonthlyCharges", "TotalCharges")

# The 19 model inputs in the CSV's column order.
FEATURES: tuple[str, ...] = (
    "gender",
    "SeniorCitizen",
    "Partner",
    "Dependents",
    "tenure",
    "PhoneService",
    "MultipleLines",
    "InternetService",
    "OnlineSecurity",
    "OnlineBackup",
    "DeviceProtection",
    "TechSupport",
    "StreamingTV",
    "StreamingMovies",
    "Contract",
    "PaperlessBilling",
    "PaymentMethod",
    "MonthlyCharges",
    "TotalCharges",
)

# SeniorCitizen is a categorical: a group attribute, not a quantity.
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(f for f in FEATURES if f not in NUMERIC_FEATURES)

# The attributes whose groups the model must serve alike.
SENSITIVE_ATTRIBUTES: tuple[str, ...] = ("gender", "SeniorCitizen", "Partner", "Dependents")

# The value of the cleaned label column (model.datasets.clean makes Churn 0/1) that is positive.
POSITIVE_LABEL = "1"


TELCO_DECLARATION = Declaration(
    label=LABEL_COLUMN, positive=POSITIVE_LABEL, sensitive=SENSITIVE_ATTRIBUTES, features=FEATURES,
    id_column=ID_COLUMN, name="telco-churn", categorical=CATEGORICAL_FEATURES,
)  # fmt: skip


def telco_contract(reference: pd.DataFrame, range_margin_spans: float) -> ModelContract:
    """The Telco demo's contract, fitted on the cleaned reference (``model.datasets``).

    >>> from model.datasets import load_clean
    >>> contract = telco_contract(load_clean(), range_margin_spans=1.0)
    >>> contract.numeric, contract.feature("tenure").integer, contract.sensitive[1]
    (('tenure', 'MonthlyCharges', 'TotalCharges'), True, 'SeniorCitizen')
    """
    return TELCO_DECLARATION.fit(reference, range_margin_spans)
