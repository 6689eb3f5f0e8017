"""Child processes that never outlive their parent (pure standard library, Linux-aware)."""

from __future__ import annotations

import signal
import sys


def _libc_prctl():
    if sys.platform != "linux":
        return None
    import ctypes

    return ctypes.CDLL(None, use_errno=True).prctl


_PRCTL = _libc_prctl()  # looked up here: the child, between fork and exec, only calls it
_PR_SET_PDEATHSIG = 1


def stop_with_parent() -> None:
    """``preexec_fn`` for ``subprocess.Popen``: in the child, before it runs, ask Linux to send it
    SIGTERM when its parent dies, however the parent dies (even SIGKILL), so that no service or
    broker is left running. Elsewhere the parent's own cleanup is all there is. Linux ties this
    to the thread that started the child: start children from a thread that lives as long as
    they should (the main thread, in every caller here)."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
