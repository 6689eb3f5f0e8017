"""The Telco feature set the model is trained on and the monitors watch."""

from __future__ import annotations

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
