"""The category of each value of many text columns, with one text look-up per distinct object.

A text column as pandas holds it is an array of Python objects, and its rows repeat a few
objects: pandas' CSV reader and string methods and pydantic's JSON parser each hand out one
object per distinct text. A hash probe per row compares the row's text with the category's at
every probe (40-60 ns a row here), which at 16 columns of 1000 rows is most of a drift check.

An array of objects holds pointers to them, and while it holds them two equal pointers are the
same object. So the rows are grouped by pointer, as integers, and only the distinct objects are
looked up as text. Counting a window (``tally``) finds each column's distinct pointers and how
often each repeats in one compiled pass (a small hash table a column); a position for every row
(``positions``) factorises them. Where the objects are not few (a new object for each row), each
column is looked up row by row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from monitors.compiled import compiled

# Grouping by object pays while each distinct object stands, on average, for at least this many
# rows of a column: its look-up serves every column at once.
ROWS_PER_OBJECT = 4


class CategoryCodes:
    """The position of each value of several columns among the categories of its column.

    A value that is not text is looked up as its ``str``; -1 is a value none of its column's
    categories are.

    >>> codes = CategoryCodes([["No", "Yes"], ["0", "1"]])
    >>> codes.positions([["Yes", "No", "Maybe"], [1, 0, 1]], 3)
    array([[ 1,  0, -1],
           [ 1,  0,  1]])
    """

    def __init__(self, categories: Sequence[Sequence[str]]):
        self.columns = len(categories)
        self.texts = pd.Index(pd.unique(pd.Series([t for c in categories for t in c],
                                                  dtype=object)), dtype=object)  # fmt: skip
        # a row per text any column knows, a last row (all -1) for any other; a column per column
        self.table = np.full((len(self.texts) + 1, self.columns), -1, dtype=np.int64)
        self.most = max((len(texts) for texts in categories), default=0)
        for column, texts in enumerate(categories):
            self.table[self.texts.get_indexer(pd.Index(list(texts), dtype=object)), column] = (
                np.arange(len(texts))
            )
        self.by_column = np.ascontiguousarray(self.table.T)  # a column's positions, contiguous

    def positions(self, columns: Sequence, rows: int, absent: int = -2) -> np.ndarray:
        """Row ``j``: the positions of ``columns[j]``'s ``rows`` values, all ``absent`` for a
        column given as None."""
        positions = np.full((self.columns, rows), absent, dtype=np.int64)
        singles, held, arrays = self._split(columns)
        for j, found, codes in singles:
            positions[j] = found[codes]
        if held and rows:
            positions[held] = self._positions_by_object(arrays, held, rows)
        return positions

    def tally(self, columns: Sequence, rows: int) -> np.ndarray:
        """Row ``j``: how many of ``columns[j]``'s values are none of its categories (first),
        then how many are each category; all zero for a column given as None."""
        tally = np.zeros((self.columns, self.most + 1))
        singles, held, arrays = self._split(columns)
        for j, found, codes in singles:
            # rows per distinct value, then values per category (-1, none, counted first)
            per_value = np.bincount(codes, minlength=len(found))
            tally[j] = np.bincount(found + 1, weights=per_value, minlength=self.most + 1)
        if held and rows:
            tally[held] = self._tally_by_object(arrays, held, rows)
        return tally

    def _split(self, columns: Sequence) -> tuple[list, list[int], list[np.ndarray]]:
        """The columns given, as (those looked up per distinct value: their number, the
        position of each distinct value, each row's distinct value), and the numbers and arrays
        of those held as Python objects."""
        singles = []
        held: list[int] = []
        arrays: list[np.ndarray] = []
        for j, values in enumerate(columns):
            if isinstance(values, pd.Series):
                values = values.array
            objects = None if values is None else _objects(values)
            if objects is not None:
                held.append(j)
                arrays.append(objects)
            elif isinstance(values, pd.Categorical):
                # its rows are codes already: only its categories are looked up (a missing
                # value's code, -1, picks the last, which is none)
                texts = _texts(values.categories.to_numpy(dtype=object))
                found = np.append(self._in_column(texts, j), -1)
                singles.append((j, found, np.asarray(values.codes, dtype=np.intp) % len(found)))
            elif values is not None:  # numbers, flags, text kept outside Python objects
                codes, distinct = pd.factorize(values, use_na_sentinel=False)
                texts = _texts(np.asarray(distinct, dtype=object))
                singles.append((j, self._in_column(texts, j), codes))
        return singles, held, arrays

    def _in_column(self, texts: np.ndarray, column: int) -> np.ndarray:
        """Each text's position in one column's categories."""
        return self.by_column[column][positions_in(self.texts, texts)]

    def _of_texts(self, texts: np.ndarray) -> np.ndarray:
        """Row per text: its position in every column (-1 selects the last row, all -1)."""
        return self.table[positions_in(self.texts, texts)]

    def _positions_by_object(self, arrays: list[np.ndarray], held: list[int],
                             rows: int) -> np.ndarray:  # fmt: skip
        """Each row's position, the rows grouped by object with one factorisation."""
        pointers = _pointers(arrays)
        labels, distinct = pd.factorize(pointers.ravel())
        if len(distinct) * ROWS_PER_OBJECT > pointers.size:
            return self._positions_by_row(arrays, held)
        # a row of each distinct object: any row will do, so a plain scatter
        where = np.empty(len(distinct), dtype=np.intp)
        where[labels] = np.arange(len(labels))
        objects = np.empty(len(where), dtype=object)
        objects[:] = [arrays[at // rows][at % rows] for at in where.tolist()]
        # column j's row of ``found``: each distinct object's position in column j
        found = self._of_texts(_texts(objects))[:, held].T.ravel()
        stretch = np.arange(0, found.size, len(distinct))[:, None]
        return found[labels.reshape(len(arrays), rows) + stretch]

    def _tally_by_object(self, arrays: list[np.ndarray], held: list[int],
                         rows: int) -> np.ndarray:  # fmt: skip
        """Each column's counts, its rows grouped by object: no row needs a label of its own,
        so each distinct object is found once, with how many rows hold it."""
        width = self.most + 1
        pointers = _pointers(arrays)
        distinct, column, row, per_object = _distinct_per_row(
            pointers, pointers.size // ROWS_PER_OBJECT
        )
        if distinct < 0:
            found = self._positions_by_row(arrays, held) + 1
            slots = found + np.arange(0, len(held) * width, width)[:, None]
            counts = np.bincount(slots.ravel(), minlength=len(held) * width)
            return counts.reshape(len(held), width)
        column, row, per_object = column[:distinct], row[:distinct], per_object[:distinct]
        objects = np.empty(len(row), dtype=object)
        objects[:] = [arrays[c][r] for c, r in zip(column.tolist(), row.tolist(), strict=True)]
        found = self._of_texts(_texts(objects))[np.arange(len(row)), np.asarray(held)[column]]
        counts = np.bincount(found + 1 + column * width, weights=per_object,
                             minlength=len(held) * width)  # fmt: skip
        return counts.reshape(len(held), width)

    def _positions_by_row(self, arrays: list[np.ndarray], held: list[int]) -> np.ndarray:
        """Each row's text looked up on its own (for columns whose rows are distinct objects)."""
        return np.stack([self._in_column(_texts(array), j)
                         for j, array in zip(held, arrays, strict=True)])  # fmt: skip


@compiled
def _distinct_per_row(pointers: np.ndarray,
                      most: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Each distinct value of each row of ``pointers`` (none of them 0): how many were found
    (-1 when more than ``most``), then for each its row, the first place it holds in the row
    and how many places hold it.

    A hash table of open addressing, emptied after each row. Its keys are object addresses,
    whose lowest 4 bits are always 0 (objects are aligned to 16 bytes): a slot is chosen by the
    bits above them, with higher ones folded in."""
    rows, width = pointers.shape
    size = 16
    while size < 2 * min(width, most):  # at most half full
        size *= 2
    mask = size - 1
    keys = np.zeros(size, dtype=np.int64)  # 0: an empty slot
    tally = np.empty(size, dtype=np.int64)  # a slot's tally and first place: set when filled
    first = np.empty(size, dtype=np.int64)
    filled = np.empty(size, dtype=np.int64)  # the row's slots, in the order they were filled
    row_of = np.empty(most, dtype=np.int64)
    place = np.empty(most, dtype=np.int64)
    repeats = np.empty(most, dtype=np.int64)
    found = 0
    for r in range(rows):
        in_row = 0
        for i in range(width):
            pointer = pointers[r, i]
            slot = ((pointer >> 4) ^ (pointer >> 13)) & mask
            while keys[slot] != pointer:
                if keys[slot] == 0:
                    if found + in_row >= most:
                        return -1, row_of, place, repeats
                    keys[slot] = pointer
                    tally[slot] = 0
                    first[slot] = i
                    filled[in_row] = slot
                    in_row += 1
                    break
                slot = (slot + 1) & mask
            tally[slot] += 1
        for k in range(in_row):
            slot = filled[k]
            row_of[found] = r
            place[found] = first[slot]
            repeats[found] = tally[slot]
            found += 1
            keys[slot] = 0
    return found, row_of, place, repeats


def _pointers(arrays: list[np.ndarray]) -> np.ndarray:
    """Row per array of Python objects: the address of each of its objects (an array of
    objects exports its addresses as a buffer: they are joined with one copy)."""
    held = b"".join([np.ascontiguousarray(array).data for array in arrays])
    return np.frombuffer(held, dtype=np.intp).reshape(len(arrays), -1)


def positions_in(categories: pd.Index, texts: np.ndarray) -> np.ndarray:
    """The position of each text of an object array among ``categories``; -1 for none.

    Through the index's hash table directly where pandas has one: the public ``get_indexer``
    checks and converts its target first, which at 1000 rows costs as much again."""
    engine = getattr(categories, "_engine", None)
    if engine is None:  # a pandas without it: the public route
        return categories.get_indexer(pd.Index(texts, dtype=object)).astype(np.int64)
    return engine.get_indexer(texts).astype(np.int64, copy=False)


def _objects(values) -> np.ndarray | None:
    """The column as an array of Python objects where it is one already (not copied), else None
    (a list is made into one)."""
    if isinstance(values, pd.arrays.NumpyExtensionArray):
        values = values.to_numpy()  # its own array (pandas' Python-object strings among them)
    if isinstance(values, np.ndarray):
        return values if values.dtype == object else None
    if isinstance(values, pd.api.extensions.ExtensionArray):
        return None
    array = np.empty(len(values), dtype=object)
    array[:] = list(values)  # a list of tuples stays a list of objects, not a 2-d array
    return array


def _texts(objects: np.ndarray) -> np.ndarray:
    """Text objects as they are; anything else (numbers, flags, None, a mix) as its ``str``."""
    if pd.api.types.infer_dtype(objects, skipna=False) == "string":
        return objects
    texts = np.empty(len(objects), dtype=object)
    texts[:] = [str(value) for value in objects.tolist()]  # any object, a list among them
    return texts
