"""Loops compiled to machine code (numba), for statistics that visit every bin of every feature.

A window's check runs a dozen steps over 20 features of up to 100 bins: as numpy calls, each
step costs a few microseconds of dispatch for well under a microsecond of arithmetic. Written as
one loop and compiled, the whole check costs about what two numpy calls do.

A function is compiled on its first call, and the machine code is kept on disk beside the module,
or in the user's cache directory where the package's is read-only (``NUMBA_CACHE_DIR`` chooses
another). Where neither can be written, each process compiles anew. The drift check's loops take
about 4 s to compile and 0.4 s to load from disk; the drift monitor readies them at start.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, cast

import numba

Function = TypeVar("Function", bound=Callable)


def compiled(function: Function) -> Function:
    """``function`` compiled on its first call; its arguments are numbers and numpy arrays."""
    try:
        dispatcher = numba.njit(cache=True)(function)
    except RuntimeError:  # no directory to keep the machine code in
        dispatcher = numba.njit(cache=False)(function)
    # called as the function is: the dispatcher compiles it for the arguments' types
    return cast(Function, dispatcher)
