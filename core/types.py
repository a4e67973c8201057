"""The types a face may name, re-exported from where they live: faces import core.service,
core.types and core.errors only (import-linter, pyproject.toml). Everything else a face meets
comes back from Lightfast's methods and is read by attribute. Only light homes are imported
at run time, so a face may import this at start-up (the cost command's option defaults); the
others are here for type checkers and annotations only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

# `X as X`: an explicit re-export (PEP 484), for ruff and type checkers alike.
from core.cost import PRICES_AS_OF as PRICES_AS_OF
from core.cost import Prices as Prices
from core.cost import Workload as Workload

if TYPE_CHECKING:
    from core.ingest import Progress as Progress
    from core.ingest import StoreReport as StoreReport
    from core.search import Hit as Hit
    from core.search import SearchResult as SearchResult
    from core.service import IngestReport as IngestReport
    from core.service import StatsReport as StatsReport
    from core.stats import QueryResult as QueryResult
