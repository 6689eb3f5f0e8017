"""Breaking a row's payload the way upstream systems do (pure, seeded)."""

from __future__ import annotations

import json

import numpy as np

from model.features import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES
from producer.scenario import FaultKind

# Far above any payload size limit a consumer would sensibly set (the default is 16 KiB).
OVERSIZED_PADDING_BYTES = 64 * 1024


def corrupt(document: dict, fault: FaultKind, rng: np.random.Generator) -> bytes:
    """The JSON payload of ``document`` (a RawRow as a dict) with ``fault`` injected.

    Examples
    --------
    >>> doc = {"event_id": "e", "features": {"tenure": 3, "Contract": "One year"}}
    >>> corrupt(doc, FaultKind.MALFORMED_JSON, np.random.default_rng(0))[-1:] != b"}"
    True
    """
    broken = json.loads(json.dumps(document))
    features = broken["features"]
    if fault == FaultKind.MISSING_FIELD:
        del features[_pick(rng, [f for f in FEATURES if f in features])]
    elif fault == FaultKind.WRONG_TYPE:
        name = _pick(rng, [f for f in NUMERIC_FEATURES if f in features])
        features[name] = str(features[name])
    elif fault == FaultKind.NULL:
        features[_pick(rng, [f for f in FEATURES if f in features])] = None
    elif fault == FaultKind.UNSEEN_CATEGORY:
        features[_pick(rng, [f for f in CATEGORICAL_FEATURES if f in features])] = "Unknown"
    elif fault == FaultKind.OUT_OF_RANGE:
        name = _pick(rng, [f for f in NUMERIC_FEATURES if f in features])
        features[name] = -1 - abs(features[name]) if rng.random() < 0.5 else 10**7
    elif fault == FaultKind.MALFORMED_JSON:
        text = json.dumps(broken)
        return text[: len(text) // 2].encode()
    elif fault == FaultKind.OVERSIZED:
        broken["notes"] = "x" * OVERSIZED_PADDING_BYTES
    return json.dumps(broken).encode()


def _pick(rng: np.random.Generator, names: list[str]) -> str:
    return names[int(rng.integers(0, len(names)))]
