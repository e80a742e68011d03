"""Build time and size of a 50-result explanation report (issue: reports).

    python bench/bench_report.py --results 50 --json out/bench/report.json

The explanations (maps, words, the chosen method's faithfulness curves) and rationales are
computed first and timed on their own (their per-result budgets belong to the explanation and
rationale issues); the report build is then timed: HTML rendering with every image embedded,
and printing that HTML to PDF. Results are demo products explained against one demo query
(photo and title). ``--llm`` writes the rationales with the language model instead of the template.
"""
from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from pathlib import Path

from common import ROOT, write_json

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

DEMO = ROOT / "resources" / "demo"


def main() -> None:
    from core.images import load_image
    from core.vit import VitEncoder
    from explain.explainer import MatchExplainer
    from explain.facts import gather_facts
    from explain.rationale import Rationale, template_rationale
    from explain.report import ReportMeta, ReportQuery, ReportResult, render_html
    from gui.report_pdf import html_to_pdf

    ap = argparse.ArgumentParser()
    ap.add_argument("--results", type=int, default=50)
    ap.add_argument("--method", default="gradient-weighted attention")
    ap.add_argument("--llm", action="store_true")
    ap.add_argument("--keep", type=Path, help="also write report.html and report.pdf into this folder")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    rows = list(csv.DictReader(open(DEMO / "products.csv", encoding="utf-8")))
    qrow, results = rows[0], rows[1:args.results + 1]
    query_image = load_image(DEMO / qrow["image"]).image
    explainer = MatchExplainer(VitEncoder())
    writer = None
    if args.llm:
        from explain.rationale import LlamaRationale, RationaleWriter, Verifier
        writer = RationaleWriter(LlamaRationale(), Verifier(set()))
    q = ReportQuery(1, qrow["title"], query_image, Path(qrow["image"]).name)
    t0 = time.perf_counter()
    for rank, row in enumerate(results, 1):
        photo = load_image(DEMO / row["image"]).image
        m = explainer.explain(photo, row["title"], row.get("description", ""), query_image, qrow["title"],
                              faithfulness=(args.method,))
        attrs = {k: v for k, v in row.items() if k not in ("id", "title", "description", "image", "price", "rating")}
        facts = gather_facts(row["title"], attrs, qrow["title"], word_attributions=m.words.get("title"),
                             heatmap=m.result_maps[args.method].values, score=m.score)
        rationale = writer.write(facts) if writer else Rationale(template_rationale(facts), "template")
        q.results.append(ReportResult(rank, row["id"], row["title"], m.score, attrs, photo, query_image, m, rationale))
    t1 = time.perf_counter()
    meta = ReportMeta("demo", len(rows), (explainer.model_id,), args.method)
    html = render_html([q], meta)
    t2 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        pdf = Path(tmp) / "report.pdf"
        pages = html_to_pdf(html, pdf)
        t3 = time.perf_counter()
        pdf_mb = pdf.stat().st_size / 2**20
        if args.keep:
            import shutil

            args.keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(pdf, args.keep / "report.pdf")
            (args.keep / "report.html").write_text(html, encoding="utf-8")
    write_json(args.json, {
        "benchmark": "report-build", "results": len(q.results), "method": args.method,
        "rationales": "language model" if args.llm else "template",
        "explain_and_rationales_s": round(t1 - t0, 2), "explain_per_result_s": round((t1 - t0) / len(q.results), 3),
        "html_render_s": round(t2 - t1, 2), "pdf_print_s": round(t3 - t2, 2), "build_s": round(t3 - t1, 2),
        "html_mb": round(len(html.encode()) / 2**20, 2), "pdf_mb": round(pdf_mb, 2), "pdf_pages": pages})


if __name__ == "__main__":
    main()
