import numpy as np
import pytest
from sklearn.metrics import ndcg_score

from core.errors import AppError
from core.evaluate import evaluate, ndcg_at_k, precision_at_k, reciprocal_rank, recall_at_k, relevance_sets
from core.progress import drain


def test_metrics_on_a_hand_checked_ranking():
    ranked, rel = [5, 1, 7, 2, 9], {1, 2, 3}
    assert precision_at_k(ranked, rel, 5) == pytest.approx(2 / 5)
    assert recall_at_k(ranked, rel, 5) == pytest.approx(2 / 3)
    assert reciprocal_rank(ranked, rel, 5) == pytest.approx(1 / 2)
    assert reciprocal_rank(ranked, {42}, 5) == 0.0


@pytest.mark.parametrize("seed", range(5))
def test_ndcg_matches_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    n, k = 40, 10
    relevant = set(rng.choice(n, size=int(rng.integers(1, 15)), replace=False).tolist())
    scores = rng.permutation(n).astype(float)  # no ties
    ranked = list(np.argsort(-scores))
    truth = np.asarray([[1.0 if i in relevant else 0.0 for i in range(n)]])
    assert ndcg_at_k(ranked, relevant, k) == pytest.approx(ndcg_score(truth, scores[None], k=k))


def two_group_engine(tmp_path, spaces):
    """Three reddish and three bluish photos; titles say nothing about the colour."""
    from PIL import Image

    from core.catalog import Catalog
    from core.engine import Engine
    from core.ingest import ColumnMapping, import_catalog

    (tmp_path / "img").mkdir()
    rows = ["id,title,group,image"]
    words = ["alpha", "beta", "gamma", "delta", "omega", "sigma"]
    for i in range(6):
        rgb = (200 + 10 * i, 20, 20) if i < 3 else (20, 20, 150 + 20 * i)
        Image.new("RGB", (32, 32), rgb).save(tmp_path / "img" / f"{i}.png")
        rows.append(f"{i},{words[i]} thing,{'red' if i < 3 else 'blue'},img/{i}.png")
    (tmp_path / "p.csv").write_text("\n".join(rows) + "\n")
    cat = Catalog.create(tmp_path / "g.vitrina")
    drain(import_catalog(cat, tmp_path / "p.csv", ColumnMapping(id="id", title="title", image="image"), spaces))
    eng = Engine(cat, spaces)
    list(eng.load_indexes())
    return eng


def test_evaluate_known_answer(tmp_path, spaces):
    engine = two_group_engine(tmp_path, spaces)
    result = drain(evaluate(engine, "group", n_queries=6, k=2))
    assert result.queries == 6
    image = result.scores["image"]
    assert (image["P@2"], image["R@2"], image["NDCG@2"], image["MRR@2"]) == (1.0, 1.0, 1.0, 1.0)
    assert result.scores["text"]["P@2"] < 1.0  # titles carry no colour information
    assert result.scores["fused"]["P@2"] == pytest.approx(1.0)
    assert "image" in result.table() and "MRR@2" in result.table()


def test_evaluate_restricted_to_a_split(tmp_path, spaces):
    engine = two_group_engine(tmp_path, spaces)
    split = [1, 2, 4, 5]  # pks of a test split: results and relevance stay inside it
    result = drain(evaluate(engine, "group", n_queries=10, k=1, modes=("image",), restrict_to=split,
                            query_pks=split))
    assert result.queries == 4 and result.scores["image"]["P@1"] == 1.0


def test_copurchase_relevance_and_unknown_label(engine):
    rel = relevance_sets(engine, "copurchase")
    assert rel == {}
    with pytest.raises(AppError, match="no 'colour' attribute"):
        relevance_sets(engine, "colour")


def test_modes_that_cannot_run_are_named_not_shown_as_an_empty_table(tmp_path, spaces, caplog):
    from core.catalog import Catalog
    from core.engine import Engine
    from core.ingest import ColumnMapping, import_catalog

    (tmp_path / "p.csv").write_text("id,title,group\n1,red thing,a\n2,red hat,a\n3,blue thing,b\n4,blue hat,b\n")
    cat = Catalog.create(tmp_path / "t.vitrina")  # no images
    drain(import_catalog(cat, tmp_path / "p.csv", ColumnMapping(id="id", title="title"), spaces))
    engine = Engine(cat, spaces)
    list(engine.load_indexes())
    with pytest.raises(AppError, match="No query could run in the modes asked for; image: the query products have "
                                       "no photo that can be read. fused: the query"):
        drain(evaluate(engine, "group", modes=("image", "fused")))
    with pytest.raises(AppError, match="text: None of the query's inputs can be searched in this catalog"):
        drain(evaluate(engine, "group", modes=("text",), spaces=("image",)))
    result = drain(evaluate(engine, "group", modes=("image", "text")))
    assert list(result.scores) == ["text"]
    assert "left out of the evaluation: image: the query products have no photo" in caplog.text
    cat.close()


def test_each_mode_says_how_many_queries_its_figures_are_over(tmp_path, spaces, caplog):
    engine = two_group_engine(tmp_path, spaces)
    (tmp_path / "img" / "0.png").unlink()  # one query has no photo: the image and fused means are over 5
    result = drain(evaluate(engine, "group", n_queries=6, k=2))
    assert result.queries == 6 and result.mode_queries == {"image": 5, "text": 6, "fused": 5}
    rows = {line.split()[0]: line.split()[-1] for line in result.table().splitlines()[2:]}
    assert rows == {"image": "5", "text": "6", "fused": "5"} and "queries" in result.table().splitlines()[1]
    assert "only these ran in these modes" in caplog.text and "image 5" in caplog.text
    # a photo query in a text-only space: that is why the mode ran nowhere, though the last query has no photo
    (tmp_path / "img" / "5.png").unlink()
    with pytest.raises(AppError, match="image: None of the query's inputs can be searched in this catalog"):
        drain(evaluate(engine, "group", n_queries=6, k=2, modes=("image",), spaces=("text",)))


def test_copurchase_relevance_without_pairs_says_how_to_import_them(engine):
    with pytest.raises(AppError, match="has no co-purchase pairs to evaluate against: import them with"):
        drain(evaluate(engine, "copurchase"))


def test_fused_is_left_out_when_the_spaces_searched_take_one_kind_of_input(tmp_path, spaces, caplog):
    engine = two_group_engine(tmp_path, spaces)
    result = drain(evaluate(engine, "group", n_queries=6, k=2, spaces=("image",)))
    assert list(result.scores) == ["image"]  # "fused" repeated the image figures
    assert "fused: the spaces searched take only images" in caplog.text
    wide = drain(evaluate(engine, "group", n_queries=6, k=100000, modes=("text",)))
    head = wide.table().splitlines()[1].split()
    assert head[:3] == ["mode", "P@100000", "R@100000"] and "NDCG@100000" in head


def test_the_exact_label_reads_as_the_product_itself_and_an_empty_catalog_says_why(tmp_path, spaces):
    from core.catalog import Catalog
    from core.engine import Engine
    from core.evaluate import EXACT

    engine = two_group_engine(tmp_path, spaces)
    result = drain(evaluate(engine, EXACT, n_queries=6, k=2, modes=("image",)))
    assert result.table().startswith("g: relevant = the product itself, 6 queries")  # not "same exact"
    empty = Engine(Catalog.create(tmp_path / "empty.vitrina"), spaces)
    list(empty.load_indexes())
    with pytest.raises(AppError, match="^No product to evaluate: the catalog has no products.$"):
        drain(evaluate(empty, EXACT))
