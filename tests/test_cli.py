"""The command line end to end, with the fake encoders swapped in for the real ones."""
import json

import pytest

from core import cli


@pytest.fixture(autouse=True)
def fake_models(monkeypatch):
    from tests.fakes import fake_spaces

    monkeypatch.setattr("core.spaces.default_spaces", fake_spaces)


def test_import_search_eval(tmp_path, mini_dir, capsys):
    cat = str(tmp_path / "shop.vitrina")
    assert cli.run(["import", cat, str(mini_dir / "products.csv"), "--category", "articleType",
                    "--pairs", str(mini_dir / "copurchase.csv"), "--report", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "12 added" in out and "3 imported" in out
    assert json.loads((tmp_path / "r.json").read_text())["added"] == 12
    assert cli.run(["search", cat, "--text", "green shoe", "-k", "2", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["id"] == "P011" and set(rows[0]) >= {"rank", "score", "score_text"}
    assert "note:" not in capsys.readouterr().err
    assert cli.run(["search", cat, "--text", "👗👠🔥", "-k", "2"]) == 0  # found, and said what it was found as
    assert "note: the text has no word the text model reads (emoji carry none)" in capsys.readouterr().err
    assert cli.run(["search", cat, "--like", "P001", "--filter", "articleType=Shoes", "--price-max", "100"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[2] for line in lines] == ["P009", "P010"]  # shoes priced 90 and 100
    assert cli.run(["eval", cat, "--label", "articleType", "--queries", "5", "-k", "3",
                    "--json", str(tmp_path / "e.json")]) == 0
    assert set(json.loads((tmp_path / "e.json").read_text())["scores"]) == {"image", "text", "fused"}
    assert cli.run(["eval", cat, "--label", "articleType", "--queries", "5", "--modes", "image,image", "--json",
                    str(tmp_path / "e.json")]) == 0  # a mode named twice is evaluated once (it read 10 queries of 5)
    assert json.loads((tmp_path / "e.json").read_text())["mode_queries"] == {"image": 5}
    capsys.readouterr()
    assert cli.run(["eval", cat, "--label", "copurchase", "--split", "test"]) == 2  # 3 pairs: none within the split
    assert "No product has a co-purchase among the products searched (the split asked for)" in \
        capsys.readouterr().err
    assert cli.run(["import", cat, str(mini_dir / "products.csv"), "--images", str(mini_dir / "products.csv")]) == 2
    assert "products.csv is a file: give the folder the image paths start from." in capsys.readouterr().err
    assert cli.run(["index", cat, "--rebuild"]) == 0
    assert "image: rebuilt, 12 vectors (flat)" in capsys.readouterr().out


def test_errors_are_messages_not_tracebacks(tmp_path, mini_dir, capsys):
    assert cli.run(["search", str(tmp_path / "none.vitrina"), "--text", "x"]) == 2
    assert "No catalog at" in capsys.readouterr().err
    cat = str(tmp_path / "shop.vitrina")
    cli.run(["import", cat, str(mini_dir / "products.csv")])
    capsys.readouterr()
    assert cli.run(["search", cat, "--like", "NOPE"]) == 2
    assert "No product with id 'NOPE'" in capsys.readouterr().err
    assert cli.run(["search", cat, "--text", "x", "--filter", "articleType"]) == 2
    assert "FIELD=VALUE" in capsys.readouterr().err
    assert cli.run(["import", cat, str(mini_dir / "missing.csv")]) == 2


def test_import_with_a_local_clip_checkpoint(tmp_path, mini_dir, capsys):
    from tests.test_encoders import tiny_clip_folder

    folder = tiny_clip_folder(tmp_path)
    cat = str(tmp_path / "clip.vitrina")
    assert cli.run(["import", cat, str(mini_dir / "products.csv"), "--clip", str(folder)]) == 0
    assert "clip: built 12 vectors" in capsys.readouterr().out
    assert cli.run(["search", cat, "--text", "red dress", "-k", "3", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 3 and all("score_clip" in r and "score_text" in r for r in rows)
    assert cli.run(["import", cat, str(mini_dir / "products.csv"), "--clip", str(tmp_path / "nothing")]) == 2
    assert "no config.json" in capsys.readouterr().err


def test_files_that_cannot_be_written_are_messages_too(tmp_path, mini_dir, capsys):
    cat = str(tmp_path / "shop.vitrina")
    cli.run(["import", cat, str(mini_dir / "products.csv"), "--category", "articleType"])
    capsys.readouterr()
    nowhere = tmp_path / "no-such-folder" / "e.json"
    assert cli.run(["eval", cat, "--label", "articleType", "--queries", "3", "--json", str(nowhere)]) == 2
    assert capsys.readouterr().err.splitlines() == [  # before the evaluation, not after it
        f"vitrina: Cannot write {nowhere}: the folder {nowhere.parent} does not exist."]
    assert cli.run(["eval", cat, "--label", "articleType", "--queries", "3", "--json", str(tmp_path)]) == 2
    assert capsys.readouterr().err.splitlines() == [f"vitrina: Cannot write {tmp_path}: it is a folder."]
    (tmp_path / "a-file").write_text("")
    with pytest.raises(cli.AppError, match="is a file; give a folder for the report"):
        cli.out_folder(tmp_path / "a-file", "report")
    with pytest.raises(cli.AppError, match="cannot be written to"):
        cli.out_folder(tmp_path / "a-file" / "sub", "report")
    assert cli.out_folder(tmp_path / "new" / "sub", "report").is_dir()
    assert list((tmp_path / "new" / "sub").iterdir()) == []  # the write test leaves nothing behind


def test_an_output_file_is_never_the_catalog_or_an_input(tmp_path, mini_dir, capsys, monkeypatch):
    cat = tmp_path / "shop.vitrina"
    products = mini_dir / "products.csv"
    assert cli.run(["import", str(cat), str(products), "--category", "articleType"]) == 0
    capsys.readouterr()
    before = products.read_bytes()
    (tmp_path / "link.json").symlink_to(cat)
    monkeypatch.chdir(tmp_path)
    for args, said in (
            (["import", str(cat), str(products), "--report", str(cat)], "it is the catalog"),
            (["import", "shop.vitrina", str(products), "--report", str(cat)], "it is the catalog"),
            (["import", str(cat), str(products), "--report", f"{cat}-wal"], "a file of the catalog"),  # emptied it
            (["import", str(cat), str(products), "--report", str(products)], "it is the input file"),
            (["import", str(cat), str(products), "--pairs", str(mini_dir / "copurchase.csv"), "--report",
              str(mini_dir / "copurchase.csv")], "it is the input file"),
            (["eval", str(cat), "--label", "articleType", "--json", "link.json"], "it is the catalog"),
            (["goes-with", str(cat), "--product", "P001", "--json", str(cat)], "it is the catalog"),
            (["goes-with", str(cat), "--eval", "--json", f"{cat}.index/x.json"], "a file of the catalog")):
        assert cli.run(args) == 2, args
        err = capsys.readouterr().err
        assert said in err and "Give another file name." in err, err
    assert products.read_bytes() == before
    assert cli.run(["search", str(cat), "--text", "red", "-k", "20", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 12  # the catalog is whole


def test_clusters_then_search_and_report_within_one(tmp_path, mini_dir, capsys):
    from core.catalog import Catalog
    from core.insights import cluster

    cat = str(tmp_path / "shop.vitrina")
    assert cli.run(["import", cat, str(mini_dir / "products.csv"), "--category", "articleType"]) == 0
    capsys.readouterr()
    assert cli.run(["clusters", cat, "-k", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("3 clusters (kmeans, image space): silhouette")
    with Catalog.open(tmp_path / "shop.vitrina") as catalog:
        c = cluster(catalog, "image", "kmeans")  # the default clustering, which --cluster refers to
        biggest = max(c.clusters, key=lambda x: x.size)
        members = {catalog.product(pk).sku for pk in c.members(biggest.label)}
    assert cli.run(["search", cat, "--text", "shoe", "-k", "12", "--json", "--cluster", str(biggest.label)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and {r["id"] for r in rows} <= members and len(rows) == len(members) < 12
    assert cli.run(["search", cat, "--text", "shoe", "--cluster", biggest.name.upper(), "--json"]) == 0
    assert {r["id"] for r in json.loads(capsys.readouterr().out)} == {r["id"] for r in rows}
    assert cli.run(["search", cat, "--text", "shoe", "--cluster", "no such thing"]) == 2
    assert "No cluster 'no such thing'" in capsys.readouterr().err
    with Catalog.open(tmp_path / "shop.vitrina") as catalog:  # the clustering `clusters -k 3` listed, not the default
        three = cluster(catalog, "image", "kmeans", 3)
        assert len(three.clusters) != len(c.clusters)
        smallest = min(three.clusters, key=lambda x: x.size)
        members = {catalog.product(pk).sku for pk in three.members(smallest.label)}
    assert cli.run(["search", cat, "--text", "shoe", "-k", "12", "--json", "--cluster", str(smallest.label),
                    "--cluster-k", "3"]) == 0
    out = capsys.readouterr()
    assert {r["id"] for r in json.loads(out.out)} == members
    assert f"cluster {smallest.label} of 3 clusters (kmeans, image space" in out.err
    assert f"{smallest.name}, {smallest.size} products" in out.err
    assert cli.run(["search", cat, "--text", "shoe", "--cluster", "0", "--cluster-k", "1"]) == 2
    assert "--cluster-k needs at least 2 clusters" in capsys.readouterr().err


def test_numbers_and_names_a_command_cannot_use_are_refused_before_it_runs(tmp_path, mini_dir, capsys):
    cat = str(tmp_path / "shop.vitrina")
    cli.run(["import", cat, str(mini_dir / "products.csv"), "--category", "articleType"])
    capsys.readouterr()
    for args in (["search", cat, "--text", "shoe", "--price-max", "nan"],
                 ["search", cat, "--text", "shoe", "--price-min", "-5"],
                 ["search", cat, "--text", "shoe", "--min-score", "nan"],
                 ["eval", cat, "--label", "articleType", "--queries", "-3"],
                 ["eval", cat, "--label", "articleType", "-k", "0"],
                 ["adapt", cat, "--epochs", "0"]):
        with pytest.raises(SystemExit) as stop:  # argparse: a usage line and the reason, exit 2
            cli.run(args)
        assert stop.value.code == 2 and "give a number" in capsys.readouterr().err, args
    for more, message in ((["--modes", "image,bogus"], "Unknown mode in --modes 'image,bogus': use image, text, fused"),
                          (["--spaces", "bogus"], "Unknown space in --spaces 'bogus': shop has "),
                          (["--split", "train", "--group-by", "nope"], "shop has no column 'nope' to split by")):
        assert cli.run(["eval", cat, "--label", "articleType", *more]) == 2
        assert message in capsys.readouterr().err
    assert cli.run(["search", cat, "--text", "shoe", "--price-max", "1e9", "--json"]) == 0  # a bound is a bound


def test_an_id_column_given_by_hand_keeps_the_guessed_columns(tmp_path, mini_dir):
    lines = (mini_dir / "products.csv").read_text().splitlines()
    (mini_dir / "codes.csv").write_text("\n".join(["code" + lines[0][2:], *lines[1:]]) + "\n")  # no column "id"
    cat = tmp_path / "c.vitrina"
    assert cli.run(["import", str(cat), str(mini_dir / "codes.csv"), "--id", "code"]) == 0
    from core.catalog import Catalog

    with Catalog.open(cat) as catalog:
        p = catalog.product(catalog.pk_for_sku("P001"))
        assert (p.title, p.price, p.brand, p.image_path) == ("Red shirt", 10.0, "Acme",
                                                             str((mini_dir / "images" / "P001.png").resolve()))
        assert catalog.embedding_count("image") == 12


def test_an_import_that_cannot_start_leaves_no_catalog_and_says_why(tmp_path, mini_dir, capsys):
    cat, src = tmp_path / "new.vitrina", str(mini_dir / "products.csv")
    for args, message in (
            (["--category", "nope"], "The mapping names columns that the file does not have: nope."),
            (["--report", str(tmp_path / "nodir" / "r.json")], f"the folder {tmp_path / 'nodir'} does not exist."),
            (["--clip", str(tmp_path / "nothing")], "no config.json"),
            (["--pairs", str(tmp_path / "none.csv")], "none.csv does not exist or is not a file."),
            (["--images", str(tmp_path / "nowhere")], "does not exist.")):
        assert cli.run(["import", str(cat), src, *args]) == 2, args
        assert message in capsys.readouterr().err, args
        assert not cat.exists() and list(tmp_path.iterdir()) == [mini_dir], args
    assert cli.run(["import", str(cat), str(mini_dir)]) == 2
    assert capsys.readouterr().err == (f"vitrina: {mini_dir} is a folder: give the file itself, a .csv, "
                                       ".tsv or .jsonl file.\n")
    assert cli.run(["import", str(cat), src]) == 0  # an existing catalog that a later import fails on stays
    assert cli.run(["import", str(cat), src, "--images", str(tmp_path / "nowhere")]) == 2
    from core.catalog import Catalog

    with Catalog.open(cat) as catalog:
        assert len(catalog) == 12


def test_filter_values_are_matched_as_the_catalog_spells_them_and_unknown_ones_named(tmp_path, mini_dir, capsys):
    cat = str(tmp_path / "shop.vitrina")
    assert cli.run(["import", cat, str(mini_dir / "products.csv"), "--category", "articleType"]) == 0
    capsys.readouterr()
    assert cli.run(["search", cat, "--text", "shoe", "--filter", "articleType= shoes", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 4 and {r["id"] for r in rows} == {"P009", "P010", "P011", "P012"}
    assert cli.run(["search", cat, "--text", "shoe", "--filter", "articleType=Boots"]) == 2
    err = capsys.readouterr().err
    assert "No product has articleType='Boots'" in err and "Shoes" in err and "Tshirts" in err


def test_searching_a_catalog_without_products_says_so_not_to_loosen_filters(tmp_path, capsys):
    from core.catalog import Catalog

    Catalog.create(tmp_path / "empty.vitrina").close()
    assert cli.run(["search", str(tmp_path / "empty.vitrina"), "--text", "shoes"]) == 0
    out = capsys.readouterr().out
    assert "empty has no products yet (add them with `vitrina import`)" in out and "loosen" not in out


def test_odd_but_plausible_search_and_insights_options_are_answered_or_refused_with_why(tmp_path, mini_dir, capsys):
    cat = str(tmp_path / "shop.vitrina")
    assert cli.run(["import", cat, str(mini_dir / "products.csv")]) == 0
    capsys.readouterr()
    # an id copied with the spaces around it in the products file (the import keeps it without them)
    assert cli.run(["search", cat, "--like", "  P001 ", "-k", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["id"] != "P001"
    assert cli.run(["search", cat, "--like", "P001", "--unlike", " P001"]) == 2  # its scores were halved, unsaid
    assert "'P001' is given both as --like and as --unlike" in capsys.readouterr().err
    every = [a for i in range(1, 13) for a in ("--like", f"P{i:03d}")]
    assert cli.run(["search", cat, *every]) == 0  # no filter was given: none to loosen
    out = capsys.readouterr().out
    assert "every product of shop is an example given with --like" in out and "loosen" not in out
    assert cli.run(["search", cat, "--text", "shoe", "--price-max", "0.01"]) == 0
    assert "loosen the filters" in capsys.readouterr().out
    assert cli.run(["clusters", cat, "--method", "hdbscan", "-k", "5"]) == 2  # ran HDBSCAN, -k ignored unsaid
    assert "-k is the number of KMeans clusters" in capsys.readouterr().err
    assert cli.run(["search", cat, "--text", "shoe", "--cluster", "0", "--cluster-method", "hdbscan",
                    "--cluster-k", "3"]) == 2
    assert "--cluster-k is the number of KMeans clusters" in capsys.readouterr().err
    assert cli.run(["goes-with", cat, "--product", "P001", "--group-by", "nope"]) == 2
    assert "--group-by says how --train and --eval split the products" in capsys.readouterr().err


def test_text_arguments_not_in_utf8_are_said_and_paths_in_any_encoding_work(tmp_path, mini_dir, capsys):
    import os

    cat = str(tmp_path / "shop.vitrina")
    assert cli.run(["import", cat, str(mini_dir / "products.csv")]) == 0
    capsys.readouterr()
    latin1 = os.fsdecode(b"caf\xe9")  # a Latin-1 script's "café": a lone surrogate, which the text model and SQLite
    for args, option in ((["search", cat, "--text", latin1], "--text"),  # raised tracebacks on
                         (["search", cat, "--like", latin1], "--like"),
                         (["search", cat, "--text", "red", "--not", latin1], "--not"),
                         (["goes-with", cat, "--product", latin1], "--product")):
        assert cli.run(args) == 2
        assert capsys.readouterr().err == (f"vitrina: {option} “caf\ufffd” is not UTF-8 text (a terminal or a script "
                                           "in another encoding?): give it in UTF-8.\n")
    odd = tmp_path / os.fsdecode(b"shop-\xe9.vitrina")  # a file name's bytes are a name, whatever they are
    os.link(cat, odd)
    assert cli.run(["search", str(odd), "--text", "red", "-k", "2"]) == 0
