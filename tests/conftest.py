"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.artifact import load_metadata, resolve_version_dir
from model.datasets import DataSplit, load_clean, split
from shared.policy import Policy, load_policy


@pytest.fixture(scope="session")
def policy() -> Policy:
    return load_policy()


@pytest.fixture(scope="session")
def clean_frame():
    return load_clean()


@pytest.fixture(scope="session")
def data_split(clean_frame) -> DataSplit:
    return split(clean_frame, seed=42)


@pytest.fixture(scope="session")
def artifacts_dir(tmp_path_factory, policy) -> Path:
    """A model trained once per test session, in a temporary directory."""
    from scorer.training import train

    directory = tmp_path_factory.mktemp("artifacts")
    train(directory, policy, seed=42)
    return directory


@pytest.fixture(scope="session")
def version_dir(artifacts_dir) -> Path:
    return resolve_version_dir(artifacts_dir)


@pytest.fixture(scope="session")
def metadata(version_dir):
    return load_metadata(version_dir)
