"""Checks a decoded row against the model contract's features (pure).

Structure and types are checked when the message is decoded (see ``shared.validation``); this adds
what only the model knows: allowed categories and valid numeric ranges.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from model.contract import FeatureSpec
from shared.schemas import FieldIssue, IssueCode


class RowValidator:
    """Validate features against the specs of the model contract.

    Examples
    --------
    >>> spec = FeatureSpec(name="tenure", kind="numeric", valid_min=0, valid_max=144)
    >>> RowValidator([spec]).issues_of_values({"tenure": -3})[0].code.value
    'OUT_OF_RANGE'
    """

    def __init__(self, specs: list[FeatureSpec] | tuple[FeatureSpec, ...]):
        self.specs = tuple(specs)
        self._categories = {s.name: frozenset(s.categories or ()) for s in specs}

    def suspects(self, frame: pd.DataFrame) -> np.ndarray:
        """Rows of a batch that may have an issue: a category not allowed, a number outside its
        range, or one too large for a float. Vectorised; the rows it flags get their reasons
        from :meth:`issues`.

        >>> spec = FeatureSpec(name="tenure", kind="numeric", valid_min=0, valid_max=144)
        >>> RowValidator([spec]).suspects(pd.DataFrame({"tenure": [3, -3, 10**400]})).tolist()
        [False, True, True]
        """
        suspect = np.zeros(len(frame), dtype=bool)
        for spec in self.specs:
            column = frame[spec.name]
            if spec.kind == "categorical":
                suspect |= ~column.isin(self._categories[spec.name]).to_numpy()
                continue
            try:
                numbers = column.to_numpy(dtype=float)
            except (OverflowError, TypeError, ValueError):  # an integer beyond any float
                numbers = np.array([_as_float(v) for v in column], dtype=float)
            low = spec.valid_min if spec.valid_min is not None else -math.inf
            high = spec.valid_max if spec.valid_max is not None else math.inf
            with np.errstate(invalid="ignore"):
                suspect |= ~((numbers >= low) & (numbers <= high))  # NaN fails both
        return suspect

    def issues_of_values(self, values: Mapping[str, object]) -> tuple[FieldIssue, ...]:
        found = []
        for spec in self.specs:
            value = values.get(spec.name)
            field = f"features.{spec.name}"
            if spec.kind == "categorical":
                if value not in self._categories[spec.name]:
                    allowed = ", ".join(sorted(self._categories[spec.name]))
                    found.append(
                        FieldIssue(
                            field=field,
                            code=IssueCode.UNSEEN_CATEGORY,
                            detail=f"{value!r} is not one of: {allowed}",
                        )
                    )
                continue
            number = _as_float(value)
            low = spec.valid_min if spec.valid_min is not None else -math.inf
            high = spec.valid_max if spec.valid_max is not None else math.inf
            if not math.isfinite(number) or not low <= number <= high:
                found.append(
                    FieldIssue(
                        field=field,
                        code=IssueCode.OUT_OF_RANGE,
                        detail=f"{value} is outside the valid range [{low:g}, {high:g}]",
                    )
                )
        return tuple(found)


def _as_float(value: object) -> float:
    """A decoded int or float as a float; NaN for an integer too large for one, or for what is
    not a number at all (out of range either way)."""
    if not isinstance(value, int | float):
        return math.nan
    try:
        return float(value)
    except OverflowError:
        return math.nan
