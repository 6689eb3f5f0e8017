"""Breaking a row's payload the way upstream systems do (pure, seeded)."""

from __future__ import annotations

import json

import numpy as np

from model.contract import ModelContract
from producer.scenario import FaultKind

# Far above any payload size limit a consumer would sensibly set (the default is 16 KiB).
OVERSIZED_PADDING_BYTES = 64 * 1024


def corrupt(
    document: dict, fault: FaultKind, rng: np.random.Generator, contract: ModelContract
) -> bytes:
    """The JSON payload of ``document`` (a RawRow as a dict) with ``fault`` injected into one of
    the contract's features (a type or range fault into a numeric one, an unseen category into a
    categorical; a contract without that kind of feature gets the fault on any feature).

    Examples
    --------
    >>> from model.contract import FeatureSpec
    >>> contract = ModelContract(name="m", label="y", positive="1",
    ...                          features=(FeatureSpec(name="tenure", kind="numeric"),))
    >>> doc = {"event_id": "e", "features": {"tenure": 3}}
    >>> corrupt(doc, FaultKind.MALFORMED_JSON, np.random.default_rng(0), contract)[-1:] != b"}"
    True
    """
    broken = json.loads(json.dumps(document))
    features = broken["features"]
    every = [f for f in contract.names if f in features]
    numeric = [f for f in contract.numeric if f in features] or every
    categorical = [f for f in contract.categorical if f in features] or every
    if fault == FaultKind.MISSING_FIELD:
        del features[_pick(rng, every)]
    elif fault == FaultKind.WRONG_TYPE:
        name = _pick(rng, numeric)
        features[name] = str(features[name]) if name in contract.numeric else 1
    elif fault == FaultKind.NULL:
        features[_pick(rng, every)] = None
    elif fault == FaultKind.UNSEEN_CATEGORY:
        name = _pick(rng, categorical)
        features[name] = "Unknown" if name in contract.categorical else -1
    elif fault == FaultKind.OUT_OF_RANGE:
        name = _pick(rng, numeric)
        features[name] = -1 - abs(features[name]) if rng.random() < 0.5 else 10**7
    elif fault == FaultKind.MALFORMED_JSON:
        text = json.dumps(broken)
        return text[: len(text) // 2].encode()
    elif fault == FaultKind.OVERSIZED:
        broken["notes"] = "x" * OVERSIZED_PADDING_BYTES
    return json.dumps(broken).encode()


def _pick(rng: np.random.Generator, names: list[str]) -> str:
    return names[int(rng.integers(0, len(names)))]
