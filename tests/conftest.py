"""Command-line options of the test suite, and the engine tests' Dask cluster."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest


def pytest_addoption(parser) -> None:
    parser.addoption(
        "--random-dir", dest="random_dir", default=None,
        help="test_random_designs.py: compare the designs of a larger run in this "
             "directory (designs.json and R's random.json; see tests/reference/README.md)")


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A two-worker Dask LocalCluster (processes, one thread each) and its client,
    one per test module that asks for it (the engine tests)."""
    pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                           processes=True, dashboard_address=None)
        c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()
