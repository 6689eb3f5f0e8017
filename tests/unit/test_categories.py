"""The category look-up of many text columns against a value-by-value dictionary look-up."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitors.categories import ROWS_PER_OBJECT, CategoryCodes, _distinct_per_row

CATEGORIES = [["No", "Yes"], ["DSL", "Fiber optic", "No"], ["0", "1"], ["Month-to-month"]]
TEXTS = ["No", "Yes", "DSL", "Fiber optic", "0", "1", "Month-to-month", "Maybe", ""]
# the rows a column holds one object only before the others appear
HEAD_ROWS = 32


def _by_value(values, categories: list[str]) -> list[int]:
    """What the look-up must give: each value's ``str`` in a dictionary of the categories."""
    lookup = {text: at for at, text in enumerate(categories)}
    return [lookup.get(str(value), -1) for value in values]


def _fresh(text: str) -> str:
    """An equal text that is another object (as a JSON parser without a cache would hand out)."""
    return "".join(["", text]) if len(text) > 1 else text  # one-character texts are shared


column_kinds = st.sampled_from(["shared objects", "fresh objects", "objects after the head",
                                "numbers", "with None", "categorical", "string dtype",
                                "python list", "absent", "every other row"])  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(kinds=st.lists(column_kinds, min_size=4, max_size=4),
       rows=st.sampled_from([0, 1, 7, 40, 300]), seed=st.integers(0, 2**16))  # fmt: skip
def test_positions_and_tally_equal_a_value_by_value_lookup(kinds, rows, seed):
    """Columns held every way a frame or a message batch holds them: rows repeating a few text
    objects (grouped by object), a new object per row (looked up row by row), an object first
    met after a column's first rows, numbers, None, pandas categoricals and strings, lists,
    absent columns and a view of every other row. Every row's position and every column's
    counts are those of a dictionary."""
    rng = np.random.default_rng(seed)
    codes = CategoryCodes(CATEGORIES)
    columns: list = []
    for kind in kinds:
        texts = [TEXTS[i] for i in rng.integers(0, len(TEXTS), rows)]
        if kind == "fresh objects":
            texts = [_fresh(text) for text in texts]
        elif kind == "objects after the head":
            texts = ["No"] * min(rows, HEAD_ROWS) + texts[HEAD_ROWS:]
        elif kind == "numbers":
            texts = [int(i) for i in rng.integers(0, 3, rows)]
        elif kind == "with None":
            texts = [None if i % 3 == 0 else text for i, text in enumerate(texts)]
        elif kind == "every other row":  # a view of every other row: not contiguous
            spaced = np.empty(2 * rows, dtype=object)
            spaced[::2] = texts
            columns.append(spaced[::2])
            continue
        columns.append({
            "categorical": pd.Categorical(texts),
            "string dtype": pd.array(texts, dtype="string"),
            "python list": list(texts),
            "absent": None,
        }.get(kind, np.array(texts, dtype=object)))  # fmt: skip
    expected = np.array([_by_value(values, categories) if values is not None else [-2] * rows
                         for values, categories in zip(columns, CATEGORIES, strict=True)],
                        dtype=np.int64).reshape(len(columns), rows)  # fmt: skip
    np.testing.assert_array_equal(codes.positions(columns, rows), expected)
    tally = codes.tally(columns, rows)
    for j, values in enumerate(columns):
        counted = np.zeros(codes.most + 1)
        if values is not None:
            counted = np.bincount(expected[j] + 1, minlength=codes.most + 1)
        np.testing.assert_array_equal(tally[j], counted, err_msg=kinds[j])


def test_rows_of_a_few_objects_are_looked_up_once_each(monkeypatch):
    """The grouping is what the look-up rests on: with rows repeating two objects only those two
    texts are looked up; with a new object per row every row is."""
    import monitors.categories as categories

    looked_up: list[int] = []
    real = categories.positions_in

    def counted(index, texts):
        looked_up.append(len(texts))
        return real(index, texts)

    monkeypatch.setattr(categories, "positions_in", counted)
    codes = CategoryCodes(CATEGORIES[:1])
    rows = 4 * ROWS_PER_OBJECT * 10
    repeated = np.array(["Yes", "No"] * (rows // 2), dtype=object)
    assert codes.tally([repeated], rows)[0].tolist() == [0, rows // 2, rows // 2]
    assert looked_up == [2]
    looked_up.clear()
    fresh = np.array([_fresh(text) for text in repeated], dtype=object)
    assert codes.tally([fresh], rows)[0].tolist() == [0, rows // 2, rows // 2]
    assert looked_up == [rows]


def test_a_column_of_unhashable_values_is_looked_up_as_text():
    codes = CategoryCodes([["[1]", "No"]])
    values = np.empty(3, dtype=object)
    values[:] = [[1], "No", {"a": 1}]
    assert codes.positions([values], 3).tolist() == [[0, 1, -1]]


@pytest.mark.parametrize("rows", [0, 5])
def test_no_column_given(rows):
    codes = CategoryCodes(CATEGORIES)
    assert (codes.positions([None] * 4, rows) == -2).all()
    assert not codes.tally([None] * 4, rows).any()


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**16), width=st.sampled_from([1, 5, 64, 1000]),
       kinds=st.integers(1, 40))  # fmt: skip
def test_distinct_pointers_are_those_numpy_finds(seed, width, kinds):
    """The hash table finds each row's distinct values, their first place and their count as
    numpy's ``unique`` does, also for values that fall in the same slot: aligned as objects
    are, spaced by the table's size or by one slot (so they probe past each other)."""
    rng = np.random.default_rng(seed)
    spacing = int(rng.choice([16, 16 * 2048, 16 * 8192, 16 << 13]))
    values = 0x7F0000000000 + spacing * np.arange(1, kinds + 1, dtype=np.int64)
    pointers = values[rng.integers(0, kinds, (3, width))]
    most = 3 * width
    found, row, place, repeats = _distinct_per_row(pointers, most)
    assert found >= 0
    got = sorted(zip(row[:found].tolist(), place[:found].tolist(), repeats[:found].tolist(),
                     strict=True))  # fmt: skip
    expected = []
    for r, line in enumerate(pointers):
        _, first, counts = np.unique(line, return_index=True, return_counts=True)
        expected += [(r, int(f), int(c)) for f, c in zip(first, counts, strict=True)]
    assert got == sorted(expected)
    distinct = sum(len(np.unique(line)) for line in pointers)
    assert _distinct_per_row(pointers, distinct)[0] == distinct
    assert _distinct_per_row(pointers, distinct - 1)[0] == -1
