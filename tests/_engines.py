"""What the engine tests share (their Dask cluster is the ``client`` fixture
of conftest.py): one design built on each engine (pandas frames, DuckDB over
two Parquet files, Dask over shuffled rows in small partitions, so that PSUs,
cells and domains are split across them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import innobaro as ib
from innobaro.engines import EngineDesign, FrameSource, ReplicateEngineDesign


def engine_design(engine: str, frame: pd.DataFrame, tmp: Path, request: Any, *,
                  npartitions: int = 9, **kw: Any) -> Any:
    """The design of ``frame`` with ``kw`` (``ib.Design``'s arguments) on ``engine``:
    ``"pandas"``, ``"duckdb"`` or ``"dask"`` (which starts the module's cluster)."""
    if engine == "pandas":
        if "replicate_weights" in kw:
            return ReplicateEngineDesign(FrameSource(frame), **kw)
        return EngineDesign(FrameSource(frame), **kw)
    if engine == "duckdb":
        pytest.importorskip("duckdb")
        pytest.importorskip("pyarrow")
        half = len(frame) // 2
        frame.iloc[:half].to_parquet(tmp / "part-0.parquet")
        frame.iloc[half:].to_parquet(tmp / "part-1.parquet")
        return ib.Design.from_parquet(tmp, **kw)
    request.getfixturevalue("client")
    import dask.dataframe as dd

    # shuffled rows in small partitions: PSUs, cells and domains split across them
    return ib.Design.from_dask(dd.from_pandas(frame.sample(frac=1.0, random_state=1),
                                              npartitions=npartitions), split_every=3, **kw)
