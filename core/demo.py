"""The bundled demo catalog: imported from resources/demo on first use, then just opened."""
from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

from core.catalog import Catalog
from core.ingest import ColumnMapping, ImportOptions, ImportReport, import_catalog
from core.progress import Progress
from core.spaces import Space

DEMO_SOURCE = Path(__file__).resolve().parents[1] / "resources" / "demo" / "products.csv"
DEMO_MAPPING = ColumnMapping(id="id", title="title", brand="brand", price="price", rating="rating", image="image",
                             categories=("gender", "masterCategory", "subCategory", "articleType", "baseColour",
                                         "season", "usage"))


def ensure_demo_catalog(path: Path, spaces: list[Space]) -> Generator[Progress, None, ImportReport]:
    """Create or refresh the demo catalog at ``path`` (incremental: unchanged products cost nothing)."""
    catalog = Catalog.open(path, create=True)
    try:
        return (yield from import_catalog(catalog, DEMO_SOURCE, DEMO_MAPPING, spaces, ImportOptions()))
    finally:
        catalog.close()
