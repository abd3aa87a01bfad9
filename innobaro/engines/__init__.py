"""Engines: survey estimates over rows that stay in DuckDB or Dask.

Every estimator here reduces to grouped sums per (stratum, PSU[, domain])
followed by small arithmetic (:mod:`innobaro.engines.sums`, the seam); an
engine computes the sums where the rows are, and the one in-memory variance
engine does the rest. Designs are built by :meth:`innobaro.Design.from_parquet`,
:meth:`innobaro.Design.from_duckdb` and :meth:`innobaro.Design.from_dask`.
Neither ``duckdb`` nor ``dask`` is imported until such a design is built.
"""

from __future__ import annotations

from .core import EngineDesign, FrameSource, Source
from .glm import EngineGLMResult
from .replicate_glm import ReplicateGLMResult
from .replicates import ReplicateEngineDesign
from .sums import SumsSpec, combine_sums, reduce_frame

__all__ = ["EngineDesign", "EngineGLMResult", "FrameSource", "ReplicateEngineDesign",
           "ReplicateGLMResult", "Source", "SumsSpec", "combine_sums", "reduce_frame"]
