"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.artifact import load_metadata, resolve_version_dir
from model.contract import ModelContract
from model.datasets import DataSplit, load_clean, split
from model.features import telco_contract
from model.messages import row_values
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


@pytest.fixture(scope="session")
def contract(data_split) -> ModelContract:
    """The Telco demo's contract, as training fits it on the reference."""
    return telco_contract(data_split.reference, range_margin_spans=1.0)


def telco_features(record: dict) -> dict:
    """A Telco frame record's features as the row messages carry them."""
    return row_values(TELCO_CONTRACT, record)


TELCO_CONTRACT = telco_contract(load_clean(), range_margin_spans=1.0)
