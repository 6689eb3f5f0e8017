import json

import pytest
from pydantic import ValidationError

from model.messages import RowMessages
from scorer.validation import RowValidator
from shared.schemas import IssueCode
from shared.topics import RAW_ROWS, SCORED_ROWS
from shared.validation import issues_from_validation_error
from tests.conftest import TELCO_CONTRACT

# the row message as every service reads it: typed by the Telco contract
RAW = RowMessages.of(TELCO_CONTRACT).raw.message

VALID = {
    "event_id": "e1",
    "customer_id": "c1",
    "event_time": "2026-03-01T00:00:00Z",
    "label": 1,
    "features": {
        "gender": "Male", "SeniorCitizen": "0", "Partner": "Yes", "Dependents": "No",
        "tenure": 3, "PhoneService": "Yes", "MultipleLines": "No", "InternetService": "DSL",
        "OnlineSecurity": "No", "OnlineBackup": "No", "DeviceProtection": "No",
        "TechSupport": "No", "StreamingTV": "No", "StreamingMovies": "No",
        "Contract": "Month-to-month", "PaperlessBilling": "Yes",
        "PaymentMethod": "Electronic check", "MonthlyCharges": 29.5, "TotalCharges": 88.0,
    },
}  # fmt: skip


def decode_issues(payload):
    with pytest.raises(ValidationError) as caught:
        RAW.model_validate_json(payload)
    return [(i.field, i.code) for i in issues_from_validation_error(caught.value)]


def mutated(change):
    document = json.loads(json.dumps(VALID))
    change(document)
    return json.dumps(document)


def test_valid_row_decodes():
    row = RAW.model_validate_json(json.dumps(VALID))
    assert row.features["tenure"] == 3 and row.label == 1


@pytest.mark.parametrize(
    "change,expected",
    [
        (lambda d: d["features"].pop("tenure"), ("features.tenure", IssueCode.MISSING_FIELD)),
        (lambda d: d["features"].update(tenure="3"), ("features.tenure", IssueCode.WRONG_TYPE)),
        (lambda d: d["features"].update(MonthlyCharges="x"),
         ("features.MonthlyCharges", IssueCode.WRONG_TYPE)),
        (lambda d: d["features"].update(gender=None), ("features.gender", IssueCode.NULL)),
        (lambda d: d.update(label=2), ("label", IssueCode.OUT_OF_RANGE)),
        (lambda d: d.update(event_time="2026-03-01T00:00:00"),
         ("event_time", IssueCode.WRONG_TYPE)),
        (lambda d: d.pop("event_id"), ("event_id", IssueCode.MISSING_FIELD)),
    ],
)  # fmt: skip
def test_each_structural_fault_has_its_reason(change, expected):
    assert expected in decode_issues(mutated(change))


@pytest.mark.parametrize("payload", ['{"event_id": "e1"', "\xff\xfe", "", "{]"])
def test_malformed_json(payload):
    assert decode_issues(payload) == [("$", IssueCode.MALFORMED_JSON)]


def test_not_an_object_is_a_wrong_type():
    assert decode_issues("[1, 2]") == [("$", IssueCode.WRONG_TYPE)]


def test_row_validator_against_model_schema(metadata):
    validator = RowValidator(metadata.features)
    row = RAW.model_validate_json(json.dumps(VALID))
    assert validator.issues_of_values(row.features) == ()
    unseen = RAW.model_validate_json(mutated(lambda d: d["features"].update(Contract="Lifetime")))
    assert [(i.field, i.code) for i in validator.issues_of_values(unseen.features)] == [
        ("features.Contract", IssueCode.UNSEEN_CATEGORY)
    ]
    absurd = RAW.model_validate_json(mutated(lambda d: d["features"].update(tenure=10_000)))
    assert [(i.field, i.code) for i in validator.issues_of_values(absurd.features)] == [
        ("features.tenure", IssueCode.OUT_OF_RANGE)
    ]
    negative = RAW.model_validate_json(mutated(lambda d: d["features"].update(MonthlyCharges=-5.0)))
    assert validator.issues_of_values(negative.features)[0].code == IssueCode.OUT_OF_RANGE


def test_drifted_but_plausible_values_are_not_faults(metadata, data_split):
    # MonthlyCharges x1.2 is drift, not a schema fault: it must pass validation.
    spec = metadata.feature("MonthlyCharges")
    assert spec.valid_max >= data_split.reference["MonthlyCharges"].max() * 1.5


def test_topic_refuses_the_wrong_message_type():
    row = RAW.model_validate_json(json.dumps(VALID))
    assert RAW_ROWS.decode(RAW_ROWS.encode(row)) == row
    with pytest.raises(TypeError):
        SCORED_ROWS.encode(row)
