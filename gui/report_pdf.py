"""Printing a report's HTML to PDF with Qt (no browser needed), and the ``vitrina report`` command."""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from PySide6.QtGui import QPageLayout, QPageSize, QPdfWriter, QTextDocument
from PySide6.QtCore import QMarginsF


def html_to_pdf(html: str, path: Path) -> int:
    """Writes ``path``; returns the number of pages."""
    from PySide6.QtWidgets import QApplication

    QApplication.instance() or QApplication([])  # QTextDocument needs an application for fonts
    doc = QTextDocument()
    doc.setHtml(html)
    writer = QPdfWriter(str(path))
    writer.setPageSize(QPageSize(QPageSize.A4))
    writer.setPageMargins(QMarginsF(12, 12, 12, 12), QPageLayout.Millimeter)
    writer.setTitle("Vitrina report")
    doc.print_(writer)
    del writer  # closes the file
    return pdf_page_count(path)


def pdf_page_count(path: Path) -> int:
    import re

    return len(re.findall(rb"/Type\s*/Page[^s]", Path(path).read_bytes()))


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="HTML and PDF explanation report for a batch of queries")
    p.add_argument("catalog", type=Path)
    p.add_argument("--queries", type=Path, required=True,
                   help="CSV or JSON Lines with columns text and/or image (a photo path)")
    p.add_argument("--out", type=Path, required=True, help="folder for report.html and report.pdf")
    p.add_argument("-k", type=int, default=5, help="results per query")
    p.add_argument("--method", default="grad-cam vit")
    p.add_argument("--name", default="report")
    p.add_argument("--no-rationale", action="store_true")
    p.set_defaults(func=cmd_report)


def read_requests(path: Path):
    from core.errors import AppError
    from core.images import load_image

    rows = ([json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            if path.suffix.lower() in (".jsonl", ".ndjson") else list(csv.DictReader(open(path, encoding="utf-8"))))
    out = []
    for i, row in enumerate(rows, 1):
        text, image = (row.get("text") or "").strip(), (row.get("image") or "").strip()
        if not text and not image:
            raise AppError(f"{path.name} line {i}: give a text or an image.")
        photo = load_image((path.parent / image) if image and not Path(image).is_absolute() else Path(image)).image \
            if image else None
        out.append((text, photo, Path(image).name if image else ""))
    return out


def cmd_report(args) -> int:
    from core.cli import _drive, open_engine_cli
    from explain.explainer import MatchExplainer
    from explain.facts import words_of
    from explain.rationale import LlamaRationale, RationaleWriter, Verifier
    from explain.report import ReportMeta, collect, render_html, safe_filename

    engine = open_engine_cli(args.catalog)
    explainer = MatchExplainer(engine.space("vit").encoder.load())
    writer = None
    if not args.no_rationale:
        fields = engine.catalog.category_fields()
        terms = {w for f in fields for v, _ in engine.catalog.field_values(f) for w in words_of(v)}
        writer = RationaleWriter(LlamaRationale(), Verifier(terms))
    queries = _drive(collect(engine, explainer, writer, read_requests(args.queries), args.k, args.method), "report")
    meta = ReportMeta(engine.catalog.name, len(engine.catalog), tuple(s.encoder_id for s in engine.spaces.values()),
                      args.method)
    html = render_html(queries, meta)
    args.out.mkdir(parents=True, exist_ok=True)
    name = safe_filename(args.name)
    (args.out / f"{name}.html").write_text(html, encoding="utf-8")
    pages = html_to_pdf(html, args.out / f"{name}.pdf")
    print(f"{args.out / name}.html and .pdf ({pages} pages)")
    return 0
