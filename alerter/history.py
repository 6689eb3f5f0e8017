"""The alerter's history: every signal, alert and decision in an embedded SQLite store.

Writes are idempotent (natural keys with INSERT OR REPLACE), so a signal replayed after a restart
does not duplicate a row. Rows older than the retention (in simulated time) are pruned.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from shared.schemas import (
    Alert,
    Decision,
    DriftSignal,
    FairnessSignal,
    PerformanceSignal,
    WindowSignal,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS signals (
    kind TEXT NOT NULL, window_start TEXT NOT NULL, provisional INTEGER NOT NULL,
    window_end TEXT NOT NULL, payload TEXT NOT NULL,
    PRIMARY KEY (kind, window_start, provisional)
);
CREATE TABLE IF NOT EXISTS alerts (
    key TEXT NOT NULL, status TEXT NOT NULL, window_start TEXT NOT NULL, severity TEXT NOT NULL,
    type TEXT NOT NULL, subject TEXT NOT NULL, explanation TEXT NOT NULL, payload TEXT NOT NULL,
    PRIMARY KEY (key, status, window_start, severity)
);
CREATE TABLE IF NOT EXISTS decisions (
    window_start TEXT PRIMARY KEY, action TEXT NOT NULL, reasons TEXT NOT NULL,
    payload TEXT NOT NULL
);
"""

KINDS: dict[type[WindowSignal], str] = {
    PerformanceSignal: "performance",
    DriftSignal: "drift",
    FairnessSignal: "fairness",
}
SignalT = TypeVar("SignalT", bound=WindowSignal)


class History:
    """Append-mostly store of what the alerter saw and said."""

    def __init__(self, path: Path, retention_days: float | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.retention = timedelta(days=retention_days) if retention_days else None
        self.connection = sqlite3.connect(self.path)
        self.connection.executescript(SCHEMA)

    def record(self, message: Alert | Decision | WindowSignal) -> None:
        if isinstance(message, Alert):
            self.connection.execute(
                "INSERT OR REPLACE INTO alerts VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (message.key, message.status.value, message.window_start.isoformat(),
                 message.severity.value, message.type.value, message.subject,
                 message.explanation, message.model_dump_json()),
            )  # fmt: skip
        elif isinstance(message, Decision):
            self.connection.execute(
                "INSERT OR REPLACE INTO decisions VALUES (?, ?, ?, ?)",
                (message.window_start.isoformat(), message.action.value,
                 ",".join(message.reasons), message.model_dump_json()),
            )  # fmt: skip
        else:
            kind = KINDS[type(message)]
            self.connection.execute(
                "INSERT OR REPLACE INTO signals VALUES (?, ?, ?, ?, ?)",
                (kind, message.window_start.isoformat(),
                 int(getattr(message, "provisional", False)),
                 message.window_end.isoformat(),
                 message.model_dump_json()),
            )  # fmt: skip
        self.connection.commit()

    def prune(self, now: datetime) -> int:
        """Drop what is older than the retention, in event time; return the rows removed."""
        if self.retention is None:
            return 0
        cutoff = (now - self.retention).isoformat()
        removed = 0
        for table in ("signals", "alerts", "decisions"):
            cursor = self.connection.execute(f"DELETE FROM {table} WHERE window_start < ?",  # noqa: S608
                                              (cutoff,))  # fmt: skip
            removed += cursor.rowcount
        self.connection.commit()
        return removed

    def signals(self, model: type[SignalT], provisional: bool = False) -> list[SignalT]:
        """The signals of one kind (``PerformanceSignal``, ...) in window order."""
        rows = self.connection.execute(
            "SELECT payload FROM signals WHERE kind = ? AND provisional = ? ORDER BY window_start",
            (KINDS[model], int(provisional)),
        )
        return [model.model_validate_json(payload) for (payload,) in rows]

    def alerts(self) -> list[Alert]:
        rows = self.connection.execute("SELECT payload FROM alerts ORDER BY window_start, key")
        return [Alert.model_validate_json(payload) for (payload,) in rows]

    def decisions(self) -> list[Decision]:
        rows = self.connection.execute("SELECT payload FROM decisions ORDER BY window_start")
        return [Decision.model_validate_json(payload) for (payload,) in rows]

    def close(self) -> None:
        self.connection.close()
