"""The bin of each number among fixed sorted edges, without a binary search per value.

``np.searchsorted`` finds each value's bin by a binary search whose branches the processor
cannot predict: at a hundred edges and 1000 values it costs about 60 ns a value once other work
has run in between. A grid of equal cells over the edges' range tells, for each cell, how many
edges lie below it and which few edges may lie inside it; a value's bin is then the cell's count
plus a comparison with each of those few edges, free of branches, in one compiled loop
(``monitors.compiled``) for all the features' values.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import numpy as np

from monitors.compiled import compiled

# cells per edge: more cells leave fewer edges to compare in each
CELLS_PER_EDGE = 32
# a cell whose neighbourhood holds more edges than this (edges crowded into a small part of a
# wide range) makes the comparisons cost more than the search: the search is used instead
MOST_CANDIDATES = 3


class EdgeGrid:
    """``bins(values)`` is ``np.searchsorted(edges, values, side="right")``, computed on a grid.

    >>> edges = np.array([1.0, 2.0, 2.5, 10.0])
    >>> values = np.array([-3.0, 1.0, 2.2, 2.5, 9.99, 10.0, 1e9, np.nan])
    >>> EdgeGrid(edges).bins(values).tolist()
    [0, 1, 2, 3, 3, 4, 4, 4]
    >>> np.searchsorted(edges, values, side="right").tolist()
    [0, 1, 2, 3, 3, 4, 4, 4]
    """

    def __init__(self, edges: np.ndarray):
        self.edges = np.asarray(edges, dtype=float)
        self.candidates = np.empty((0, 0))
        self.below = np.empty(0, dtype=np.intp)
        if len(self.edges) < 2 or not self.edges[-1] > self.edges[0]:
            return  # one edge or none: the search is as cheap
        cells = CELLS_PER_EDGE * len(self.edges)
        self.low = float(self.edges[0])
        self.scale = cells / (float(self.edges[-1]) - self.low)
        # A value computed to lie in a cell lies, after rounding, well within a cell's width of
        # it: every edge below the cell's lower bound less a width is below the value, every
        # edge above its upper bound plus a width is above, and the few between are compared.
        lower = self.low + (np.arange(cells) - 1) / self.scale
        upper = self.low + (np.arange(cells) + 2) / self.scale
        below = np.searchsorted(self.edges, lower, side="right")
        within = np.searchsorted(self.edges, upper, side="right") - below
        most = int(within.max())
        if most > MOST_CANDIDATES:
            return
        # padding compares false with every value, infinity included
        padded = np.concatenate([self.edges, np.full(most, np.nan)])
        self.below = below
        self.candidates = np.stack([padded[below + k] for k in range(most)])

    def bins(self, values: np.ndarray) -> np.ndarray:
        """Number of edges at or below each value (NaN above all, as the search sorts it)."""
        return self._alone.bins(np.asarray(values, dtype=float)[None, :])[0]

    @cached_property
    def _alone(self) -> EdgeGrids:
        return EdgeGrids([self])


class EdgeGrids:
    """Several features' grids binned together: row ``k`` of ``bins(values)`` is
    ``np.searchsorted(grids[k].edges, values[k], side="right")``, in one compiled loop over
    every row (a call per feature costs more than the binning at a few thousand values). A
    single grid bins through one of these too."""

    def __init__(self, grids: Sequence[EdgeGrid]):
        self.grids = tuple(grids)
        self.gridded = [k for k, grid in enumerate(self.grids) if len(grid.below)]
        self.searched = [k for k, grid in enumerate(self.grids) if not len(grid.below)]
        on = [self.grids[k] for k in self.gridded]
        if not on:
            return
        # every grid's cells laid end to end; row k's cells start at ``start[k]``
        sizes = [len(grid.below) for grid in on]
        self.start = np.cumsum([0, *sizes[:-1]]).astype(np.int64)
        self.low = np.array([grid.low for grid in on])
        self.scale = np.array([grid.scale for grid in on])
        self.last_cell = np.array(sizes, dtype=float) - 1
        self.edge_count = np.array([len(grid.edges) for grid in on], dtype=np.int64)
        self.below = np.concatenate([grid.below for grid in on]).astype(np.int64)
        most = max(len(grid.candidates) for grid in on)
        self.candidates = np.full((most, len(self.below)), np.nan)  # padding compares false
        for grid, start, size in zip(on, self.start, sizes, strict=True):
            self.candidates[: len(grid.candidates), start : start + size] = grid.candidates

    def bins(self, values: np.ndarray) -> np.ndarray:
        """Row ``k``: the number of row ``k``'s edges at or below each of ``values[k]``."""
        counted = np.empty(values.shape, dtype=np.intp)
        for k in self.searched:
            counted[k] = np.searchsorted(self.grids[k].edges, values[k], side="right")
        if not self.gridded:
            return counted
        counted[self.gridded] = _binned_on_grids(
            np.ascontiguousarray(values[self.gridded], dtype=float), self.low, self.scale,
            self.last_cell, self.start, self.below, self.candidates, self.edge_count,
        )  # fmt: skip
        return counted


@compiled
def _binned_on_grids(values: np.ndarray, low: np.ndarray, scale: np.ndarray,
                     last_cell: np.ndarray, start: np.ndarray, below: np.ndarray,
                     candidates: np.ndarray, edge_count: np.ndarray) -> np.ndarray:  # fmt: skip
    """Row ``k``: the bin of each of ``values[k]`` on grid ``k`` (its cells start at
    ``start[k]`` of ``below`` and ``candidates``)."""
    grids, count = values.shape
    found = np.empty((grids, count), dtype=np.int64)
    for k in range(grids):
        for i in range(count):
            value = values[k, i]
            if value != value:  # NaN: above every edge, as the search sorts it
                found[k, i] = edge_count[k]
                continue
            cell = start[k] + int(min(max((value - low[k]) * scale[k], 0.0), last_cell[k]))
            bin_ = below[cell]
            for candidate in range(candidates.shape[0]):
                bin_ += value >= candidates[candidate, cell]  # padding (NaN) is never
            found[k, i] = bin_
    return found
