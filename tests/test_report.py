"""Reports: sections, escaping, embedded images, PDF page count, file names."""
from html.parser import HTMLParser

from PIL import Image

from explain.rationale import Rationale
from explain.report import ReportMeta, ReportQuery, ReportResult, render_html, safe_filename
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


def test_fifty_results_stay_small(tmp_path):
    queries, meta = report(50)
    html = render_html(queries, meta)
    assert len(html.encode()) < 20 * 1024 * 1024


def test_safe_file_names():
    assert safe_filename("../../etc/passwd") == "etc_passwd"
    assert safe_filename('a<b>:c"d|e?f*g') == "a_b_c_d_e_f_g"
    assert safe_filename("CON") == "_CON" and safe_filename("  ..  ") == "report"
    assert safe_filename("платье 👗") == "платье 👗"
    assert len(safe_filename("x" * 500)) == 120


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
