"""`vitrina explain` end to end with the real models: overlays of a portrait query photo keep its
shape, and explanation.json is strict JSON (a faithfulness that cannot be measured is null) that
names the query and the files; a second explanation in the same folder leaves only its own overlays."""
import json

import pytest
from PIL import Image

import main

pytestmark = pytest.mark.weights


def test_explain_writes_overlays_and_strict_json(tmp_path, mini_dir, capsys):
    cat = str(tmp_path / "shop.vitrina")
    assert main.main(["import", cat, str(mini_dir / "products.csv"), "--category", "articleType"]) == 0
    query = tmp_path / "tall.png"
    photo = Image.new("RGB", (60, 120), "white")
    photo.paste((200, 30, 30), (10, 20, 50, 100))
    photo.save(query)
    out = tmp_path / "why"
    assert main.main(["explain", cat, "--result", "P001", "--image", str(query), "--text", "red shirt red",
                    "--out", str(out), "--perturbation"]) == 0
    printed = capsys.readouterr().out
    assert "P001" in printed and "faithfulness" in printed and "nan" not in printed
    data = json.loads((out / "explanation.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert set(data["faithfulness"]) == {"attention rollout", "gradient-weighted attention", "grad-cam cnn",
                                         "grad-cam vit", "perturbation"}
    assert Image.open(out / "result-perturbation.png").size == (48, 48)
    assert not (out / "query-perturbation.png").exists()  # the slow map covers the result's photo only
    for c in data["faithfulness"].values():
        assert (c["faithfulness"] is None) == (not c["measurable"])
    assert Image.open(out / "query-attention-rollout.png").size == (60, 120)
    assert Image.open(out / "result-grad-cam-cnn.png").size == (48, 48)
    assert data["query"] == {"text": "red shirt red", "photo": str(query.resolve()), "image_weight": 0.5}
    assert [w for w, _ in data["words"]["query"]] == ["red", "shirt", "red"]  # in text order, repeats kept
    assert all(isinstance(v, float) for _, v in data["words"]["query"])
    assert sorted(data["files"]) == sorted(p.name for p in out.glob("*.png")) and len(data["files"]) == 10
    (out / "query-mine.png").write_bytes(b"")  # the user's own files stay
    (out / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert main.main(["explain", cat, "--result", "P001", "--text", "👗", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "note: the query text has no words the text model reads" in printed
    assert "words of the query: no words the text model reads" in printed
    data = json.loads((out / "explanation.json").read_text())
    assert data["query"] == {"text": "👗", "photo": None, "image_weight": 0.5} and data["words"]["query"] == []
    assert "no words the text model reads" in data["words_note"]["query"]
    assert sorted(p.name for p in out.iterdir()) == sorted(data["files"] + ["explanation.json", "notes.txt",
                                                                            "query-mine.png"])
    assert not (out / "result-match-map.png").exists() and not (out / "result-perturbation.png").exists()
    assert len(data["files"]) == 4  # the four fast maps of the result's photo
    assert main.main(["explain", cat, "--result", "NOPE", "--text", "x", "--out", str(tmp_path / "ex")]) == 2
    assert "No product with id 'NOPE'" in capsys.readouterr().err
    assert not (tmp_path / "ex").exists()  # no folder made for nothing
    (tmp_path / "more.csv").write_text("id,title\nP099,Plain tee\n")  # a product without a photo
    assert main.main(["import", cat, str(tmp_path / "more.csv")]) == 0
    capsys.readouterr()
    assert main.main(["explain", cat, "--result", "P099", "--text", "tee", "--out", str(tmp_path / "ex")]) == 0
    assert "similarity to the query (ViT space): n/a (the product has no photo)" in capsys.readouterr().out
    data = json.loads((tmp_path / "ex" / "explanation.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert data["score"] is None
    missing = tmp_path / "new-out"
    assert main.main(["explain", cat, "--result", "P001", "--image", str(tmp_path / "gone.jpg"),
                      "--out", str(missing)]) == 2
    assert "gone.jpg' does not exist" in capsys.readouterr().err and not missing.exists()  # no folder for nothing
    (out / "result-grad-cam-vit.png").unlink()
    (out / "result-grad-cam-vit.png").mkdir()  # found after the whole computation: "Is a directory"
    assert main.main(["explain", cat, "--result", "P001", "--text", "tee", "--out", str(out)]) == 2
    assert "holds a folder named result-grad-cam-vit.png" in capsys.readouterr().err
    assert main.main(["explain", cat, "--result", "P001", "--text", "tee", "--image-weight", "nan"]) == 2
    assert "--image-weight must be between 0 and 1" in capsys.readouterr().err
    (mini_dir / "images" / "P002.png").unlink()  # moved away since the import
    assert main.main(["explain", cat, "--result", "P002", "--text", "tee"]) == 2
    assert "P002.png' does not exist" in capsys.readouterr().err


def test_report_command_checks_its_inputs_first_and_runs_without_a_display(tmp_path, mini_dir, capsys, monkeypatch):
    import os
    import subprocess
    import sys
    from pathlib import Path

    cat = str(tmp_path / "shop.vitrina")
    assert main.main(["import", cat, str(mini_dir / "products.csv"), "--category", "articleType"]) == 0
    capsys.readouterr()
    queries = tmp_path / "q.csv"
    queries.write_text("text,image\nred dress,\n,missing.jpg\n")
    (tmp_path / "a-file").write_text("")
    (tmp_path / "cols.csv").write_text("sku,name\n1,x\n")
    cases = [(["--queries", str(queries), "--out", str(tmp_path / "r")], "q.csv line 3: The image file "),
             (["--queries", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "r")], "does not exist"),
             (["--queries", str(tmp_path / "cols.csv"), "--out", str(tmp_path / "r")], "a column named text"),
             (["--queries", str(tmp_path / "a-file"), "--out", str(tmp_path / "r")], "Use a .csv, .tsv or .jsonl file"),
             (["--queries", str(mini_dir / "products.csv"), "--out", str(tmp_path / "r"), "--method", "x"],
              "Unknown heatmap 'x'"),
             (["--queries", str(queries.with_name("ok.csv")), "--out", str(tmp_path / "r"), "--cluster", "shoes?"],
              "No cluster 'shoes?' among the ")]
    queries.with_name("ok.csv").write_text("text\nred dress\n")
    for args, message in cases:
        assert main.main(["report", cat, *args, "--no-rationale"]) == 2
        assert message in capsys.readouterr().err
    queries.write_text("text,image\nred dress,\n")
    assert main.main(["report", cat, "--queries", str(queries), "--out", str(tmp_path / "a-file")]) == 2
    assert "is a file" in capsys.readouterr().err
    for catalog, more, message in ((cat, ["-k", "0"], "at least one result per query (got -k 0)"),
                                   (str(tmp_path / "nope.vitrina"), [], "No catalog at")):
        assert main.main(["report", catalog, "--queries", str(queries), "--out", str(tmp_path / "r"), *more]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # nothing was started, no folder made
    for blank in ("\u200b", "\x01", "  "):  # nothing to search for, as `search` and `report` say
        assert main.main(["explain", cat, "--result", "P001", "--text", blank]) == 2
        assert "Give the query" in capsys.readouterr().err
    queries.write_text("text,image\nred dress,\n\u200b,\n")  # a zero-width space alone: no query, said by line
    assert main.main(["report", cat, "--queries", str(queries), "--out", str(tmp_path / "r")]) == 2
    assert "q.csv line 3: give a text or an image" in capsys.readouterr().err
    queries.write_text("text,image\nred dress,\n")
    (tmp_path / "taken" / "report.html").mkdir(parents=True)  # the report's file name is a folder there
    assert main.main(["report", cat, "--queries", str(queries), "--out", str(tmp_path / "taken"), "--no-rationale",
                      "--replace"]) == 2
    assert "report.html: it is a folder" in capsys.readouterr().err
    import gui.report_pdf

    def full_disk(html, part, path):  # the PDF cannot be written after all (the disk filled up meanwhile)
        raise gui.report_pdf.PdfNotWritten(f"The PDF {path} cannot be written: No space left on device.")

    emoji = tmp_path / "emoji"
    emoji.mkdir()
    for name in ("report.html", "report.pdf"):
        (emoji / name).write_text(f"the earlier {name}")
    queries.with_name("emoji.csv").write_text("text,image\n👗,\n")
    ask = ["report", cat, "--queries", str(queries.with_name("emoji.csv")), "--out", str(emoji), "-k", "1",
           "--no-rationale"]
    monkeypatch.setattr(gui.report_pdf, "_print", full_disk)
    assert main.main([*ask, "--replace"]) == 2
    monkeypatch.undo()
    done = capsys.readouterr()
    assert "query 1: the query text has no words the text model reads" in done.out
    assert "report.pdf cannot be written: No space left on device." in done.err
    # the earlier report is as it was (the failed PDF left it beside a new HTML), and no half of a new one is there
    assert sorted((p.name, p.read_text()) for p in emoji.iterdir()) == [
        ("report.html", "the earlier report.html"), ("report.pdf", "the earlier report.pdf")]
    assert main.main(ask) == 0  # an earlier report is kept: the new one is beside it
    assert f"{emoji / 'report (2)'}.html and .pdf (2 pages)" in capsys.readouterr().out
    assert "(no words the text model reads" in (emoji / "report (2).html").read_text()
    assert (emoji / "report.html").read_text() == "the earlier report.html"
    assert main.main([*ask, "--replace"]) == 0  # asked to: the earlier one is replaced, both its files
    assert "(no words the text model reads" in (emoji / "report.html").read_text()
    assert (emoji / "report.pdf").read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in emoji.iterdir()) == ["report (2).html", "report (2).pdf", "report.html",
                                                        "report.pdf"]
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    root = Path(main.__file__).resolve().parent
    done = subprocess.run([sys.executable, str(root / "main.py"), "report", cat, "--queries", str(queries),
                           "--out", str(tmp_path / "r"), "-k", "2", "--no-rationale"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "(3 pages)" in done.stdout  # a summary page and one per result
    assert (tmp_path / "r" / "report.html").read_text().count('class="result"') == 2

    from core.catalog import Catalog
    from core.insights import cluster

    with Catalog.open(tmp_path / "shop.vitrina") as catalog:
        clustering = cluster(catalog, "vit", "kmeans")
        chosen = min(clustering.clusters, key=lambda c: c.size)
        titles = {catalog.product(pk).title for pk in clustering.members(chosen.label)}
    assert main.main(["report", cat, "--queries", str(queries), "--out", str(tmp_path / "c"), "-k", "5",
                      "--no-rationale", "--cluster", chosen.name]) == 0
    html = (tmp_path / "c" / "report.html").read_text()
    assert f"results only from the cluster “{chosen.name}” ({chosen.size} products)" in html
    assert html.count('class="result"') == min(5, chosen.size) == html.count(f"· cluster {chosen.name}</p>")
    import re
    from html import unescape

    shown = [unescape(t) for t in re.findall(r"<h2[^>]*>\d+\. (.*?)</h2>", html)]
    assert shown and set(shown) <= titles
