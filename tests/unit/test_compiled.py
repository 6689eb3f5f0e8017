"""Compiled loops: kept on disk where they can be, compiled in each process where not."""

import numba
import numpy as np

from monitors.compiled import compiled


def _total(values):
    out = 0.0
    for value in values:
        out += value
    return out


def test_a_function_is_compiled_and_cached_on_disk():
    function = compiled(_total)
    assert function(np.arange(5.0)) == 10.0
    assert function._cache.__class__.__name__ == "FunctionCache"  # numba's on-disk cache


def test_without_a_directory_for_the_machine_code_it_compiles_in_each_process(monkeypatch):
    real = numba.njit

    def no_cache_directory(**options):
        if options.get("cache"):
            raise RuntimeError("cannot cache function: no locator available")
        return real(**options)

    monkeypatch.setattr(numba, "njit", no_cache_directory)
    function = compiled(_total)
    assert function(np.arange(5.0)) == 10.0
    assert function._cache.__class__.__name__ == "NullCache"
