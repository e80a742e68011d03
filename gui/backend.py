"""What the GUI asks of the engine, as plain functions run inside workers.

Imports of the engine happen inside the functions, on the worker thread, so that importing this
module costs nothing and loads no ML library.
"""
from __future__ import annotations

from pathlib import Path

from gui.results_model import ResultRow


def open_catalog(path: Path, demo: bool = False):
    """Generator: (for the demo, import or refresh it), load the indexes, warm the encoders; returns the engine."""
    from core.engine import Engine
    from core.catalog import Catalog
    from core.demo import ensure_demo_catalog
    from core.progress import Progress
    from core.spaces import default_spaces, spaces_for

    if demo:
        yield Progress(0, None, "Preparing the demo catalog…")
        report = yield from ensure_demo_catalog(path, default_spaces())
        if report.skipped:
            yield Progress(0, None, f"Demo import skipped {len(report.skipped)} rows")
    catalog = Catalog.open(path)
    spaces = spaces_for(catalog)
    engine = Engine(catalog, spaces)
    for message in engine.load_indexes():
        yield Progress(0, None, f"Index {message}")
    yield Progress(0, None, "Loading models…")
    for space in spaces:
        load = getattr(space.encoder, "load", None)  # lazy encoders: load the weights now, off the GUI thread
        if load:
            load()
    return engine


def run_search(engine, text: str, image_path: str | None, image_weight: float, k: int = 60) -> list[ResultRow]:
    from core.images import load_image
    from core.search import Query, search

    image = load_image(Path(image_path)).image if image_path else None
    hits = search(engine, Query(text=text, image=image, image_weight=image_weight, k=k))
    products = {p.pk: p for p in engine.catalog.products([h.pk for h in hits])}
    return [ResultRow(h.pk, products[h.pk].sku, products[h.pk].title, h.score, h.parts,
                      engine.catalog.thumbnail(h.pk)) for h in hits]
