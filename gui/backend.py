"""What the GUI asks of the engine, as plain functions run inside workers.

Imports of the engine happen inside the functions, on the worker thread, so that importing this
module costs nothing and loads no ML library. All of them run on one single-thread pool (see
``main_window``), so the catalog, the indexes and the models are never used from two threads.
"""
from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from gui import plural
from gui.filters_panel import FilterState
from gui.insights_panel import THUMB_SIDE
from gui.query_panel import QueryState
from gui.results_model import NoResults, NotedResults, ResultRow


def open_catalog(path: Path, demo: bool = False):
    """Generator: (for the demo, import or refresh it), load the indexes; returns the engine (its encoders load
    afterwards, ``load_models``)."""
    from core.catalog import Catalog
    from core.demo import ensure_demo_catalog
    from core.engine import Engine
    from core.progress import Progress
    from core.spaces import default_spaces, spaces_for

    if demo:
        yield Progress(0, None, "Preparing the demo catalog…")
        report = yield from ensure_demo_catalog(path, default_spaces())
        if report.skipped:
            yield Progress(0, None, f"Demo import skipped {len(report.skipped)} rows")
    catalog = Catalog.open(path)
    with _warnings_of("core.spaces") as notes:  # the command line prints them; the window shows them
        spaces = spaces_for(catalog)
    engine = Engine(catalog, spaces)
    engine.notes = notes
    with _warnings_of("core.engine") as index_notes:  # e.g. an index that could not be saved
        for message in engine.load_indexes():
            yield Progress(0, None, f"Index {message}")
    notes += index_notes
    return engine  # its models load next (``load_models``), with the catalog open meanwhile


def load_models(engine, *, emit, cancelled) -> None:
    """The lazy encoders' weights, loaded once the catalog is open and before any search (the window runs this
    first on its one pool, so a search typed meanwhile waits behind it). Opening waited for them: 3 s of the
    H&M catalog's 6, most of it importing transformers for MiniLM. A model that cannot be loaded is said by the
    search that needs it (said here too, it came twice)."""
    import logging

    from core.errors import EncoderError
    from core.progress import Progress

    emit(Progress(0, None, "Loading models…"))
    for space in engine.spaces.values():
        if cancelled():
            return
        load = getattr(space.encoder, "load", None)
        if load:
            try:
                load()
            except EncoderError as exc:
                if not cancelled():  # the window closed meanwhile: an import cut short by the shutdown, not a fault
                    logging.getLogger(__name__).warning("%s", exc)


@contextmanager
def _warnings_of(logger: str):
    """The messages of the warnings ``logger`` logs meanwhile (this thread's), in the list it yields."""
    import logging
    import threading

    notes: list[str] = []
    thread = threading.get_ident()

    class Keep(logging.Handler):
        def emit(self, record):
            if record.thread == thread:
                notes.append(record.getMessage())

    handler = Keep(logging.WARNING)
    log = logging.getLogger(logger)
    log.addHandler(handler)
    try:
        yield notes
    finally:
        log.removeHandler(handler)


_decoded: OrderedDict = OrderedDict()  # (path, size, mtime) -> a photo decoded lately (the query's, the result's)
_decoded_lock = threading.Lock()
KEEP_DECODED = 2


def _image(path: str | None):
    """The photo at ``path``, decoded once per file version: each search, explanation and category guess of one
    query decoded the query photo again (1.8 s each for a 7000 px JPEG). A copy, so no caller changes the kept one."""
    if not path:
        return None
    from core.images import load_image

    try:
        stat = Path(path).stat()
        key = (path, stat.st_size, stat.st_mtime_ns)
    except OSError:
        return load_image(Path(path)).image  # it says what is wrong with the path
    with _decoded_lock:
        image = _decoded.get(key)
        if image is not None:
            _decoded.move_to_end(key)
            return image.copy()
    image = load_image(Path(path)).image
    with _decoded_lock:
        _decoded[key] = image
        while len(_decoded) > KEEP_DECODED:
            _decoded.popitem(last=False)
    return image.copy()


def rows_for(engine, hits) -> list[ResultRow]:
    products = {p.pk: p for p in engine.catalog.products([h.pk for h in hits])}
    return [ResultRow(h.pk, products[h.pk].sku, products[h.pk].title, h.score, h.parts,
                      engine.catalog.thumbnail(h.pk)) for h in hits if h.pk in products]


def run_search(engine, query: QueryState, filters: FilterState = FilterState(), k: int = 200) -> list[ResultRow]:
    from core.progress import drain
    from core.search import Filters, Query, search, unread_text

    engine.catalog.check_file()  # not searched through this connection: a file no longer there (or another's)
    if engine.changed_since_loaded():  # another process imported or re-indexed meanwhile: its products searched
        drain(engine.load_indexes())
    if not len(engine.catalog):  # not "loosen the filters": there is nothing to find yet
        return NoResults("This catalog has no products yet: File > Import Products… adds them.")
    if filters.price_min is not None and filters.price_max is not None and filters.price_min > filters.price_max:
        # said where the results are, not in a box that took the focus from a price half typed ("1" of "100")
        return NoResults(f"No results: the price range is empty ({filters.price_min:g} to {filters.price_max:g}). "
                         "Raise “Price up to”, or lower “Price from”, in the Filters tab.")
    categories = dict(filters.categories)
    if query.same_category:
        from core.catalog import field_label
        from core.zero_shot import category_field

        name = category_field(engine)
        chosen = categories.get(name)
        if chosen is not None and query.same_category not in chosen:  # both must hold (it replaced the Filters tab's)
            label = field_label(name)
            return NoResults(f"No results: “Only this category” asks for {query.same_category}, the Filters tab for "
                             f"{label} {', '.join(chosen)}, and no product is both. Uncheck “Only this category”, "
                             f"or set {label} to “—” in the Filters tab.")
        categories[name] = (query.same_category,)
    q = Query(text=query.text, image=_image(query.image_path), like=query.like, unlike=query.unlike,
              image_weight=query.image_weight, k=k, min_score=filters.min_score,
              filters=Filters(categories, filters.price_min, filters.price_max, filters.rating_min, filters.pks))
    rows = rows_for(engine, search(engine, q))
    if unread_text(engine, q):  # emoji alone: what was found is nearest an empty text, said beside the count
        from core.search import UNREAD_NOTE

        return NotedResults(rows, UNREAD_NOTE)
    return rows


def browse_cluster(engine, clustering, label: int, filters: FilterState = FilterState(),
                   k: int = 200) -> list[ResultRow]:
    """A cluster's products that pass the filters, the most typical first (the results when there is no query)."""
    from core.insights import typical_members
    from core.search import Filters, allowed_pks

    catalog = engine.catalog
    allowed = allowed_pks(catalog, Filters(filters.categories, filters.price_min, filters.price_max,
                                           filters.rating_min))
    ranked = typical_members(catalog, clustering, label, allowed)[:k]
    products = {p.pk: p for p in catalog.products([pk for pk, _ in ranked])}
    return [ResultRow(pk, products[pk].sku, products[pk].title, score, {}, catalog.thumbnail(pk),
                      why=f"typical of the cluster: {score:.3f} (cosine to its centre)")
            for pk, score in ranked if pk in products]


_goes_with: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # catalog -> core.complements.GoesWith


CLI_TO_MENU = (("`vitrina goes-with CATALOG --train`", 'File > Learn "Goes with"'),
               ("run `vitrina index`", "use File > Re-index"),
               ("`vitrina index`", "File > Re-index"))


def in_window_words(message: str) -> str:
    """A core message with the window's menu paths in place of the commands it names for the command line."""
    for command, menu in CLI_TO_MENU:
        message = message.replace(command, menu)
    return message


def goes_with(engine, pk: int, k: int = 30) -> tuple[list[ResultRow], str]:
    """Complements of ``pk``: its co-purchases, then the learned complement model's picks (if trained).

    Returns the rows and a note: why the model's picks are missing when it could not be used (no
    content vectors yet, a model learned on other vectors, an unreadable file), "" otherwise. The
    model and its evidence are kept per catalog until the model file or the catalog changes.
    """
    from core.complements import GoesWith, badge, recommend, why
    from core.errors import AppError
    from core.search import Hit

    service = _goes_with.get(engine.catalog)
    if service is None:
        service = _goes_with[engine.catalog] = GoesWith(engine.catalog)
    note = ""
    try:
        recs = service.recommend(pk, k)
    except AppError as exc:  # fall back to the pairs alone, and say why (with the window's words for commands)
        note = f"Goes with: known co-purchases only. {in_window_words(str(exc))}"
    except Exception as exc:  # noqa: BLE001  (e.g. vectors of a product added since: re-index)
        note = f"Goes with: known co-purchases only; the learned model could not be applied ({exc!r}). " \
               "Re-index the catalog."
    if note:
        recs = recommend(engine.catalog, None, pk, k)
    elif service.model is None:  # nothing learned yet: say what would fill the list
        note = (NO_PAIRS_NOTE if not engine.catalog.has_copurchases() else
                "Goes with: known co-purchases only. File > Learn \"Goes with\" from Co-purchases also finds "
                "complements for products that have none.")
    rows = {row.pk: row for row in rows_for(engine, [Hit(r.pk, r.score, r.evidence) for r in recs])}
    return [replace(rows[r.pk], badge=badge(r), why=why(r)) for r in recs if r.pk in rows], note


IMPORT_PAIRS = "import them with the products (File > Import Products…, Co-purchase pairs)."
NO_PAIRS_NOTE = f"Goes with: this catalog has no co-purchase pairs; {IMPORT_PAIRS}"
NOTHING_TO_LEARN = f"This catalog has no co-purchase pairs to learn from: {IMPORT_PAIRS}"


def train_goes_with(engine, group_by: str | None = None, *, emit, cancelled):
    """Learn the complement model from the catalog's co-purchase pairs and save it beside the catalog
    (not when cancelled); the products that share a ``group_by`` value (a design's variants) stay in one
    split. Returns the model (None when cancelled)."""
    from core.catalog import Catalog
    from core.complement_model import model_path
    from core.complement_training import train_complements
    from core.errors import AppError, Cancelled
    from core.progress import Progress, TimeLeft

    if not engine.catalog.has_copurchases():
        raise AppError(NOTHING_TO_LEARN)
    emit(Progress(0, None, "Learning what goes with what from the co-purchase pairs…"))
    try:  # on a connection of its own: the GUI goes on searching on the engine's meanwhile
        with Catalog.open(engine.catalog.path) as catalog:
            model = train_complements(catalog, group_by, on_progress=TimeLeft(emit), cancelled=cancelled)
    except Cancelled:
        return None
    except AppError as exc:  # in the window's words (it said "run `vitrina index`")
        raise AppError(in_window_words(str(exc))) from exc
    if cancelled():
        return None
    model.save(model_path(engine.catalog))
    return model


MAP_THUMBNAILS = 3000  # products drawn as thumbnails on the map; the others as dots only


@dataclass(frozen=True)
class Insights:
    """What the Insights tab shows: a clustering and a map of the same space, with what the map labels."""

    clustering: object  # core.insights.Clustering
    pks: object  # (n,) int64 numpy array: the mapped products
    xy: object  # (n, 2) their map coordinates
    thumbnails: dict[int, object]  # pk -> QImage, decoded and scaled for the map
    titles: dict[int, str]
    attributes: dict[str, dict[int, str]]  # attribute -> pk -> value, to colour the map by (``colour_fields``)
    map_method: str = "pca"


def insights(catalog_path: Path, method: str = "kmeans", map_method: str = "pca", *, emit, cancelled):
    """Clusters and a map of the catalog's joint space (or its image space), cached in the catalog; returns
    ``Insights`` (None when cancelled: a t-SNE stops at once). It opens a connection of its own: the window
    runs it beside its searches."""
    from core.catalog import Catalog
    from core.errors import Cancelled
    from core.insights import cluster, colour_fields, default_space, embedding_map
    from core.progress import Progress

    with Catalog.open(catalog_path) as catalog:
        space = default_space(catalog)
        emit(Progress(0, 3, f"Insights: clustering {catalog.embedding_count(space):,} products ({method})…"))
        try:
            clustering = cluster(catalog, space, method, cancelled=cancelled)
        except Cancelled:
            return None
        if cancelled():
            return None
        emit(Progress(1, 3, f"Insights: mapping them ({map_method}"
                      + (": about a minute for 12,000 products)…" if map_method == "tsne" else ")…")))
        try:
            pks, xy = embedding_map(catalog, space, map_method, cancelled=cancelled)
        except Cancelled:
            return None
        emit(Progress(2, 3, "Insights: reading thumbnails…"))
        thumbs = {}
        for pk in pks[:MAP_THUMBNAILS]:
            if cancelled():
                return None
            image = QImage.fromData(catalog.thumbnail(int(pk)) or b"")
            if not image.isNull():  # QImage may be made off the GUI thread; QPixmap may not
                thumbs[int(pk)] = image.scaled(THUMB_SIDE, THUMB_SIDE, Qt.KeepAspectRatio, Qt.SmoothTransformation)
        return Insights(clustering, pks, xy, thumbs, catalog.titles(),
                        {f: catalog.attribute_column(f) for f in colour_fields(catalog)}, map_method)


def classify(engine, image_path: str) -> tuple[str, float] | None:
    """The photo's likely category; None when there is none to guess (a photo gone since it was chosen: the search
    beside this says so, a second box said it again)."""
    from core.errors import AppError
    from core.zero_shot import classify as zero_shot

    try:
        return zero_shot(engine, _image(image_path))[0]
    except AppError:
        return None


@dataclass
class ExplainedMatch:
    title: str
    query_image: object
    result_image: object
    explanation: object
    facts: object
    pk: int | None = None
    query: QueryState | None = None  # what it was explained against


def explain_method(engine, holder: dict, shown: ExplainedMatch, method: str, score: float | None = None, *,
                   emit=None, cancelled=lambda: False):
    """``shown`` with the heatmap ``method`` shown: its faithfulness curves (and its map, a slow one) added, the
    facts gathered again for its map; the other maps and the words are kept (switching the heatmap explained
    the match all over again). None when cancelled."""
    return explain(engine, holder, shown.query, shown.pk, method, score, emit=emit, cancelled=cancelled,
                   shown=shown)


def explain(engine, holder: dict, query: QueryState, pk: int, method: str = "grad-cam vit",
            score: float | None = None, *, emit=None, cancelled=lambda: False, shown: ExplainedMatch | None = None):
    """The explanation of one result (the explainer is created once and kept in ``holder``); ``score``: its
    similarity as the results list shows it, which its rationale states (None: none to state). None when
    ``cancelled`` (a perturbation map of hundreds of model passes stops between them)."""
    from core.errors import Cancelled

    from core.images import fit_within
    from explain.explainer import ALL_IMAGE_METHODS, MatchExplainer
    from explain.facts import gather_facts
    from explain.overlay import VIEW_SIDE

    if "explainer" not in holder:
        holder["explainer"] = MatchExplainer(engine.space("vit").encoder.load())
    x = holder["explainer"]
    product = engine.catalog.product(pk)
    query_image, result_image = _image(query.image_path), _image(product.image_path)
    text, stand_in = query.text, None
    liked = engine.catalog.products(list(query.like))
    if query_image is None and not text:  # "more like this" products stand in for the query: the first with a
        stand_in = next((p for p in liked if p.image_path), liked[0] if liked else None)  # photo, else its title
        if stand_in is not None and stand_in.image_path:
            query_image = _image(stand_in.image_path)
        elif stand_in is not None:
            text = stand_in.title
    faith = (method,) if method in ALL_IMAGE_METHODS else ()
    x.cancelled = cancelled
    try:
        if shown is not None:  # the same match, another heatmap: only what that one adds (a match map: nothing)
            m = x.with_method(shown.explanation, result_image, method) if faith else shown.explanation
        else:
            m = x.explain(result_image, product.title, product.description, query_image, text, faithfulness=faith,
                          image_weight=query.image_weight)
    except Cancelled:
        return None
    finally:
        x.cancelled = lambda: False
    fields = tuple(engine.catalog.category_fields())
    heat = m.result_maps.get(method)  # none drawn (a match map of a text query): no region to tell of
    # A liked product standing in for the query is the query the facts state, with its attribute values: "both
    # share the base colour Red", not "close to the query photo" (a photo the user never gave).
    # Several liked products: all of them are the query (the second was dropped, though half of it), with the
    # values they all have; liked besides words or a photo, they are named with them (a result ranked by a liked
    # shoe was "close to the query photo" of a skirt).
    common = {k: v for k, v in liked[0].attributes.items()
              if all(p.attributes.get(k, "").casefold() == v.casefold() for p in liked)} if stand_in else None
    facts = gather_facts(product.title, product.attributes, "" if stand_in else text, query_attributes=common,
                         query_product=" and ".join(p.title for p in liked) if stand_in else "",
                         liked=() if stand_in else tuple(p.title for p in liked),
                         word_attributions=m.words.get("title"),
                         heatmap=heat.values if heat is not None else None, score=score,
                         faithfulness=m.faithfulness[method].faithfulness
                         if method in m.faithfulness and m.faithfulness[method].measurable else None,
                         fields=fields, query_photo=query_image is not None and not stand_in,
                         image_weight=query.image_weight)
    # The details panel redraws the overlays whenever the opacity or the map changes: at the size it shows them.
    query_image, result_image = (None if im is None else fit_within(im, VIEW_SIDE) for im in (query_image, result_image))
    return ExplainedMatch(product.title, query_image, result_image, m, facts, pk, query)


def write_rationale(engine, holder: dict, facts, model_path: str | None = None, *, emit, cancelled):
    """The checked Rationale; each piece of text goes to ``emit`` as the model writes it."""
    from explain.facts import words_of
    from explain.rationale import LlamaRationale, RationaleWriter, Verifier

    key = ("writer", model_path)
    if key not in holder:
        fields = engine.catalog.category_fields()
        terms = {w for f in fields for value, _ in engine.catalog.field_values(f) for w in words_of(value)}
        holder[key] = RationaleWriter(LlamaRationale(model_path), Verifier(terms))
    return holder[key].write(facts, emit, cancelled)


def reindex(engine, *, emit, cancelled):
    """Embed what is missing or stale in every space (e.g. after adapting the model), then update indexes; returns
    (engine, "product: why" for each photo that could not be read: left out, as `vitrina index` leaves it out;
    one moved photo stopped the whole re-index, and after an adapt left the ViT space empty)."""
    from core.progress import Progress
    from core.spaces import reembed_all, stored_photos

    unreadable: dict[int, str] = {}
    image_of = stored_photos(engine.catalog, unreadable)
    for space in engine.spaces.values():
        for done, total in reembed_all(engine.catalog, space, image_of, cancelled=cancelled):
            emit(Progress(done, total, f"Embedding {space.name}: {done}/{total}"))
    for message in engine.load_indexes():
        emit(Progress(0, None, f"Index {message}"))
    skus = engine.catalog.skus_of(list(unreadable)) if unreadable else {}
    return engine, [f"{skus.get(pk, pk)}: {why}" for pk, why in unreadable.items()]


def adapt(engine, *, emit, cancelled):
    """Fine-tune the ViT on this catalog; returns the AdaptResult (before/after scores, kept or not)."""
    from core.progress import drain
    from core.vit_training import adapt_to_catalog

    return drain(adapt_to_catalog(engine.catalog, cancelled=cancelled), emit)


def export_report(engine, holder: dict, query: QueryState, pks: list[int], method: str, clustering, cluster,
                  scores: list[float] | None, model_path: str | None, folder: Path, name: str,
                  filters: FilterState | None = None, *, emit, cancelled) -> tuple[Path, int] | None:
    """``report_html``, then its HTML and PDF written into ``folder`` (``report_pdf.write_report``): the printing
    too is off the GUI thread. Returns the files' path without the suffix and the PDF's pages; None when
    cancelled (nothing written)."""
    from core.progress import Progress
    from gui import report_pdf

    html = report_html(engine, holder, query, pks, method, clustering, cluster, scores, model_path, filters,
                       emit=emit, cancelled=cancelled)
    if html is None:
        return None
    emit(Progress(len(pks), len(pks), "Report: printing the PDF…"))
    return report_pdf.write_report(html, folder, name, cancelled)


def _named(catalog, pks) -> tuple[str, ...]:
    """Products as a report names them: "title (id)", in the order given (one deleted since is left out)."""
    products = {p.pk: p for p in catalog.products(list(pks))}
    return tuple(f"{products[pk].title} ({products[pk].sku})" for pk in pks if pk in products)


PASTED_FOLDER = "vitrina-pasted"  # the temporary folder of pasted photos (in the system's temporary folder)


def photo_name(path: str | None) -> str:
    """The query photo as a report names it: its file's name, or "pasted photo" (not a random temporary name)."""
    if not path:
        return ""
    return "pasted photo" if Path(path).parent.name == PASTED_FOLDER else Path(path).name


def report_html(engine, holder: dict, query: QueryState, pks: list[int], method: str, clustering=None, cluster=None,
                scores: list[float] | None = None, model_path: str | None = None, filters: FilterState | None = None,
                *, emit, cancelled) -> str | None:
    """Explain and write a rationale for each product of the current results; returns the report HTML (None when
    cancelled).
    ``clustering``: the Insights tab's, whose names the results carry; ``cluster``: the one they were limited to;
    ``scores``: the similarities the results list shows, which the report and each rationale state (the
    explaining model's own similarity differs: the report read 0.369 where the card read 0.43); ``model_path``:
    the language model the window's rationales use (None: the bundled one; the report used it whatever was set);
    ``filters``: those the results were searched with, which the report states with the query's liked and unliked
    products (it said nothing of them: a "more like this" query's report had no query at all)."""
    from core.progress import Progress
    from explain.report import (ReportMeta, ReportQuery, ReportResult, cluster_scope, filters_scope, render_html,
                                text_note, weights_line)

    names = clustering.names() if clustering is not None else {}
    f = filters or FilterState()
    same = None
    if query.same_category:
        from core.zero_shot import category_field

        same = (category_field(engine), query.same_category)
    scope = "; ".join(s for s in (cluster_scope(cluster), filters_scope(f.categories, f.price_min, f.price_max,
                                                                         f.rating_min, f.min_score, same)) if s)
    q = ReportQuery(1, query.text, _image(query.image_path), photo_name(query.image_path), scope=scope,
                    like=_named(engine.catalog, query.like), unlike=_named(engine.catalog, query.unlike),
                    weights=weights_line(query.text, bool(query.image_path), query.image_weight,
                                         liked=bool(query.like)))
    emit(Progress(0, len(pks), f"Report: explaining {plural(len(pks), 'result')}…"))
    for rank, pk in enumerate(pks, 1):
        if cancelled():
            break
        score = scores[rank - 1] if scores is not None else None
        # Cancel (or Quit) stops a perturbation map between its model passes: it held the pool for seconds
        match = explain(engine, holder, query, pk, method, score, cancelled=cancelled)
        if match is None:
            return None
        rationale = write_rationale(engine, holder, match.facts, model_path, emit=lambda _piece: None,
                                    cancelled=cancelled)
        product = engine.catalog.product(pk)
        q.results.append(ReportResult(rank, product.sku, product.title,
                                      match.explanation.score if score is None else score, product.attributes,
                                      match.result_image, match.query_image, match.explanation, rationale,
                                      names.get(pk, "")))
        emit(Progress(rank, len(pks), f"Report: {rank}/{len(pks)} results explained"))
    if cancelled():  # nothing is written
        return None
    if "explainer" in holder:  # as the command line's report: an emoji-only text is said to be read as none
        q.note = text_note(holder["explainer"], query.text)
    meta = ReportMeta(engine.catalog.name, len(engine.catalog), tuple(s.encoder_id for s in engine.spaces.values()),
                      method, clustering.summary() if clustering is not None else "")
    return render_html([q], meta)
