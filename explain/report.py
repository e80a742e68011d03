"""Explanation reports: one self-contained HTML file (images embedded, opens offline anywhere).

Catalog text is escaped everywhere (Jinja2 autoescaping), images are embedded as data URIs
downscaled to keep a 50-result report well under 20 MB, and output file names are sanitised.
The PDF is printed from the same HTML by the GUI layer (``gui.report_pdf``).
"""
from __future__ import annotations

import base64
import io
import re
import unicodedata
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image

from core.catalog import readable_attributes
from core.progress import Progress
from explain.facts import shortened
from explain.overlay import VIEW_SIDE, overlay
from explain.types import MATCH_MAP, PERTURBATION

TEMPLATES = Path(__file__).parent / "templates"


@dataclass
class ReportResult:
    rank: int
    sku: str
    title: str
    score: float
    attributes: dict[str, str]
    result_image: Image.Image | None = None
    query_image: Image.Image | None = None
    explanation: object = None  # explain.explainer.MatchExplanation
    rationale: object = None  # explain.rationale.Rationale
    cluster: str = ""  # the name of the product's cluster, when the report has a clustering
    note: str = ""  # what the result's page must say it lacks (a photo that could not be read)


@dataclass
class ReportQuery:
    number: int
    text: str = ""
    image: Image.Image | None = None
    image_name: str = ""
    results: list[ReportResult] = field(default_factory=list)
    scope: str = ""  # what the results were limited to (a cluster, filters), said under the query
    note: str = ""  # what the query lacks (a text without a word the text model reads)
    like: tuple[str, ...] = ()  # the products of "more like this", as "title (id)"
    unlike: tuple[str, ...] = ()  # and of "less like this"
    weights: str = ""  # how a photo and words were weighed against each other (``weights_line``)


def weights_line(text: str, photo: bool, image_weight: float = 0.5, liked: bool = False) -> str:
    """How the search weighed a query's photo against its words (its rationales name only what weighed); empty
    for a query with one of them. ``liked``: "more like this" products, whose photos the search weighs as the
    query's photo (the slider moved the results of words and liked products, unsaid)."""
    if not (text and (photo or liked)):
        return ""
    share = round(100 * image_weight)
    photos = "photo and liked products' photos" if photo and liked else "liked products' photos" if liked \
        else "photo"
    return f"weighed: {photos} {share} %, words {100 - share} %"


@dataclass(frozen=True)
class ReportMeta:
    catalog: str
    products: int
    models: tuple[str, ...]
    method: str = "gradient-weighted attention"
    clustering: str = ""  # the clustering whose names the results carry (``Clustering.summary``)
    date: str = field(default_factory=lambda: datetime.now().strftime("%Y-%m-%d %H:%M"))


OVERLAY_SIDE = 320  # the report's photos, a side


PHOTO_BOX = 200  # the side of the square a result page's photos fit in (pixels of the HTML, points of the PDF)
QUERY_BOX = 120  # the same for the query's photo on its summary


def data_uri(image: Image.Image, max_side: int = OVERLAY_SIDE, quality: int = 82) -> str:
    im = image.convert("RGB")
    im.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def box_size(image: Image.Image, box: int) -> tuple[int, int]:
    """(width, height) that fit ``image`` in a ``box`` x ``box`` square: a width alone let a tall photo run down
    pages (a 1 x 5 photo 200 wide is 1,000 high: a 4-page report printed on 7)."""
    w, h = image.size
    scale = min(box / w, box / h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def curves_uri(curves) -> str:
    """Deletion/insertion curves (solid) against random (dashed) as a small PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.2, 2.0), dpi=90)
    ax = fig.add_subplot()
    ax.plot(curves.fractions, curves.deletion, color="#d03c3c", label="deletion")
    ax.plot(curves.fractions, curves.random_deletion, color="#d03c3c", ls="--", lw=0.8)
    ax.plot(curves.fractions, curves.insertion, color="#2a8cdc", label="insertion")
    ax.plot(curves.fractions, curves.random_insertion, color="#2a8cdc", ls="--", lw=0.8)
    ax.set_xlabel("share of patches", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.legend(fontsize=6)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def word_colours(explanation) -> list[dict]:
    values = np.asarray(explanation.values, np.float32)
    top = float(np.abs(values).max(initial=0.0)) or 1.0  # a text of emoji only has no words
    out = []
    for word, v in zip(explanation.tokens, values):
        a = min(abs(float(v)) / top, 1.0)
        rgb = "230,80,60" if v >= 0 else "70,130,230"
        out.append({"word": word, "value": f"{float(v):+.3f}", "colour": f"rgba({rgb},{a:.2f})"})
    return out


def safe_filename(name: str, default: str = "report", end: str = "") -> str:
    """A file name that is safe on every OS: no separators, no control, format (invisible, direction) or reserved
    characters. ``end`` (made safe too) is kept whole when a long ``name`` is cut to fit (a selected result's
    product id after a long query)."""
    end = safe_filename(end, "") if end else ""
    name = unicodedata.normalize("NFKC", name)
    # format characters too: a right-to-left override showed "x\u202egnp.exe.pdf" as "x…fdp.exe.png"
    name = "".join(c for c in name if unicodedata.category(c) != "Cf")
    name = re.sub(r"[\x00-\x1f\x7f<>:\"/\\|?*]+", "_", name).strip(" ._")
    if re.fullmatch(r"(con|prn|aux|nul|com\d|lpt\d)(\..*)?", name, re.IGNORECASE):
        name = "_" + name
    # 120 characters, and at most 180 bytes: 120 Japanese characters are 360 bytes, past the 255 a file name may
    # have ("File name too long" after minutes of explaining), with room for the PDF's temporary suffix
    cut = (name or default)[:120 - len(end)].encode("utf-8")[:180 - len(end.encode("utf-8"))]
    return (cut.decode("utf-8", "ignore").rstrip(" .") or default) + end


TITLE_CHARS = 300  # a title shown longer is cut with "…": a 2 MB title of one word printed 897 pages


def _unmapped(r: ReportResult, query_side: bool, method: str) -> str:
    """Why a photo of the result's page is shown plain: it must not pass for a map that was not drawn."""
    if r.explanation is None:
        return "not explained"
    absent = f"no {method}" if method == MATCH_MAP else f"no {method} map"
    if query_side and r.result_image is None:
        return f"{absent}: the result has no photo"
    if not query_side and method == MATCH_MAP and r.query_image is None:
        return f"{absent}: the query has no photo"
    if query_side and method == PERTURBATION:
        return f"{absent}: it covers the result's photo only"
    return f"{absent} for this query"


def _photo(r: ReportResult, image: Image.Image | None, heat, query_side: bool, method: str) -> dict | None:
    """A photo of the result's page: its overlay, or the plain photo, captioned as such."""
    if image is None:
        return None
    side = "Query" if query_side else "Result"
    width, height = box_size(image, PHOTO_BOX)
    if heat is not None:
        return {"src": data_uri(overlay(image, heat, max_side=OVERLAY_SIDE)), "alt": f"{side.lower()} heatmap",
                "caption": f"{side} — {method}", "width": width, "height": height}
    return {"src": data_uri(image), "alt": f"{side.lower()} photo",
            "caption": f"{side} photo ({_unmapped(r, query_side, method)})", "width": width, "height": height}


def _words_view(words) -> dict:
    from explain.tokens import coverage_note  # not at the top: it loads torch, which rendering does not need

    return {"words": word_colours(words), "note": coverage_note(words)}


def _result_view(r: ReportResult, method: str) -> dict:
    m = r.explanation
    res_map = qry_map = curves = None
    if m is not None:
        if method == MATCH_MAP and m.match is not None:
            res_map, qry_map = m.match, m.match.extras.get("query_map")
        else:
            res_map, qry_map = m.result_maps.get(method), m.query_maps.get(method)
        curves = m.faithfulness.get(method)
    kind = getattr(r.rationale, "kind", None)
    return {
        "rank": r.rank, "sku": r.sku, "title": shortened(r.title, TITLE_CHARS), "score": r.score,
        "attributes": readable_attributes(r.attributes),
        "cluster": r.cluster, "note": r.note,
        "result_photo": _photo(r, r.result_image, res_map, False, method),
        "query_photo": _photo(r, r.query_image, qry_map, True, method),
        "curves": curves_uri(curves) if curves is not None else None,
        "faithfulness_text": ("—" if curves is None else f"{curves.faithfulness:+.2f} ({curves.versus_random})"
                              if curves.measurable else "not measurable"),
        "words": {name: _words_view(w) for name, w in (m.words.items() if m is not None else [])},
        "rationale": getattr(r.rationale, "text", ""),
        "rationale_kind": kind or "none",
        "rationale_label": {"model": "written by the language model, checked", "template": "template"}.get(kind, ""),
    }


def render_html(queries: Sequence[ReportQuery], meta: ReportMeta) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    views = [{"number": q.number, "text": shortened(q.text, 4 * TITLE_CHARS), "image_name": q.image_name,
              "scope": q.scope, "note": q.note, "weights": q.weights,
              "like": [shortened(t, TITLE_CHARS) for t in q.like],
              "unlike": [shortened(t, TITLE_CHARS) for t in q.unlike],
              # the maps of a query of liked products alone: the first of them with a photo stands in for it
              "stand_in": bool(q.like) and not q.text and q.image is None,
              "image": data_uri(q.image, 200) if q.image is not None else None,
              "image_size": box_size(q.image, QUERY_BOX) if q.image is not None else None,
              "results": [_result_view(r, meta.method) for r in q.results]} for q in queries]
    return env.get_template("report.html.j2").render(queries=views, meta=meta)


def cluster_scope(cluster) -> str:
    """What a report says of results kept to ``cluster`` (None: nothing)."""
    return f"results only from the cluster “{cluster.name}” ({cluster.size} products)" if cluster is not None else ""


def _number(v: float) -> str:
    """A filter's number as the filters panel holds it (2 decimals), without trailing zeros: not 1e+06 or 123457
    for 123456.78."""
    return f"{v:.2f}".rstrip("0").rstrip(".")


def filters_scope(categories: dict[str, Sequence[str]] | None = None, price_min: float | None = None,
                  price_max: float | None = None, rating_min: float | None = None, min_score: float | None = None,
                  same_category: tuple[str, str] | None = None) -> str:
    """What a report says of the filters its results passed ("" for none): a report of results filtered to a price
    read as one of all products. ``same_category``: (field, value) of "Only this category" (the photo's)."""
    from core.catalog import field_label

    parts = [f"{field_label(name)} {' or '.join(values)}" for name, values in (categories or {}).items() if values]
    if same_category is not None:
        parts.append(f"{field_label(same_category[0])} {same_category[1]} (the photo's category)")
    if price_min is not None and price_max is not None:
        parts.append(f"price {_number(price_min)}–{_number(price_max)}")
    elif price_min is not None or price_max is not None:
        parts.append(f"price ≥ {_number(price_min)}" if price_min is not None else f"price ≤ {_number(price_max)}")
    if rating_min is not None:
        parts.append(f"rating ≥ {_number(rating_min)}")
    if min_score is not None:
        parts.append(f"similarity ≥ {min_score:.2f}")
    return "filters: " + " · ".join(parts) if parts else ""


def text_note(explainer, text: str) -> str:
    """What a query text that the text model reads nothing of must say (``explainer``: a ``MatchExplainer``)."""
    from core.search import has_words

    if not has_words(text) or explainer.words.readable_words(text):
        return ""
    return "the query text has no words the text model reads: the similarity is to an effectively empty text"


def collect(engine, explainer, writer, requests: Sequence[tuple[str, Image.Image | None, str]], k: int,
            method: str, cancelled: Callable[[], bool] = lambda: False, clustering=None,
            cluster=None) -> Generator[Progress, None, list[ReportQuery]]:
    """Search, explain and write a rationale for the top ``k`` results of each (text, image, name) request.
    ``clustering`` (``core.insights.Clustering``): each result carries its cluster's name; ``cluster`` (one of
    its clusters): the searches keep to that cluster's products, and each query says so."""
    from core.errors import BadImage
    from core.images import fit_within, load_image
    from core.search import Filters, Query, search
    from explain.explainer import ALL_IMAGE_METHODS
    from explain.facts import gather_facts

    names = clustering.names() if clustering is not None else {}
    filters = Filters(pks=clustering.members(cluster.label)) if cluster is not None else Filters()
    scope = cluster_scope(cluster)
    # A query finds at most the products it may search: "-k 1000" over 40 products is 40 steps, not 1000.
    per_query = min(k, len(filters.pks) if filters.pks is not None else len(engine.catalog))
    queries, done = [], 0
    for n, (text, image, name) in enumerate(requests, 1):
        # The report keeps the photos it draws, at a size it can draw: 50 camera photos at full size hold gigabytes.
        shown = fit_within(image, VIEW_SIDE) if image is not None else None
        q = ReportQuery(n, text, shown, name, scope=scope, note=text_note(explainer, text),
                        weights=weights_line(text, image is not None))  # the search's even weights
        hits = search(engine, Query(text=text, image=image, k=k, filters=filters))
        total = done + len(hits) + (len(requests) - n) * per_query  # the real count of this query's results
        for rank, hit in enumerate(hits, 1):
            if cancelled():
                return queries
            p = engine.catalog.product(hit.pk)
            photo, note = None, ""
            try:  # a photo moved or damaged since the import costs its maps, not the report
                photo = load_image(Path(p.image_path)).image if p.image_path else None
            except BadImage as exc:
                note = f"Its photo could not be read, so it is explained by its words only: {exc}"
            faith = (method,) if method in ALL_IMAGE_METHODS else ()
            m = explainer.explain(photo, p.title, p.description, image, text, faithfulness=faith)
            heat = m.result_maps.get(method)
            facts = gather_facts(p.title, p.attributes, text, word_attributions=m.words.get("title"),
                                 heatmap=heat.values if heat is not None else None, score=hit.score,
                                 fields=tuple(engine.catalog.category_fields()), query_photo=image is not None)
            rationale = writer.write(facts) if writer is not None else None
            q.results.append(ReportResult(rank, p.sku, p.title, hit.score, p.attributes,
                                          fit_within(photo, VIEW_SIDE) if photo is not None else None, shown, m,
                                          rationale, names.get(hit.pk, ""), note))
            done += 1
            yield Progress(done, total, f"query {n}: result {rank}/{len(hits)}")
        queries.append(q)
    return queries
