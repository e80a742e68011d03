import numpy as np
import pytest

from core.errors import AppError
from core.insights import cluster, embedding_map


def colour_space(engine):
    """A space whose vectors are the products' colours, one-hot, plus a little noise."""
    colours = engine.catalog.attribute_column("baseColour")
    names = sorted(set(colours.values()))
    rng = np.random.default_rng(0)
    pks = sorted(colours)
    vecs = np.stack([np.eye(len(names))[names.index(colours[p])] + rng.normal(0, 0.05, len(names)) for p in pks])
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    with engine.catalog.transaction():
        engine.catalog.put_embeddings("toy", "toy", pks, ["h"] * len(pks), vecs)
    return "toy"


def test_kmeans_finds_the_colour_groups_and_names_them(engine):
    c = cluster(engine.catalog, colour_space(engine), "kmeans", k=4)
    assert len(c.clusters) == 4 and sum(x.size for x in c.clusters) == 12
    assert c.silhouette is not None and -1 <= c.silhouette <= 1 and c.davies_bouldin > 0
    colours = engine.catalog.attribute_column("baseColour")
    for x in c.clusters:
        members = c.members(x.label)
        assert len({colours[p] for p in members}) == 1  # the colour grid fake separates colours exactly
        assert x.name and x.attributes[0][0] == "baseColour"
    again = cluster(engine.catalog, "toy", "kmeans", k=4)  # from the cache
    assert np.array_equal(again.labels, c.labels) and again.clusters == c.clusters


def test_hdbscan_and_errors(engine):
    c = cluster(engine.catalog, "image", "hdbscan", min_cluster_size=3)
    assert set(c.labels.tolist()) <= set(range(-1, 12))
    with pytest.raises(AppError, match="Unknown clustering"):
        cluster(engine.catalog, "image", "magic")


def test_hdbscan_finds_the_groups_of_high_dimensional_vectors(tmp_path):
    from sklearn.metrics import adjusted_rand_score

    from core.catalog import Catalog, ProductRecord

    rng = np.random.default_rng(0)
    cat = Catalog.create(tmp_path / "blobs.vitrina")
    centres = rng.normal(size=(4, 384))
    truth = np.repeat(np.arange(4), 60)
    with cat.transaction():
        pks = [cat.upsert_product(ProductRecord(f"p{i}", f"item {i}", "", None, None, None, {}, "h"))
               for i in range(len(truth))]
        vecs = centres[truth] + rng.normal(0, 0.15, (len(truth), 384))
        cat.put_embeddings("vit", "toy", pks, ["h"] * len(pks), vecs / np.linalg.norm(vecs, axis=1, keepdims=True))
    c = cluster(cat, "vit", "hdbscan", min_cluster_size=10)
    by_pk = dict(zip(c.pks.tolist(), c.labels.tolist()))
    labels = np.array([by_pk[p] for p in pks])
    assert (labels >= 0).mean() > 0.9 and adjusted_rand_score(truth, labels) > 0.9
    assert c.silhouette > 0.5 and len(c.clusters) == 4


def test_maps_are_cached_until_vectors_change(engine):
    pks, xy = embedding_map(engine.catalog, "image", "pca")
    assert xy.shape == (12, 2) and len(pks) == 12
    pks2, xy2 = embedding_map(engine.catalog, "image", "pca")
    assert np.array_equal(xy, xy2)
    pks3, xy3 = embedding_map(engine.catalog, "image", "tsne")
    assert xy3.shape == (12, 2) and np.all(np.isfinite(xy3))
    before = engine.catalog.revision("image")
    with engine.catalog.transaction():
        engine.catalog.delete_embeddings("image", [int(pks[0])])
    pks4, _ = embedding_map(engine.catalog, "image", "pca")
    assert len(pks4) == 11
    maps = {k for (k,) in engine.catalog.execute("SELECT key FROM meta WHERE key LIKE 'map:%'")}
    now = engine.catalog.revision("image")  # the PCA map of the revision before is dropped, not kept for ever
    assert maps == {f"map:image:pca:{now}", f"map:image:tsne:{before}"}


def test_clusterings_of_earlier_versions_are_dropped_when_one_is_saved(engine):
    with engine.catalog.transaction():
        engine.catalog.set_meta("insights5:image:kmeans:4:10:1234", "{}")
        engine.catalog.set_meta("insight-notes", "kept")
    cluster(engine.catalog, "image", "kmeans", k=3)
    keys = {k for (k,) in engine.catalog.execute("SELECT key FROM meta")}
    assert "insights5:image:kmeans:4:10:1234" not in keys and "insight-notes" in keys
    assert any(k.startswith("insights6:image:kmeans:3:") for k in keys)


def test_clusters_name_their_products_and_are_found_by_number_or_name(engine):
    from core.insights import default_space

    c = cluster(engine.catalog, colour_space(engine), "kmeans", k=4)
    names = c.names()
    colours = engine.catalog.attribute_column("baseColour")
    assert set(names) == set(int(p) for p in c.pks)
    for x in c.clusters:
        assert {names[p] for p in c.members(x.label)} == {x.name}
    first = c.clusters[0]
    assert c.find(str(first.label)) == first and c.find(f"  {first.name.upper()} ") == first
    with pytest.raises(AppError, match=r"No cluster 'nope' among the 4 kmeans clusters: give its number or name \(0: "):
        c.find("nope")
    assert c.summary().startswith("4 clusters (kmeans, toy space): silhouette ")
    assert len({colours[p] for p in c.members(first.label)}) == 1
    assert default_space(engine.catalog) == "image"  # the fixture has no ViT vectors: its photos' space


def test_noise_is_named_in_the_summary_and_has_no_cluster_name(engine):
    from core.insights import Cluster, Clustering

    pks = np.array([1, 2, 3, 4])
    c = Clustering("hdbscan", "vit", pks, np.array([0, 0, -1, 1]),
                   (Cluster(0, 2, "Dresses", (), ()), Cluster(1, 1, "Shoes", (), ())), None, None)
    assert c.names() == {1: "Dresses", 2: "Dresses", 4: "Shoes"}
    assert c.summary() == "2 clusters (hdbscan, vit space, 1 unclustered): too few clusters for quality scores"


def test_a_catalog_without_vectors_has_no_space_for_insights(tmp_path):
    from core.catalog import Catalog
    from core.insights import default_space

    with pytest.raises(AppError, match="has no product vectors yet"):
        default_space(Catalog.create(tmp_path / "empty.vitrina"))


def test_a_value_two_fields_share_names_a_cluster_once(tmp_path):
    from core.catalog import Catalog, ProductRecord

    cat = Catalog.create(tmp_path / "belts.vitrina")
    rng = np.random.default_rng(0)
    kinds = ["Belts", "Shoes"] * 10
    with cat.transaction():
        cat.set_fields({"subCategory": "category", "articleType": "category", "gender": "category"})
        pks = [cat.upsert_product(ProductRecord(f"p{i}", f"{k} {i}", "", None, None, None,
                                                {"subCategory": k, "articleType": k, "gender": "Men"}, "h"))
               for i, k in enumerate(kinds)]
        vecs = np.stack([np.eye(4)[int(kinds[i] == "Belts")] + rng.normal(0, 0.05, 4) for i in range(len(pks))])
        cat.put_embeddings("vit", "toy", pks, ["h"] * len(pks), vecs / np.linalg.norm(vecs, axis=1, keepdims=True))
    c = cluster(cat, "vit", "kmeans", k=2)
    assert sorted(x.name for x in c.clusters) == ["Belts · Men", "Shoes · Men"]


def test_a_clusters_second_name_is_of_other_products_where_one_is_typical(tmp_path):
    """Sub-category Eyewear and type Sunglasses are the same 12 products of 32: naming it "Eyewear · Sunglasses"
    left the 10 cufflinks unsaid."""
    from core.catalog import Catalog, ProductRecord

    cat = Catalog.create(tmp_path / "acc.vitrina")
    rng = np.random.default_rng(0)
    kinds = [("Eyewear", "Sunglasses")] * 12 + [("Jewellery", "Cufflinks")] * 10 + [("Watches", "Watches")] * 10 + \
        [("Shoes", "Casual Shoes")] * 32
    with cat.transaction():
        cat.set_fields({"subCategory": "category", "articleType": "category"})
        pks = [cat.upsert_product(ProductRecord(f"p{i}", f"{t} {i}", "", None, None, None,
                                                {"subCategory": s, "articleType": t}, "h"))
               for i, (s, t) in enumerate(kinds)]
        vecs = np.stack([np.eye(4)[int(s == "Shoes")] + rng.normal(0, 0.05, 4) for s, _ in kinds])
        cat.put_embeddings("vit", "toy", pks, ["h"] * len(pks), vecs / np.linalg.norm(vecs, axis=1, keepdims=True))
    shoes, other = sorted((x for x in cluster(cat, "vit", "kmeans", k=2).clusters), key=lambda x: "Shoes" not in x.name)
    assert shoes.name in ("Shoes · Casual Shoes", "Casual Shoes · Shoes")  # no product of other kinds: both said
    assert other.name in ("Eyewear · Cufflinks", "Sunglasses · Cufflinks", "Eyewear · Jewellery",
                          "Sunglasses · Jewellery"), other.name


def test_a_map_is_coloured_by_category_fields_and_attributes_with_few_values(tmp_path):
    from core.catalog import Catalog, ProductRecord
    from core.insights import MAP_COLOUR_VALUES, colour_fields

    cat = Catalog.create(tmp_path / "attrs.vitrina")
    with cat.transaction():
        cat.set_fields({"type": "category"})
        for i in range(MAP_COLOUR_VALUES + 5):
            cat.upsert_product(ProductRecord(f"p{i}", f"item {i}", "", None, None, None,
                                             {"type": f"t{i}", "index": "Ladies" if i % 2 else "Men",
                                              "code": f"c{i}", "brand": "Acme"}, "h"))
    # a category field whatever its number of values; another attribute only with 2 to MAP_COLOUR_VALUES values
    assert colour_fields(cat) == ["type", "index"]


def test_clusters_that_would_share_a_name_are_told_apart():
    from core.insights import Cluster, _distinct_names

    named = _distinct_names([Cluster(0, 5, "Blouse", (), ("blouse", "lace")), Cluster(1, 4, "Blouse", (), ("silk",)),
                             Cluster(2, 3, "Dress", (), ()), Cluster(3, 2, "Blouse", (), ("silk",)),
                             Cluster(4, 2, "Shoes", (), ()), Cluster(5, 2, "shoes", (), ())])
    assert [c.name for c in named] == ["Blouse · lace", "Blouse #1", "Dress", "Blouse #3", "Shoes #4", "shoes #5"]


def test_typical_members_rank_a_cluster_by_closeness_to_its_centre(engine):
    from core.insights import typical_members

    c = cluster(engine.catalog, colour_space(engine), "kmeans", k=4)
    label = max(c.clusters, key=lambda x: x.size).label
    ranked = typical_members(engine.catalog, c, label)
    assert {pk for pk, _ in ranked} == set(c.members(label))
    assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True) and ranked[0][1] <= 1.0 + 1e-6
    allowed = np.array([ranked[-1][0]])
    assert typical_members(engine.catalog, c, label, allowed) == [ranked[-1]]  # the centre stays the cluster's


def test_a_cancelled_tsne_stops_its_process_at_once(monkeypatch):
    import subprocess

    from core.errors import Cancelled
    from core.insights import _tsne_cancellable

    children = []
    real_popen = subprocess.Popen
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: children.append(real_popen(*a, **k)) or children[-1])
    reduced = np.random.default_rng(0).normal(size=(3000, 16))  # a t-SNE of several seconds
    polls = []

    def cancelled():  # first poll: go on; second (0.2 s later): the child is computing, stop it
        polls.append(children[0].poll())
        return len(polls) > 1

    with pytest.raises(Cancelled):
        _tsne_cancellable(reduced, 0, cancelled)
    assert polls == [None, None]  # the t-SNE ran in a child process, still computing when cancelled
    assert children[0].poll() is not None  # which is gone: nothing left computing


def test_a_failing_tsne_child_says_why(monkeypatch):
    import core.insights

    monkeypatch.setattr(core.insights, "_TSNE_CHILD", "raise SystemExit('no memory left')")
    with pytest.raises(AppError, match="t-SNE map failed: no memory left"):
        core.insights._tsne_cancellable(np.zeros((10, 3)), 0, lambda: False)


def test_hdbscan_from_the_window_runs_in_a_child_process_with_the_same_clusters_and_cancels(engine, monkeypatch):
    import subprocess

    from core.errors import Cancelled

    in_process = cluster(engine.catalog, "image", "hdbscan", min_cluster_size=2, cache=False)
    children = []
    real_popen = subprocess.Popen
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: children.append(real_popen(*a, **k)) or children[-1])
    child = cluster(engine.catalog, "image", "hdbscan", min_cluster_size=2, cache=False, cancelled=lambda: False)
    assert len(children) == 1 and np.array_equal(child.labels, in_process.labels)  # HDBSCAN held the GIL 1.5 s
    assert [c.name for c in child.clusters] == [c.name for c in in_process.clusters]
    with pytest.raises(Cancelled, match="The clustering was cancelled"):
        cluster(engine.catalog, "image", "hdbscan", min_cluster_size=2, cache=False, cancelled=lambda: True)
    assert all(c.poll() is not None for c in children)


def test_a_tsne_in_a_child_process_is_the_same_map(engine):
    in_process = embedding_map(engine.catalog, "image", "tsne", cache=False)
    child = embedding_map(engine.catalog, "image", "tsne", cache=False, cancelled=lambda: False)
    assert np.array_equal(in_process[0], child[0]) and np.allclose(in_process[1], child[1], atol=1e-3)


def test_impossible_clusterings_and_unknown_spaces_say_why(engine):
    import warnings

    from core.insights import Clustering

    cat = engine.catalog
    for k in (-1, 0, 1, 12, 99):
        with pytest.raises(AppError, match=f"from 2 to 11 .*; {k} was asked for"):
            cluster(cat, "image", "kmeans", k=k, cache=False)
    assert len(cluster(cat, "image", "kmeans", k=11, cache=False).clusters) == 11
    with pytest.raises(AppError, match="clusters of at least 20 products; .* has 12 .*use kmeans"):
        cluster(cat, "image", "hdbscan", min_cluster_size=20, cache=False)
    for call in (lambda: cluster(cat, "nope"), lambda: embedding_map(cat, "nope")):
        with pytest.raises(AppError, match="has no 'nope' vectors; its spaces: image, text"):
            call()
    pks = np.array(cat.all_pks())
    with cat.transaction():  # every product alike: fewer clusters than asked, without a warning
        cat.put_embeddings("same", "toy", pks.tolist(), ["h"] * len(pks), np.ones((len(pks), 4)) / 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(cluster(cat, "same", "kmeans", k=4, cache=False).clusters) == 1
    noise = Clustering("hdbscan", "image", pks, -np.ones(len(pks), int), (), None, None)
    with pytest.raises(AppError, match="found no cluster: every product is left unclustered .*try kmeans"):
        noise.find("0")


def test_a_number_names_the_cluster_of_that_number_before_one_named_so():
    from core.insights import Cluster, Clustering

    # a category of numbers: cluster 0 is named "1", cluster 1 "0"
    c = Clustering("kmeans", "image", np.arange(4), np.array([0, 0, 1, 1]),
                   (Cluster(0, 2, "1", (), ()), Cluster(1, 2, "0", (), ()), Cluster(2, 0, "Shirts", (), ())), 0.5, 0.5)
    assert c.find("1").label == 1 and c.find(" 0 ").label == 0 and c.find("shirts").label == 2
    with pytest.raises(AppError, match="No cluster '' among the 3 kmeans clusters"):
        c.find("")


def _insights(pks, values=None, method="kmeans", map_method="pca", scores=(0.25, 2.0), clusters=2):
    """An Insights of ``clusters`` clusters over ``pks`` on a square grid, coloured by ``values``
    ({field: {pk: value}})."""
    from core.insights import Cluster, Clustering
    from gui.backend import Insights

    pks = np.asarray(pks)
    labels = np.arange(len(pks)) % clusters
    names = ["Innerwear · Men", "Sports Shoes", *(f"Cluster {i}" for i in range(2, clusters))]
    clustering = Clustering(method, "vit", pks, labels,
                            tuple(Cluster(i, int((labels == i).sum()), names[i], (), ()) for i in range(clusters)),
                            *scores)
    side = int(np.ceil(np.sqrt(len(pks))))
    xy = np.array([[i % side, i // side] for i in range(len(pks))], np.float32)
    return Insights(clustering, pks, xy, {}, {}, values or {}, map_method)


def test_the_best_results_rings_read_on_white_and_dark_thumbnails_in_both_themes(qtbot):
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QColor, QImage, QPalette
    from PySide6.QtTest import QTest

    from gui.app import dark_palette
    from gui.explanation_views import contrast
    from gui.insights_panel import RING, RING_EDGE, THUMB_SIDE, MapView

    assert min(contrast(RING, (255, 255, 255)), contrast(RING, (0, 0, 0))) >= 3  # a graphic on either
    assert contrast(RING, RING_EDGE) >= 3
    for dark in (False, True):
        view = MapView()
        qtbot.addWidget(view)
        if dark:  # white text: the old ring, white, vanished on a white thumbnail
            view.setPalette(dark_palette())
        view.resize(400, 400)
        view.show()
        thumbs = {}
        for pk, fill in ((1, "white"), (2, "black")):
            thumbs[pk] = QImage(THUMB_SIDE, THUMB_SIDE, QImage.Format_RGB32)
            thumbs[pk].fill(QColor(fill))
        view.show_points(np.array([1, 2]), np.array([[0, 0], [100, 0]], np.float32), {1: QColor("#edc948"),
                         2: QColor("#4e79a7")}, thumbs)
        view.highlight([1, 2])
        assert len(view.rings) == 2 and all(d.pen().color() == view.palette().color(QPalette.Text)
                                            for d in view.items.values())
        for pk, under in ((1, (255, 255, 255)), (2, (0, 0, 0))):
            view.resetTransform()
            view.scale(8, 8)
            view.centerOn(view.positions[pk])
            shot = view.viewport().grab().toImage()
            ring = shot.pixelColor(view.mapFromScene(view.positions[pk] + QPointF(7, 0)))
            assert ring == RING and contrast(ring, under) >= 3, (dark, pk, ring.name())
            edge = shot.pixelColor(view.mapFromScene(view.positions[pk] + QPointF(8.7, 0)))
            assert edge == RING_EDGE
        view.highlight([2])  # the rings follow the results
        assert len(view.rings) == 1 and view.items[1].pen().style() == Qt.NoPen
        clicks = []
        view.clicked.connect(clicks.append)
        view.resetTransform()
        view.fitInView(view.extent, Qt.KeepAspectRatio)
        QTest.mouseClick(view.viewport(), Qt.LeftButton, Qt.NoModifier,
                         view.mapFromScene(view.positions[2] + QPointF(7, 0)))
        assert clicks == [2]  # a click on a ring selects its product


def test_the_map_is_fitted_again_when_the_legend_takes_room_and_says_how_many_values_are_grey(qtbot):
    from PySide6.QtWidgets import QApplication

    from gui.insights_panel import OTHER, PALETTE, InsightsPanel, value_colours

    pks = list(range(1, 401))
    values = {"articleType": {pk: f"type {pk % 39:02d}" for pk in pks}}  # 39 values, ties among them
    panel = InsightsPanel()
    qtbot.addWidget(panel)
    panel.resize(900, 600)
    panel.show()
    panel.show_insights(_insights(pks, values))
    qtbot.waitUntil(lambda: panel.map.viewport().height() > 300)
    QApplication.processEvents()
    panel.colour_by.setCurrentIndex(panel.colour_by.findData("articleType"))  # the legend appears below the map
    qtbot.waitUntil(lambda: panel.legend.isVisible() and panel.legend.height() > 0)
    QApplication.processEvents()
    view = panel.map
    assert panel.legend.geometry().top() >= view.geometry().bottom()
    assert not view.verticalScrollBar().isVisible() and not view.horizontalScrollBar().isVisible()
    shown = view.mapFromScene(view.extent).boundingRect()
    assert view.viewport().rect().adjusted(-1, -1, 1, 1).contains(shown), (shown, view.viewport().rect())
    assert shown.height() >= view.viewport().height() - 8 or shown.width() >= view.viewport().width() - 8
    assert "27 others" in panel.legend.text()
    _, legend = value_colours(values["articleType"])
    counts = {v: list(values["articleType"].values()).count(v) for v in set(values["articleType"].values())}
    expected = sorted(counts, key=lambda v: (-counts[v], v))[:12]
    assert [v for v, _ in legend[:12]] == expected and [c for _, c in legend[:12]] == PALETTE
    assert legend[12] == ("27 others", OTHER)
    assert value_colours({1: "a", 2: "a"})[1] == [("a", PALETTE[0])]
    assert value_colours({i: str(i) for i in range(13)})[1][-1] == ("1 other", OTHER)
    view.scale(3, 3)  # zoomed into: a resize keeps the zoom
    zoomed = view.transform()
    panel.resize(880, 580)
    QApplication.processEvents()
    assert view.transform() == zoomed


def test_cluster_names_read_on_the_list_in_both_themes_beside_a_dot_in_their_map_colour(qtbot):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QPalette

    from gui.app import dark_palette
    from gui.explanation_views import contrast
    from gui.insights_panel import InsightsPanel, cluster_colours

    for dark in (False, True):
        panel = InsightsPanel()
        qtbot.addWidget(panel)
        if dark:
            panel.list.setPalette(dark_palette())
        data = _insights(list(range(1, 40)), clusters=13)  # every palette colour, and grey
        panel.show_insights(data)
        base = panel.list.palette().color(QPalette.Base)
        colour_of = cluster_colours(data.clustering.clusters)
        for row in range(1, panel.list.count()):
            item = panel.list.item(row)
            assert contrast(item.foreground().color(), base) >= 4.5, (dark, item.text())
            dot = item.icon().pixmap(12, 12).toImage().pixelColor(6, 6)
            assert dot == colour_of[item.data(Qt.UserRole)], (dark, item.text(), dot.name())
        assert not panel.list.item(0).icon().isNull()  # a blank one: the names stay aligned


def test_the_insights_tab_says_what_compute_does_and_what_its_scores_mean(qtbot):
    from gui.insights_panel import InsightsPanel

    panel = InsightsPanel()
    qtbot.addWidget(panel)
    panel.resize(900, 600)
    panel.show()
    guide = panel.map.guide
    assert guide.isVisible() and "Compute" in guide.text() and "few seconds" in guide.text()
    assert "t-SNE" in guide.text() and "longer" in guide.text()
    assert guide.geometry().width() > 300  # over the empty map, not squeezed into a corner
    assert [panel.method.itemText(i) for i in range(panel.method.count())] == ["KMeans", "HDBSCAN"]
    assert [panel.map_method.itemText(i) for i in range(panel.map_method.count())] == ["PCA", "t-SNE"]
    asked = []
    panel.compute.connect(lambda *a: asked.append(a))
    panel.map_method.setCurrentIndex(1)
    panel.run_button.click()
    assert asked == [("kmeans", "tsne")]  # the internal names, for core
    assert panel.scores_gloss.isHidden()
    panel.show_insights(_insights(list(range(1, 9)), method="hdbscan", map_method="tsne"))
    assert not guide.isVisible()
    assert (panel.method.currentText(), panel.map_method.currentText()) == ("HDBSCAN", "t-SNE")
    assert (panel.method.currentData(), panel.map_method.currentData()) == ("hdbscan", "tsne")
    tip = panel.quality.toolTip()
    assert "-1 to 1" in tip and "higher is better" in tip and "lower is better" in tip
    assert not panel.scores_gloss.isHidden() and "higher silhouette" in panel.scores_gloss.text()
    panel.clear()
    assert guide.isVisible() and panel.scores_gloss.isHidden()
    panel.show_insights(_insights(list(range(1, 9)), scores=(None, None)))  # no scores: nothing to explain
    assert panel.scores_gloss.isHidden()


def _belts_and_shoes(tmp_path, n=20):
    """A catalog of belts and shoes whose ViT vectors tell them apart; the clusters are named by subCategory."""
    from core.catalog import Catalog, ProductRecord

    cat = Catalog.create(tmp_path / "kinds.vitrina")
    rng = np.random.default_rng(0)
    kinds = ["Belts", "Shoes"] * (n // 2)
    with cat.transaction():
        cat.set_fields({"subCategory": "category"})
        pks = [cat.upsert_product(ProductRecord(f"p{i}", f"{k} {i}", "", None, None, None, {"subCategory": k}, "h"))
               for i, k in enumerate(kinds)]
        vecs = np.stack([np.eye(4)[int(k == "Belts")] + rng.normal(0, 0.05, 4) for k in kinds])
        cat.put_embeddings("vit", "toy", pks, ["h"] * len(pks), vecs / np.linalg.norm(vecs, axis=1, keepdims=True))
    return cat, dict(zip(pks, kinds))


def counting_kmeans(monkeypatch) -> list:
    """Counts the KMeans fits that ``cluster`` makes: one per clustering that was not in the cache."""
    import sklearn.cluster

    fits, real = [], sklearn.cluster.KMeans

    def counted(*args, **kwargs):
        fits.append(kwargs.get("n_clusters"))
        return real(*args, **kwargs)

    monkeypatch.setattr(sklearn.cluster, "KMeans", counted)
    return fits


def test_the_default_kmeans_clustering_is_read_back_from_the_cache(tmp_path, monkeypatch):
    cat, _ = _belts_and_shoes(tmp_path)
    fits = counting_kmeans(monkeypatch)
    first = cluster(cat, None, "kmeans")  # k from the catalog's size, as `vitrina clusters` asks
    again = cluster(cat, None, "kmeans")
    assert fits == [2]  # the second from the cache, not fitted again
    assert np.array_equal(again.labels, first.labels) and again.clusters == first.clusters
    with cat.transaction():  # new vectors: computed again
        cat.put_embeddings("vit", "toy", [int(first.pks[0])], ["h2"], np.eye(4)[2:3])
    cluster(cat, None, "kmeans")
    assert fits == [2, 2]


def test_cached_clusters_are_named_again_when_attributes_or_titles_change(tmp_path, monkeypatch):
    from core.catalog import ProductRecord
    from types import SimpleNamespace

    from core.cli_insights import cluster_named

    cat, kinds = _belts_and_shoes(tmp_path)
    fits = counting_kmeans(monkeypatch)
    assert sorted(x.name for x in cluster(cat, None, "kmeans").clusters) == ["Belts", "Shoes"]
    cluster(cat, None, "kmeans", k=2)
    hdbscan = cluster(cat, None, "hdbscan", min_cluster_size=5)
    with cat.transaction():  # an import that renames a category: the vectors (photos) stay as they are
        for pk, kind in kinds.items():
            if kind == "Shoes":
                cat.upsert_product(ProductRecord(f"p{pk - 1}", f"Shoes {pk - 1}", "", None, None, None,
                                                 {"subCategory": "Footwear"}, "h"))
    assert sorted(x.name for x in cluster(cat, None, "kmeans", k=2).clusters) == ["Belts", "Footwear"]
    assert sorted(x.name for x in cluster(cat, None, "hdbscan", min_cluster_size=5).clusters) == \
        sorted(x.name.replace("Shoes", "Footwear") for x in hdbscan.clusters)
    def named(ref):  # `search --cluster REF`, the default kmeans clustering
        return SimpleNamespace(cluster=ref, cluster_method="kmeans", cluster_k=None, cluster_space=None)

    clustering, chosen = cluster_named(cat, named("footwear"))  # what `search --cluster NAME` looks up
    assert {kinds[p] for p in clustering.members(chosen.label)} == {"Shoes"}
    with pytest.raises(AppError, match="No cluster 'Shoes'"):
        cluster_named(cat, named("Shoes"))
    assert fits == [2, 2]  # the default clustering's and k=2's: named again, not fitted again
    with cat.transaction():  # no category field left: the names come from the titles' words
        cat.execute("DELETE FROM fields")
        cat.execute("UPDATE products SET title = 'leather belt ' || pk WHERE title LIKE 'Belts%'")
    named = {frozenset(x.name.split(" · ")) for x in cluster(cat, None, "kmeans").clusters}
    assert named == {frozenset({"leather", "belt"}), frozenset({"shoes"})} and fits == [2, 2]


def test_a_tsne_of_identical_vectors_puts_every_product_at_one_spot(engine):
    """t-SNE's PCA start divides by the vectors' spread: with none, scikit-learn crashed the process."""
    import subprocess
    import sys
    from pathlib import Path

    cat = engine.catalog
    pks = cat.all_pks()
    with cat.transaction():
        cat.put_embeddings("same", "toy", pks, ["h"] * len(pks), np.ones((len(pks), 4)) / 2)
    got, xy = embedding_map(cat, "same", "tsne", cache=False, cancelled=lambda: False)  # the window's child process
    assert len(got) == len(pks) and not xy.any()
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", "import numpy as np; from core.insights import _tsne; "
                           "print(np.abs(_tsne(np.zeros((6, 3)), 0)).sum())"],  # in-process: a crash would kill pytest
                          cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "0.0", done.stderr[-500:]


def test_a_tsne_child_killed_by_a_signal_says_so_not_its_last_line(monkeypatch):
    import core.insights

    crash = ("import os, signal, sys; print('  x = x / np.std(x)', file=sys.stderr, flush=True); "
             "os.kill(os.getpid(), signal.SIGSEGV)")  # a warning's line of source, then a crash
    monkeypatch.setattr(core.insights, "_TSNE_CHILD", crash)
    with pytest.raises(AppError, match=r"t-SNE map failed: its process died \(SIGSEGV\)") as failed:
        core.insights._tsne_cancellable(np.zeros((10, 3)), 0, lambda: False)
    assert "np.std" not in str(failed.value)


def test_a_clustering_computed_while_an_import_commits_is_kept_under_the_revision_it_read(engine, monkeypatch):
    from core import insights
    from core.catalog import Catalog

    catalog = engine.catalog
    real = catalog.embeddings

    def then_an_import(space, *args):  # another process commits right after the vectors were read
        out = real(space, *args)
        with Catalog.open(catalog.path) as other, other.transaction():
            other.delete_products([int(other.all_pks()[0])])
        return out

    monkeypatch.setattr(catalog, "embeddings", then_an_import)
    first = insights.cluster(catalog, "image", "kmeans", k=3)
    monkeypatch.setattr(catalog, "embeddings", real)
    again = insights.cluster(catalog, "image", "kmeans", k=3)  # not the cached one: it holds the deleted product
    assert len(first.pks) == 12 and len(again.pks) == 11


def test_a_clustering_named_again_keeps_the_revision_its_vectors_had(engine, monkeypatch):
    from core import insights
    from core.catalog import Catalog

    catalog = engine.catalog
    insights.cluster(catalog, "text", k=3)
    before = catalog.revision("text")
    catalog.execute("UPDATE products SET title = title || ' x' WHERE pk = (SELECT min(pk) FROM products)")
    real = insights._describe

    def then_an_import(*args, **kw):  # names made again while another process commits new text vectors
        with Catalog.open(catalog.path) as other, other.transaction():
            other._bump_revision("text")
        return real(*args, **kw)

    monkeypatch.setattr(insights, "_describe", then_an_import)
    insights.cluster(catalog, "text", k=3)
    assert catalog.revision("text") != before
    assert insights._load(catalog, "text", "kmeans", 3, 10, 0) is None  # the old vectors' clustering, as current


def test_the_same_map_clustered_otherwise_is_recoloured_not_built_again(qtbot):
    from PySide6.QtGui import QColor

    from gui.insights_panel import MapView

    view = MapView()
    qtbot.addWidget(view)
    pks, xy = np.array([1, 2, 3]), np.array([[0, 0], [100, 0], [50, 80]], np.float32)
    view.show_points(pks, xy, {1: QColor("red")}, {}, {1: "a", 2: "b", 3: "c"})
    view.highlight([2])
    dots = dict(view.items)
    view.show_points(pks.copy(), xy.copy(), {1: QColor("blue"), 3: QColor("green")}, {}, {1: "a", 2: "b", 3: "c"})
    assert view.items == dots and all(view.items[p] is dots[p] for p in dots)  # the same items: no rebuild
    assert view.items[1].brush().color() == QColor("blue") and view.items[3].brush().color() == QColor("green")
    assert len(view.rings) == 1  # the results stay outlined
    view.show_points(pks, xy + 1, {}, {}, {1: "a", 2: "b", 3: "c"})  # another map: built again
    assert all(view.items[p] is not dots[p] for p in dots)
    dots = dict(view.items)
    view.show_points(pks, xy + 1, {}, {}, {1: "a", 2: "renamed", 3: "c"})  # a title changed: its tooltip too
    assert view.items[2] is not dots[2] and view.items[2].toolTip() == "renamed"


def test_a_deleted_map_lets_go_of_its_items_wrappers_before_qt_deletes_them(qtbot):
    import shiboken6
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QColor

    from gui.insights_panel import MapView

    view = MapView()
    view.show_points(np.array([1, 2]), np.array([[0, 0], [100, 0]], np.float32), {1: QColor("red")}, {})
    view.highlight([1])
    view.mark_query(QPointF(10, 10))
    assert view.items and view.rings and view.query_marker is not None
    shiboken6.delete(view)  # the window closed: Qt deletes the view, its scene and every item
    kept = vars(view)  # the Python object may live on a while: it must hold no wrapper of a deleted item
    assert kept["items"] == {} and kept["rings"] == [] and kept["query_marker"] is None


def test_a_long_value_in_the_legend_is_cut_and_does_not_widen_the_panel(qtbot):
    from PySide6.QtWidgets import QApplication

    from gui.insights_panel import LEGEND_CHARS, InsightsPanel

    pks = list(range(1, 41))
    long = "Apparel>Men>Topwear>Shirts>Casual_Shirts_Listing_" * 3  # one unbroken value of 150 characters
    values = {"articleType": {pk: long if pk % 2 else "Shoes" for pk in pks}}
    panel = InsightsPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.show_insights(_insights(pks, values))
    before = panel.minimumSizeHint().width()
    panel.colour_by.setCurrentIndex(panel.colour_by.findData("articleType"))
    QApplication.processEvents()
    from html import escape

    assert escape(long[:LEGEND_CHARS - 1]) + "…" in panel.legend.text() and escape(long) not in panel.legend.text()
    assert panel.legend.toolTip() == long
    assert panel.minimumSizeHint().width() <= before + 50  # it was the value's width (1,113 px; the window 1,781)


def test_a_clusters_title_words_are_the_same_in_every_run():
    """Words of equal lift in the order of the words, not of a set (which follows each run's hash seed): the name
    of a catalog without category fields, copied from `vitrina clusters`, missed its cluster in the next command."""
    import os
    import subprocess
    import sys

    script = (
        "import numpy as np\n"
        "from core.insights import _describe\n"
        "class Catalog:\n"
        "    def category_fields(self): return []\n"
        "    def execute(self, sql): return [(1, 'Palm tree girls skirt'), (2, 'girls skirt palm tree'),\n"
        "                                    (3, 'Striped office shirt'), (4, 'shirt office striped')]\n"
        "print([(c.name, c.words) for c in _describe(Catalog(), np.array([1, 2, 3, 4]), np.array([0, 0, 1, 1]))])\n")
    seen = set()
    for seed in ("1", "2", "3", "4", "5"):
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONHASHSEED": seed}, cwd=os.path.dirname(os.path.dirname(__file__)))
        seen.add(out.stdout)
    assert seen == {"[('girls · palm · skirt', ('girls', 'palm', 'skirt', 'tree')), "
                    "('office · shirt · striped', ('office', 'shirt', 'striped'))]\n"}
