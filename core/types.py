"""The types a face may name, re-exported from where they live: faces import core.service,
core.types and core.errors only (import-linter, pyproject.toml). Everything else a face meets
comes back from Lightfast's methods and is read by attribute. Only light homes are imported
at run time, so a face may import this at start-up (the cost command's option defaults); the
others are here for type checkers and annotations only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.cost import PRICES_AS_OF, Prices, Workload

if TYPE_CHECKING:
    from core.ingest import Progress, StoreReport
    from core.search import Hit, SearchResult
    from core.service import IngestReport, StatsReport
    from core.stats import QueryResult

