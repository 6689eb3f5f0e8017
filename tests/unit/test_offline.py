"""The notebook monitors take labels as 0 and 1 in any form, and name bad input clearly."""

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics

from monitors.offline import FairnessMonitor, PerformanceMonitor

rng = np.random.default_rng(11)
LABELS = rng.integers(0, 2, 300)
SCORES = np.clip(LABELS * 0.3 + rng.uniform(0, 0.7, 300), 0, 1)


@pytest.mark.parametrize("as_given", [LABELS, LABELS.astype(float), LABELS.astype(bool),
                                      LABELS.astype(str), list(LABELS),
                                      pd.Series(LABELS, dtype="Int64")])  # fmt: skip
def test_labels_in_any_form_give_scikit_learns_metrics(as_given):
    result = PerformanceMonitor.fit(LABELS, SCORES).check(as_given, SCORES)
    predicted = (SCORES >= 0.5).astype(int)
    assert result.recall == pytest.approx(metrics.recall_score(LABELS, predicted))
    assert result.roc_auc == pytest.approx(metrics.roc_auc_score(LABELS, SCORES))
    assert result.brier == pytest.approx(metrics.brier_score_loss(LABELS, SCORES))


BAD_LABELS = [(2, "2"), (np.nan, "nan"), ("yes", "'yes'"), (-1, "-1"), (pd.NA, "<NA>")]


@pytest.mark.parametrize("bad,shown", BAD_LABELS)
def test_a_label_neither_0_nor_1_is_named_not_counted(bad, shown):
    labels = LABELS.astype(object)
    labels[7] = bad
    monitor = PerformanceMonitor.fit(LABELS, SCORES)
    with pytest.raises(ValueError, match=f"y_true must hold only 0 and 1: {shown} at position 7"):
        monitor.check(labels, SCORES)
    with pytest.raises(ValueError, match=f"y_pred must hold only 0 and 1: {shown} at position 7"):
        FairnessMonitor(["group"]).check(LABELS, labels, pd.DataFrame({"group": ["a"] * 300}))


def test_inputs_of_different_lengths_are_refused_with_their_lengths():
    with pytest.raises(ValueError, match="lengths differ: y_true 300, y_score 299"):
        PerformanceMonitor.fit(LABELS, SCORES[:-1])
    with pytest.raises(ValueError, match="y_true 300, y_pred 300, sensitive 299"):
        FairnessMonitor(["group"]).check(LABELS, LABELS, pd.DataFrame({"group": ["a"] * 299}))
