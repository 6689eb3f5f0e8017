from datetime import UTC, datetime

from scorer.service import LabelJoin
from shared.schemas import LabelEvent, LabelState, ScoredRow

NOW = datetime(2026, 3, 1, tzinfo=UTC)
FEATURES = dict(
    gender="Male", SeniorCitizen="0", Partner="Yes", Dependents="No", tenure=3,
    PhoneService="Yes", MultipleLines="No", InternetService="DSL", OnlineSecurity="No",
    OnlineBackup="No", DeviceProtection="No", TechSupport="No", StreamingTV="No",
    StreamingMovies="No", Contract="Month-to-month", PaperlessBilling="Yes",
    PaymentMethod="Electronic check", MonthlyCharges=29.5, TotalCharges=88.0,
)  # fmt: skip
RAW, LABELS = ("ns.rows.raw", 0), ("ns.labels", 0)


def prediction(event_id):
    return ScoredRow(
        event_time=NOW, event_id=event_id, customer_id="c", features=FEATURES, label=None,
        prediction=1, probability=0.7, model_version="v", label_state=LabelState.PENDING,
    )  # fmt: skip


def label(event_id, value=1):
    return LabelEvent(
        event_time=NOW, event_id=event_id, customer_id="c", label=value, row_event_time=NOW
    )


def test_label_after_prediction_joins_and_releases_the_offset():
    join = LabelJoin(capacity=10)
    assert join.add_prediction(prediction("a"), RAW, 5) is None
    assert join.add_prediction(prediction("b"), RAW, 6) is None
    assert join.held_offsets() == {RAW: 5} and join.pending == 2
    assert join.add_label(label("a"), LABELS, 100).event_id == "a"
    assert join.held_offsets() == {RAW: 6} and join.pending == 1


def test_label_before_its_row_waits_and_is_held():
    join = LabelJoin(capacity=10)
    assert join.add_label(label("a", 0), LABELS, 7) is None
    assert join.held_offsets() == {LABELS: 7}
    assert join.add_prediction(prediction("a"), RAW, 3).label == 0
    assert join.held_offsets() == {} and join.pending == 0


def test_labels_of_quarantined_rows_are_orphans_not_held():
    join = LabelJoin(capacity=10)
    join.note_quarantined("bad")
    assert join.add_label(label("bad"), LABELS, 1) is None
    assert join.orphaned == 1 and join.held_offsets() == {}
    join.add_label(label("later-bad"), LABELS, 2)
    join.note_quarantined("later-bad")  # its row turned out broken after its label came
    assert join.orphaned == 2 and join.held_offsets() == {}


def test_buffer_is_bounded_oldest_first():
    join = LabelJoin(capacity=3)
    for index in range(5):
        join.add_prediction(prediction(str(index)), RAW, index)
    assert join.pending == 3 and join.evicted == 2
    assert join.held_offsets() == {RAW: 2}
    assert join.add_label(label("0"), LABELS, 9) is None  # evicted: nothing to join


def test_a_rows_probability_does_not_depend_on_its_batch(version_dir, data_split):
    """A restarted scorer batches rows differently; the same row must get the same probability
    (unrounded, BLAS gives some rows results one ulp apart in batches of different sizes)."""
    import numpy as np

    from model.artifact import load_metadata, load_model
    from scorer.service import score_probabilities
    from shared.schemas import RawRow
    from tests.conftest import telco_features

    metadata = load_metadata(version_dir)
    model = load_model(version_dir, metadata)
    rows = []
    for index, record in enumerate(data_split.test.head(700).to_dict(orient="records")):
        rows.append(RawRow(event_time=NOW, event_id=str(index), customer_id="c",
                           features=telco_features(record)))  # fmt: skip
    names = metadata.contract.names
    whole = score_probabilities(model, rows, names)
    in_sevens = np.concatenate(
        [score_probabilities(model, rows[i : i + 7], names) for i in range(0, 700, 7)]
    )
    assert np.array_equal(whole, in_sevens)
