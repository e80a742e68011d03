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
    with engine.catalog.transaction():
        engine.catalog.delete_embeddings("image", [int(pks[0])])
    pks4, _ = embedding_map(engine.catalog, "image", "pca")
    assert len(pks4) == 11


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
