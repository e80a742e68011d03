"""Reports: sections, escaping, embedded images, PDF page count, file names."""
import os
from html.parser import HTMLParser
from pathlib import Path

from PIL import Image

from explain.rationale import Rationale
from explain.report import ReportMeta, ReportQuery, ReportResult, render_html, safe_filename, weights_line
from tests.test_details_panel import fake_explanation


class Sections(HTMLParser):
    def __init__(self):
        super().__init__()
        self.classes, self.images, self.scripts, self.text = [], [], 0, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.classes.append(a.get("class"))
        if tag == "img":
            self.images.append(a["src"])
        if tag == "script":
            self.scripts += 1

    def handle_data(self, data):
        self.text.append(data)


def report(n=3, title="Navy shirt"):
    photo = Image.new("RGB", (224, 224), (30, 40, 120))
    results = [ReportResult(i + 1, f"S{i}", title, 0.8 - i / 10, {"colour": "Navy"}, photo, photo, fake_explanation(),
                            Rationale("Recommended because both are navy.", "model")) for i in range(n)]
    return [ReportQuery(1, "navy shirt", photo, "q.jpg", results)], ReportMeta("demo", 468, ("vit-x",))


def test_html_holds_summary_and_one_section_per_result():
    queries, meta = report(3)
    html = render_html(queries, meta)
    p = Sections()
    p.feed(html)
    assert p.classes == ["summary-page", "result", "result", "result"]
    assert all(src.startswith("data:image/") for src in p.images) and len(p.images) == 1 + 3 * 3
    assert "written by the language model" in html and "vit-x" in html
    faith = queries[0].results[0].explanation.faithfulness["gradient-weighted attention"]
    assert f"Faithfulness {faith.faithfulness:+.2f} (beats random)" in html  # what the window says beside it


def test_attributes_read_as_words_and_the_import_s_own_are_left_out():
    queries, meta = report(1)
    queries[0].results[0].attributes = {"baseColour": "Navy", "image_quality": "ok"}
    html = render_html(queries, meta)
    assert "<b>Base colour</b>: Navy" in html and "image_quality" not in html


def test_catalog_text_is_escaped():
    queries, meta = report(1, title="<script>alert(1)</script>")
    queries[0].text = "<img src=x onerror=alert(2)>"
    html = render_html(queries, meta)
    p = Sections()
    p.feed(html)
    assert p.scripts == 0 and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "<script>alert(1)</script>" in "".join(p.text)


def test_pdf_has_a_summary_page_and_a_page_per_result(tmp_path):
    from gui.report_pdf import html_to_pdf

    queries, meta = report(3)
    pages = html_to_pdf(render_html(queries, meta), tmp_path / "r.pdf")
    assert pages == 4 and (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")



def test_tall_and_wide_photos_fit_their_box_and_keep_a_page_per_result(tmp_path):
    import re

    from gui.report_pdf import html_to_pdf

    queries, meta = report(3)
    tall, wide = Image.new("RGB", (40, 1000), (30, 40, 120)), Image.new("RGB", (1000, 40), (30, 40, 120))
    for r in queries[0].results:
        r.result_image, r.query_image = tall, wide
    queries[0].image = tall
    html = render_html(queries, meta)
    sizes = [(int(w), int(h)) for w, h in re.findall(r'<img src="data:image/jpeg[^>]*width="(\d+)" height="(\d+)"', html)]
    assert sizes[0] == (5, 120)  # the query's, on the summary
    assert set(sizes[1:]) == {(200, 8), (8, 200)}  # each page's query and result photos: 200 at most, either side
    assert html_to_pdf(html, tmp_path / "r.pdf") == 4  # a 40 x 1,000 photo 200 wide ran 7 pages (157 with 16)


def test_fifty_results_stay_small(tmp_path):
    queries, meta = report(50)
    html = render_html(queries, meta)
    assert len(html.encode()) < 20 * 1024 * 1024


def test_safe_file_names():
    assert safe_filename("../../etc/passwd") == "etc_passwd"
    assert safe_filename('a<b>:c"d|e?f*g') == "a_b_c_d_e_f_g"
    assert safe_filename("CON") == "_CON" and safe_filename("  ..  ") == "report"
    assert safe_filename("платье 👗") == "платье 👗"
    assert safe_filename("red dress \u202egnp.exe\u200b") == "red dress gnp.exe"  # shown as "exe.png" before
    long = safe_filename("ドレス" * 100, end="-P005")  # cut to 180 bytes: the product id is kept whole
    assert long.startswith("ドレス") and long.endswith("-P005") and len(long.encode("utf-8")) <= 180
    assert safe_filename("x" * 500, end="-a/b").endswith("x-a_b") and len(safe_filename("x" * 500, end="-1")) == 120
    assert len(safe_filename("x" * 500)) == 120
    long = safe_filename("vitrina-demo-" + "赤いドレス" * 30)  # 120 characters were 334 bytes: "File name too long"
    assert len(long.encode("utf-8")) <= 180 and long.startswith("vitrina-demo-赤いドレス") and "\ufffd" not in long


def test_a_clustered_report_names_each_results_cluster_and_the_limit():
    queries, meta = report(2)
    queries[0].results[0].cluster = "Shirts · <Navy>"
    queries[0].scope = "results only from the cluster “Shirts · <Navy>” (40 products)"
    html = render_html(queries, ReportMeta("demo", 468, ("vit-x",), clustering="12 clusters (kmeans, vit space)"))
    assert "Clusters: 12 clusters (kmeans, vit space)" in html and "<th>cluster</th>" in html
    assert html.count("Shirts · &lt;Navy&gt;") == 3  # the summary row, the result's page, the query's limit
    assert "<td>—</td>" in html  # the second result has no cluster (HDBSCAN's noise)
    plain = render_html(*report(2))
    assert "<th>cluster</th>" not in plain and "Clusters:" not in plain


def test_a_text_without_words_gets_no_highlights_and_says_so():
    import numpy as np

    from explain.report import word_colours
    from explain.types import Explanation

    nothing = Explanation("ig", "id", "t", np.zeros(0, np.float32), tokens=())
    assert word_colours(nothing) == []
    queries, meta = report(1)
    queries[0].text, queries[0].note = "👗", "the query text has no words the text model reads"
    queries[0].results[0].explanation.words["query"] = nothing
    html = render_html(queries, meta)
    assert "Note: the query text has no words the text model reads" in html
    assert "<b>query</b>:" in html and "(no words the text model reads" in html


def test_a_cut_text_says_after_how_many_words():
    import numpy as np

    from explain.tokens import coverage_note
    from explain.types import Explanation

    words = ("navy", "shirt")
    cut = Explanation("ig", "id", "t", np.ones(2, np.float32), tokens=words, extras={"words_total": 300})
    whole = Explanation("ig", "id", "t", np.ones(2, np.float32), tokens=words, extras={"words_total": 2})
    assert coverage_note(cut) == "cut after 2 of 300 words: the text model reads no further"
    assert coverage_note(whole) == ""
    queries, meta = report(1)
    queries[0].results[0].explanation.words["description"] = cut
    assert "(cut after 2 of 300 words" in render_html(queries, meta)


def captions(html):
    """(alt, caption) of each photo on the results' pages."""
    import re
    from html import unescape

    return [(unescape(a), unescape(c)) for a, c in
            re.findall(r'<img src="[^"]*" alt="([^"]*)" width="\d+" height="\d+"><br><span class="cap">([^<]*)</span>', html)]


def test_a_photo_without_a_map_is_not_captioned_as_one():
    from explain.explainer import MatchExplanation

    queries, meta = report(1)
    r = queries[0].results[0]
    assert captions(render_html(queries, meta)) == [("query heatmap", "Query — gradient-weighted attention"),
                                                    ("result heatmap", "Result — gradient-weighted attention")]
    e = r.explanation
    # A text query: no query photo, no match map.
    r.query_image, queries[0].image = None, None
    r.explanation = MatchExplanation(e.score, e.result_maps, {}, None, e.words, e.faithfulness)
    assert captions(render_html(queries, ReportMeta("demo", 468, ("vit-x",), "match map"))) == \
        [("result photo", "Result photo (no match map: the query has no photo)")]
    # A photo query under the perturbation map, which covers the result's photo only.
    r.query_image = queries[0].image = r.result_image
    r.explanation = MatchExplanation(e.score, {**e.result_maps, "perturbation": e.result_maps["grad-cam vit"]},
                                     e.query_maps, e.match, e.words, e.faithfulness)
    assert captions(render_html(queries, ReportMeta("demo", 468, ("vit-x",), "perturbation"))) == \
        [("query photo", "Query photo (no perturbation map: it covers the result's photo only)"),
         ("result heatmap", "Result — perturbation")]
    # A result without a photo beside a photo query: nothing to map the query's photo against.
    r.result_image = None
    r.explanation = MatchExplanation(float("nan"), words=e.words)
    assert captions(render_html(queries, meta)) == \
        [("query photo", "Query photo (no gradient-weighted attention map: the result has no photo)")]


class WordsOnly:
    """An explainer's stand-in: records the photos it is given; its text model reads words of letters only."""

    class words:
        @staticmethod
        def readable_words(text):
            import re

            return re.findall(r"[a-z]+", text.lower())

    def __init__(self):
        self.photos = []

    def explain(self, photo, title, description, image, text, faithfulness=()):
        from explain.explainer import MatchExplanation

        self.photos.append(photo)
        return MatchExplanation(float("nan"))


def test_a_product_photo_that_cannot_be_read_costs_its_maps_not_the_report(engine):
    from pathlib import Path

    from core.progress import drain
    from core.search import Query, search
    from explain.report import collect

    hits = search(engine, Query(text="shirt", k=3))
    Path(engine.catalog.product(hits[0].pk).image_path).unlink()  # moved away since the import
    Path(engine.catalog.product(hits[1].pk).image_path).write_bytes(b"not a photo")
    explainer = WordsOnly()
    queries = drain(collect(engine, explainer, None, [("shirt", None, ""), ("👗", None, "")], 3, "grad-cam vit"),
                    lambda p: None)
    first = queries[0].results
    assert [r.sku for r in first] == [engine.catalog.product(h.pk).sku for h in hits]
    assert explainer.photos[:3] == [None, None, explainer.photos[2]] and explainer.photos[2] is not None
    assert first[0].result_image is None and "Its photo could not be read" in first[0].note
    assert "does not exist" in first[0].note and "is not an image" in first[1].note and first[2].note == ""
    assert queries[0].note == "" and "no words the text model reads" in queries[1].note
    html = render_html(queries, ReportMeta("demo", 12, ("x",)))
    assert html.count("Its photo could not be read, so it is explained by its words only") >= 2
    assert "Note: the query text has no words the text model reads" in html


def test_progress_counts_the_results_a_query_can_have(engine):
    from core.progress import drain
    from explain.report import collect

    seen = []
    queries = drain(collect(engine, WordsOnly(), None, [("shirt", None, ""), ("dress", None, "")], 1000,
                            "grad-cam vit"), seen.append)
    found = sum(len(q.results) for q in queries)
    assert found <= 2 * len(engine.catalog) and seen[-1].done == seen[-1].total == found  # it finishes
    assert all(p.total <= 2 * len(engine.catalog) for p in seen)
    assert seen[0].message == f"query 1: result 1/{len(queries[0].results)}"


def test_a_pdf_that_cannot_be_written_says_so_and_leaves_the_old_one(tmp_path, monkeypatch):
    import pytest

    from core.errors import AppError
    from gui import report_pdf
    from gui.report_pdf import html_to_pdf

    html = render_html(*report(3))
    (tmp_path / "folder.pdf").mkdir()
    with pytest.raises(AppError, match="folder.pdf cannot be written: Is a directory"):
        html_to_pdf(html, tmp_path / "folder.pdf")
    assert html_to_pdf(html, tmp_path / "r.pdf") == 4
    old = (tmp_path / "r.pdf").read_bytes()
    real = report_pdf.QPdfWriter
    # Qt only logs "QPainter::begin(): Returned false" when it cannot open its file, and writes nothing.
    monkeypatch.setattr(report_pdf, "QPdfWriter", lambda path: real(str(tmp_path / "gone" / "x.pdf")))
    with pytest.raises(AppError, match="r.pdf cannot be written: Qt could not print"):
        html_to_pdf(html, tmp_path / "r.pdf")
    assert (tmp_path / "r.pdf").read_bytes() == old
    monkeypatch.setattr(report_pdf, "QPdfWriter", real)
    assert html_to_pdf(render_html(*report(1)), tmp_path / "r.pdf") == 2  # the new file's pages, not the old one's
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.pdf", "r.pdf"]  # no temporary file left


def test_a_pdf_printed_first_leaves_an_application_that_windows_can_use(tmp_path):
    import subprocess
    import sys

    script = ("from pathlib import Path; from gui.report_pdf import html_to_pdf; "
              f"html_to_pdf('<p>x</p>', Path({str(tmp_path / 'r.pdf')!r})); "
              "from PySide6.QtWidgets import QWidget; QWidget(); print('window made')")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1], env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0 and "window made" in done.stdout, done.stderr[-500:]  # it aborted


def test_a_report_written_beside_earlier_ones_keeps_them_and_a_failure_leaves_no_half(tmp_path, monkeypatch):
    import pytest

    from core.errors import AppError
    from gui import report_pdf
    from gui.report_pdf import pdf_page_count, write_report

    html = render_html(*report(1))
    (tmp_path / "r.html").write_text("an earlier report")
    out, pages = write_report(html, tmp_path, "r")
    assert out == tmp_path / "r (2)" and pages == 2 == pdf_page_count(tmp_path / "r (2).pdf")
    assert (tmp_path / "r (2).html").read_text() == html and (tmp_path / "r.html").read_text() == "an earlier report"

    real_write = Path.write_text

    def disk_full(self, *args, **kwargs):
        if ".html" in self.name:  # the new HTML, written beside it first
            raise OSError(28, "No space left on device")
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", disk_full)
    with pytest.raises(AppError, match="could not be written to .*No space left on device"):
        write_report(html, tmp_path, "r")
    monkeypatch.setattr(Path, "write_text", real_write)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r (2).html", "r (2).pdf", "r.html"]  # no PDF alone

    assert write_report(html, tmp_path, "r", cancelled=lambda: True) is None  # Cancel while it printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r (2).html", "r (2).pdf", "r.html"]
    assert report_pdf.write_report(html, tmp_path, "s")[0] == tmp_path / "s"
    (tmp_path / "t.html").symlink_to(tmp_path / "gone" / "elsewhere.html")  # a dangling link is taken too
    assert write_report(html, tmp_path, "t")[0] == tmp_path / "t (2)" and not (tmp_path / "gone").exists()
    odd = html.replace("</body>", "photo-\udcff.png</body>")  # a file name's undecodable byte
    assert write_report(odd, tmp_path, "odd")[0] == tmp_path / "odd"
    assert "photo-?.png" in (tmp_path / "odd.html").read_text() and (tmp_path / "odd.pdf").exists()


def test_a_report_says_the_filters_and_the_liked_products_of_its_query():
    from explain.report import ReportQuery, filters_scope

    assert filters_scope() == "" and filters_scope({"articleType": ()}) == ""
    assert filters_scope({"articleType": ("Dresses", "Skirts")}, 10, 49.5, 4, 0.3, ("baseColour", "Red")) == (
        "filters: Article type Dresses or Skirts · Base colour Red (the photo's category) · price 10–49.5 · "
        "rating ≥ 4 · similarity ≥ 0.30")
    assert filters_scope(price_min=5) == "filters: price ≥ 5"
    assert filters_scope(price_max=123456.78) == "filters: price ≤ 123456.78"  # not 123457 (6 digits of :g)
    assert filters_scope(price_max=1e6) == "filters: price ≤ 1000000"
    assert filters_scope(price_max=0.5) == "filters: price ≤ 0.5"
    queries, meta = report(1)
    liked = ReportQuery(2, like=("Red <b>shirt</b> (P1)", "Blue shirt (P2)"), unlike=("Hat (P9)",),
                        scope="filters: price ≤ 5", results=queries[0].results)
    html = render_html([queries[0], liked], meta)
    assert "More like: Red &lt;b&gt;shirt&lt;/b&gt; (P1); Blue shirt (P2)" in html and "Less like: Hat (P9)" in html
    assert "filters: price ≤ 5" in html
    assert html.count("each result is explained against the first of these with a photo") == 1  # not the text one
    both = ReportQuery(3, "red shirt", queries[0].image, "pasted photo", queries[0].results,
                       weights=weights_line("red shirt", True, 1.0))
    assert "weighed: photo 100 %, words 0 %" in render_html([both], meta)
    assert weights_line("red shirt", False) == weights_line("", True) == ""


def test_a_result_s_curves_are_under_its_photos_not_beside_them_past_the_page():
    import re

    html = render_html(*report(1))
    rows = re.findall(r"<tr>(.*?)</tr>", html, flags=re.S)
    curves = [row for row in rows if "deletion and insertion curves" in row]
    # two 200 pt photos and 230 pt of curves in one row are wider than A4's 527 pt: the curves were cut
    assert curves and all(row.count("<img") == 1 for row in curves)


def test_a_replaced_report_whose_html_cannot_be_put_in_place_stays_as_it_was(tmp_path, monkeypatch):
    import os

    import pytest

    from core.errors import AppError
    from gui import report_pdf

    html = render_html(*report(1))
    for name in ("r.html", "r.pdf"):
        (tmp_path / name).write_text(f"the earlier {name}")
    real_replace = os.replace

    def held_open(src, dst):  # Windows: another program holds the HTML open
        if str(dst).endswith(".html"):
            raise PermissionError(13, "Permission denied")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", held_open)
    for replace in (True, False):
        with pytest.raises(AppError, match="Permission denied"):
            report_pdf.write_report(html, tmp_path, "r", replace=replace)
        # the earlier PDF back, not the new one beside the earlier HTML; no new PDF alone; no temporary file left
        assert sorted((p.name, p.read_text()) for p in tmp_path.iterdir()) == [
            ("r.html", "the earlier r.html"), ("r.pdf", "the earlier r.pdf")]
    monkeypatch.setattr(os, "replace", real_replace)
    assert report_pdf.write_report(html, tmp_path, "r", replace=True) == (tmp_path / "r", 2)
    assert (tmp_path / "r.html").read_text() == html and sorted(p.name for p in tmp_path.iterdir()) == [
        "r.html", "r.pdf"]


def test_a_title_or_query_of_megabytes_is_cut_short_in_the_report(tmp_path):
    from gui.report_pdf import html_to_pdf

    word = "x" * 200_000  # one word: no line to break it at (a 2 MB title printed 897 pages)
    queries, meta = report(1, title=word)
    queries[0].text = word
    queries[0].like = (f"{word} (P1)",)
    html = render_html(queries, meta)
    # the query (cut at 1,200), its liked product, the summary's row and the result's heading (at 300)
    assert word not in html and html.count("x" * 299 + "…") == 4 and ("x" * 1199 + "…") in html
    assert "x" * 301 not in html.replace("x" * 1199 + "…", "")
    assert html_to_pdf(html, tmp_path / "r.pdf") <= 4
