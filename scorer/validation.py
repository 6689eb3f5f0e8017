"""Checks a decoded row against the model's feature schema (pure).

Structure and types are checked when the message is decoded (see ``shared.validation``); this adds
what only the model knows: allowed categories and valid numeric ranges.
"""

from __future__ import annotations

import math

from shared.artifact import FeatureSpec
from shared.schemas import FieldIssue, IssueCode, TelcoFeatures


class RowValidator:
    """Validate features against the specs recorded in the model metadata.

    Examples
    --------
    >>> spec = FeatureSpec(name="tenure", kind="numeric", valid_min=0, valid_max=144)
    >>> RowValidator([spec]).issues_of_values({"tenure": -3})[0].code.value
    'OUT_OF_RANGE'
    """

    def __init__(self, specs: list[FeatureSpec] | tuple[FeatureSpec, ...]):
        self.specs = tuple(specs)
        self._categories = {s.name: frozenset(s.categories or ()) for s in specs}

    def issues(self, features: TelcoFeatures) -> tuple[FieldIssue, ...]:
        return self.issues_of_values(features.model_dump())

    def issues_of_values(self, values: dict[str, object]) -> tuple[FieldIssue, ...]:
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
            number = float(value)  # type: ignore[arg-type]  # decoded as int or float already
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
