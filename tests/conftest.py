"""Command-line options of the test suite."""

from __future__ import annotations


def pytest_addoption(parser) -> None:
    parser.addoption(
        "--random-dir", dest="random_dir", default=None,
        help="test_random_designs.py: compare the designs of a larger run in this "
             "directory (designs.json and R's random.json; see tests/reference/README.md)")
