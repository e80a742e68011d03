"""Printing a report's HTML to PDF with Qt (no browser needed), and the ``vitrina report`` command."""
from __future__ import annotations

import argparse
import os
import shutil
import uuid
from pathlib import Path

from PySide6.QtCore import QMarginsF
from PySide6.QtGui import QPageLayout, QPageSize, QPdfWriter, QTextDocument

from core.cli_insights import add_cluster_options
from core.errors import AppError

_APP = None  # the application the command line makes, kept alive


class PdfNotWritten(AppError, OSError):
    """The PDF could not be written. An OSError too: ``write_report`` catches those."""


class ReportNotWritten(AppError):
    """The report's files could not be written to the folder chosen."""


def html_to_pdf(html: str, path: Path) -> int:
    """Writes ``path``; returns the number of pages. Qt prints to a new file beside it, renamed over it once
    it holds pages: Qt only logs that it cannot open a file (QPainter::begin), and an earlier PDF left
    at ``path`` must not pass for this one."""
    path = Path(path)
    part = _part(path)
    try:
        pages = _print(html, part, path)
        try:
            os.replace(part, path)
        except OSError as exc:
            raise PdfNotWritten(f"The PDF {path} cannot be written: {exc.strerror or exc}.") from exc
    finally:
        part.unlink(missing_ok=True)
    return pages


def _part(path: Path) -> Path:
    """A new file beside ``path`` that a file is written to before it is renamed over ``path``."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")


def _print(html: str, part: Path, path: Path) -> int:
    """Prints ``html`` to ``part`` (the PDF that will be ``path``); returns its pages."""
    global _APP
    from PySide6.QtWidgets import QApplication

    # the command line: QTextDocument needs an application for fonts, and a server may have no display. A widgets
    # one: a QGuiApplication made here is the instance any window made later in the process gets ("Cannot create a
    # QWidget without QApplication", and an abort: the test suite died so when a report test ran first)
    if QApplication.instance() is None:
        _APP = QApplication(["vitrina", "-platform", "offscreen"])
    try:
        part.write_bytes(b"")  # says why a folder cannot be written to, which Qt does not
        doc = QTextDocument()
        doc.setHtml(html)
        writer = QPdfWriter(str(part))
        writer.setPageSize(QPageSize(QPageSize.A4))
        writer.setPageMargins(QMarginsF(12, 12, 12, 12), QPageLayout.Millimeter)
        writer.setTitle("Vitrina report")
        doc.print_(writer)
        del writer  # closes the file
        pages = pdf_page_count(part)
    except OSError as exc:
        raise PdfNotWritten(f"The PDF {path} cannot be written: {exc.strerror or exc}.") from exc
    if not pages:
        raise PdfNotWritten(f"The PDF {path} cannot be written: Qt could not print the report to a file there.")
    return pages


def write_report(html: str, folder: Path, name: str, cancelled=lambda: False,
                 replace: bool = False) -> tuple[Path, int] | None:
    """Writes ``name``.pdf and ``name``.html into ``folder``; returns their path without the suffix and the PDF's
    pages. An earlier report of that name is kept (``name (2)``, ... when either file is there) unless
    ``replace``. The window runs it on its worker (printing a 50-result report froze it 0.8 s). Both are written
    to new files first and renamed into place once both are whole: one that cannot be written leaves neither
    (and an earlier report that ``replace`` would have replaced is left as it was: a failed PDF left the earlier
    one beside the new HTML); Cancel while they were written (``cancelled()`` true after) leaves neither (None)."""
    folder = Path(folder)
    base, n = name, 1
    while not replace and any(os.path.lexists(folder / f"{base}.{ext}") for ext in ("html", "pdf")):  # a dangling
        n += 1  # link too
        base = f"{name} ({n})"
    pdf, page = folder / f"{base}.pdf", folder / f"{base}.html"
    for path in (pdf, page) if replace else ():
        if path.is_dir():  # a rename over a folder fails late, or (an empty one) would replace it
            raise ReportNotWritten(f"The report cannot be written to {path}: it is a folder.")
    pdf_part, page_part = _part(pdf), _part(page)
    try:
        try:  # a lone surrogate (a file name's undecodable byte) is written as "?", not refused
            page_part.write_text(html, encoding="utf-8", errors="replace")
            pages = _print(html, pdf_part, pdf)
            if cancelled():
                return None
            earlier = _part(pdf) if replace and os.path.isfile(pdf) else None  # kept until the HTML is in place
            if earlier is not None:
                try:
                    os.link(pdf, earlier)
                except OSError:  # a file system without hard links
                    shutil.copy2(pdf, earlier)
            try:
                os.replace(pdf_part, pdf)
                os.replace(page_part, page)  # it fails when another program holds the HTML open (Windows)
            except BaseException:
                if earlier is not None:  # the earlier report as it was: not its HTML beside the new PDF
                    os.replace(earlier, pdf)
                else:  # the new PDF alone: a part of a report
                    pdf.unlink(missing_ok=True)
                raise
            finally:
                if earlier is not None:
                    earlier.unlink(missing_ok=True)
        finally:
            _remove(pdf_part, page_part)
    except OSError as exc:
        raise ReportNotWritten(f"The report could not be written to {folder}: {exc.strerror or exc}") from exc
    return folder / base, pages


def _remove(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def pdf_page_count(path: Path) -> int:
    import re

    return len(re.findall(rb"/Type\s*/Page[^s]", Path(path).read_bytes()))


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="HTML and PDF explanation report for a batch of queries")
    p.add_argument("catalog", type=Path)
    p.add_argument("--queries", type=Path, required=True,
                   help="CSV or JSON Lines with columns text and/or image (a photo path)")
    p.add_argument("--out", type=Path, required=True,
                   help="folder for report.html and report.pdf (report (2).html ... when a report is there)")
    p.add_argument("-k", type=int, default=5, help="results per query")
    p.add_argument("--method", default="grad-cam vit", help="the heatmap shown (e.g. perturbation, match map)")
    p.add_argument("--name", default="report", help="the files' name (without .html and .pdf)")
    p.add_argument("--replace", action="store_true",
                   help="replace a report of the same --name in that folder (kept otherwise: the new one is "
                        "NAME (2))")
    p.add_argument("--no-rationale", action="store_true")
    p.add_argument("--clusters", action="store_true",
                   help="name each result's cluster (the clustering --cluster-method, --cluster-k and --cluster-space "
                        "name)")
    add_cluster_options(p, "report results")
    p.set_defaults(func=cmd_report)


def read_requests(path: Path):
    """(text, photo, photo's name) per row of a CSV or JSON Lines file with a text and/or an image column."""
    from core.errors import AppError, BadImage
    from core.images import load_image
    from core.search import has_words
    from core.sources import read_rows

    info, rows = read_rows(path)  # missing, binary, wrongly encoded files: ImportFailed, which says why
    if not {"text", "image"} & set(info.columns):
        raise AppError(f"{path.name} needs a column named text and/or one named image (a photo's path); "
                       f"its columns: {', '.join(info.columns) or 'none'}.")
    out = []
    for row in rows:
        if row.error:
            raise AppError(f"{path.name} line {row.line}: {row.error}.")
        text, image = (row.data.get("text") or "").strip(), (row.data.get("image") or "").strip()
        if not has_words(text):  # a zero-width space alone: no query, said with its line (it failed mid-report)
            text = ""
        if not text and not image:
            raise AppError(f"{path.name} line {row.line}: give a text or an image.")
        try:
            photo = load_image(path.parent / image if not Path(image).is_absolute() else Path(image)).image \
                if image else None
        except BadImage as exc:
            raise AppError(f"{path.name} line {row.line}: {exc}") from exc
        out.append((text, photo, Path(image).name if image else ""))
    if not out:
        raise AppError(f"{path.name} holds no queries.")
    return out


def cmd_report(args) -> int:
    from core.catalog import Catalog
    from core.cli import _drive, check_output, open_engine_cli, out_folder
    from core.cli_insights import cluster_named, clustering_of
    from core.errors import AppError
    from explain.explainer import VIEWS, MatchExplainer
    from explain.facts import words_of
    from explain.rationale import LlamaRationale, RationaleWriter, Verifier
    from explain.report import ReportMeta, collect, render_html, safe_filename

    methods = VIEWS
    if args.method not in methods:
        raise AppError(f"Unknown heatmap '{args.method}'; choose one of: {', '.join(methods)}.")
    requests = read_requests(args.queries)
    clustering = chosen = None
    if args.cluster is not None or args.clusters:  # an unknown cluster is said before any work starts
        with Catalog.open(args.catalog) as catalog:
            if args.cluster is not None:
                clustering, chosen = cluster_named(catalog, args)
            else:
                clustering = clustering_of(catalog, args)
    if args.k < 1:
        raise AppError(f"Ask for at least one result per query (got -k {args.k}).")
    engine = open_engine_cli(args.catalog)
    out = out_folder(args.out, "report")  # made once the inputs are known to be good
    name = safe_filename(args.name)
    for path in (out / f"{name}.html", out / f"{name}.pdf") if args.replace else ():  # a folder of that name: said
        check_output(path)  # now, not after the work
    explainer = MatchExplainer(engine.space("vit").encoder.load())
    writer = None
    if not args.no_rationale:
        fields = engine.catalog.category_fields()
        terms = {w for f in fields for v, _ in engine.catalog.field_values(f) for w in words_of(v)}
        writer = RationaleWriter(LlamaRationale(), Verifier(terms))
    queries = _drive(collect(engine, explainer, writer, requests, args.k, args.method, clustering=clustering,
                             cluster=chosen), "report")
    meta = ReportMeta(engine.catalog.name, len(engine.catalog), tuple(s.encoder_id for s in engine.spaces.values()),
                      args.method, clustering.summary() if clustering is not None else "")
    html = render_html(queries, meta)
    for q in queries:  # what the report notes of a query or a result, said here too
        if q.note:
            print(f"query {q.number}: {q.note}")
        for r in q.results:
            if r.note:
                print(f"query {q.number}, result {r.rank} ({r.sku}): {r.note}")
    base, pages = write_report(html, out, name, replace=args.replace)
    print(f"{base}.html and .pdf ({pages} pages)")
    return 0
