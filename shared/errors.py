"""Errors an operator fixes in the configuration, reported as one line naming the setting."""

from __future__ import annotations


class ConfigurationError(Exception):
    """A setting the service cannot run with; the message names it and says what to change.

    A restart does not help until the setting is fixed, so the service exits (code 2) with this
    one line rather than a traceback.
    """
