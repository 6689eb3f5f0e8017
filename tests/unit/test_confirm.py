from datetime import UTC, datetime, timedelta

from monitors.confirm import SeverityConfirmer
from shared.schemas import DriftSeverity, FeatureDrift

H, M, L, N = DriftSeverity.HIGH, DriftSeverity.MEDIUM, DriftSeverity.LOW, DriftSeverity.NONE
DAY0 = datetime(2026, 3, 1, tzinfo=UTC)
STREAM = {"MonthlyCharges": [N, H, H, N, H, N, N, M, M, N],
          "tenure": [M, N, M, M, H, H, L, N, N, N]}  # fmt: skip


def drift(feature, severity):
    return FeatureDrift(feature=feature, psi=0.0, statistic=0.0, p_value=1.0, importance_share=0.1,
                        significant=severity != N, severity=severity)  # fmt: skip


def confirmed(confirmer, windows):
    return [
        {f: confirmer.level(f, STREAM[f][w], DAY0 + timedelta(days=w)) for f in STREAM}
        for w in windows
    ]


def test_a_replayed_window_changes_nothing():
    once, twice = SeverityConfirmer(3, 2), SeverityConfirmer(3, 2)
    expected = confirmed(once, range(6))
    confirmed(twice, range(4))
    confirmed(twice, [3])  # window 3 again, as after a crash between publishing and committing
    assert confirmed(twice, [4, 5]) == expected[4:]
    # by hand, 2 of the last 3: tenure M, N, M, M, H, H reads LOW (one MEDIUM so far), NONE,
    # MEDIUM, MEDIUM, MEDIUM (one HIGH), HIGH
    assert [e["tenure"] for e in expected] == [L, N, M, M, M, H]
