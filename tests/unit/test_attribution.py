import numpy as np
import pytest

from model.artifact import load_model
from model.features import FEATURES
from monitors.attribution import LinearAttribution, RowSample, ndcg, source_feature


def test_linear_shap_matches_shap_linear_explainer(version_dir, data_split):
    import shap

    model = load_model(version_dir)
    background = data_split.reference.sample(300, random_state=1)
    ours = LinearAttribution(model, background, FEATURES)
    preprocess, classifier = model.named_steps["preprocess"], model.named_steps["classifier"]

    def dense(frame):
        matrix = preprocess.transform(frame[list(FEATURES)])
        return matrix.toarray() if hasattr(matrix, "toarray") else matrix

    explainer = shap.LinearExplainer(
        classifier, shap.maskers.Independent(dense(background), max_samples=len(background))
    )
    sample = data_split.test.head(40)
    reference = np.asarray(explainer.shap_values(dense(sample)))
    summed = np.zeros((len(sample), len(FEATURES)))
    for column, name in enumerate(preprocess.get_feature_names_out()):
        summed[:, FEATURES.index(source_feature(str(name), FEATURES))] += reference[:, column]
    np.testing.assert_allclose(ours.shap_values(sample), summed, atol=1e-9)


def test_ndcg_against_a_hand_computed_case():
    # relevance 3, 2, 1 ranked c, b, a: DCG = 1 + 2/log2(3) + 3/2; ideal = 3 + 2/log2(3) + 1/2
    expected = (1 + 2 / np.log2(3) + 3 / 2) / (3 + 2 / np.log2(3) + 1 / 2)
    assert ndcg({"a": 3, "b": 2, "c": 1}, ["c", "b", "a"]) == pytest.approx(expected)


def test_row_sample_is_bounded_uniform_and_merges_exactly():
    whole = RowSample(capacity=100)
    parts = [RowSample(capacity=100) for _ in range(3)]
    for index in range(10_000):
        whole.update(f"row-{index}", {"i": index})
        parts[index % 3].update(f"row-{index}", {"i": index})
    assert len(whole.rows) == 100
    values = np.array([row["i"] for row in whole.rows])
    assert 3500 < values.mean() < 6500  # drawn from the whole stream, not its start
    merged = parts[0].merge(parts[1]).merge(parts[2])
    assert merged.rows == whole.rows  # the sample of the union, whatever the split
    whole.update("row-5", {"i": 5})  # a replayed row is not sampled twice
    assert len(set(whole.keys)) == len(whole.keys) == 100
