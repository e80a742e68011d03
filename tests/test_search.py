import numpy as np
import pytest
from PIL import Image

from core.errors import QueryError
from core.search import Filters, Query, search


def sku_of(engine, hits):
    return [p.sku for p in engine.catalog.products([h.pk for h in hits])]


def test_text_query_ranks_shared_words_first(engine):
    hits = search(engine, Query(text="red dress", k=3))
    assert sku_of(engine, hits)[0] == "P005"  # "Red dress"
    assert hits[0].score >= hits[1].score >= hits[2].score
    assert set(hits[0].parts) == {"text"}


def test_image_query_finds_same_picture(engine, mini_dir):
    img = Image.open(mini_dir / "images" / "P010.png")
    hits = search(engine, Query(image=img, k=2))
    assert sku_of(engine, hits)[0] == "P010"
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)


def test_fused_weights_move_the_ranking(engine, mini_dir):
    img = Image.open(mini_dir / "images" / "P002.png")  # blue shirt picture
    text_heavy = search(engine, Query(text="green shoe", image=img, image_weight=0.05, k=1))
    image_heavy = search(engine, Query(text="green shoe", image=img, image_weight=0.95, k=1))
    assert sku_of(engine, text_heavy) == ["P011"]
    assert sku_of(engine, image_heavy) == ["P002"]
    assert set(image_heavy[0].parts) == {"image", "text"}


def test_more_like_this_excludes_itself(engine):
    pk = engine.catalog.pk_for_sku("P001")
    hits = search(engine, Query(like=(pk,), k=5))
    assert pk not in [h.pk for h in hits]
    assert len(hits) == 5


def test_less_like_this_pushes_negatives_down(engine):
    base = sku_of(engine, search(engine, Query(text="shirt", k=4)))
    neg = engine.catalog.pk_for_sku(base[0])
    after = sku_of(engine, search(engine, Query(text="shirt", unlike=(neg,), k=4)))
    assert base[0] not in after[:1]
    penalised = search(engine, Query(text="shirt", unlike_text=("red",), negative_weight=1.0, k=12))
    assert sku_of(engine, penalised)[0] != "P001"


def test_filters_restrict_and_threshold_cuts(engine):
    hits = search(engine, Query(text="shirt", filters=Filters(categories={"articleType": ("Shoes",)}), k=10))
    assert len(hits) == 4 and all(s.startswith("P0") for s in sku_of(engine, hits))
    prods = engine.catalog.products([h.pk for h in hits])
    assert {p.attributes["articleType"] for p in prods} == {"Shoes"}
    hits = search(engine, Query(text="shirt", filters=Filters(price_min=50, price_max=80, rating_min=3), k=10))
    prods = engine.catalog.products([h.pk for h in hits])
    assert prods and all(50 <= p.price <= 80 and p.rating >= 3 for p in prods)
    hits = search(engine, Query(text="red shirt", min_score=0.6, k=10))
    assert hits and all(h.score >= 0.6 for h in hits)


def test_invalid_queries_say_what_to_do(engine):
    with pytest.raises(QueryError, match="Give a query"):
        search(engine, Query())
    with pytest.raises(QueryError, match="between 0 and 1"):
        search(engine, Query(text="x", image_weight=2))
    with pytest.raises(QueryError, match="Unknown filter"):
        search(engine, Query(text="x", filters=Filters(categories={"colour": ("Red",)})))
    with pytest.raises(QueryError, match="price range is empty"):
        search(engine, Query(text="x", filters=Filters(price_min=5, price_max=1)))
    for invisible in ("\u200b", "\ufeff", "\x00", " \u00a0\n"):  # nothing to search for, though strip() keeps some
        with pytest.raises(QueryError, match="Give a query"):
            search(engine, Query(text=invisible))
    assert search(engine, Query(text="red dress", unlike_text=("\u200b",), k=3))  # an invisible --not: left out
    with pytest.raises(QueryError, match=r"number of results must be a whole number \(got 2.5\)"):
        search(engine, Query(text="x", k=2.5))
    assert len(search(engine, Query(text="x", k=np.int64(2)))) == 2
    for bad in (dict(filters=Filters(price_min=float("nan"))), dict(filters=Filters(price_max=float("inf"))),
                dict(filters=Filters(rating_min=float("nan"))), dict(min_score=float("nan"))):
        with pytest.raises(QueryError, match=r"must be a number \(got (nan|inf)\)"):
            search(engine, Query(text="x", **bad))


def test_scores_are_cosines_of_stored_vectors(engine, spaces):
    text = spaces[1].encoder
    hits = search(engine, Query(text="blue dress", k=12))
    pks, vecs = engine.catalog.embeddings("text")
    expected = dict(zip(pks.tolist(), vecs @ text.encode_texts(["blue dress"])[0]))
    for h in hits:
        assert h.score == pytest.approx(float(expected[h.pk]), abs=1e-5)
    assert np.all(np.diff([h.score for h in hits]) <= 1e-9)


def test_spaces_sharing_a_text_model_encode_the_query_once(engine, spaces):
    from core.catalog import Catalog
    from core.engine import Engine
    from core.spaces import Space
    from tests.fakes import ColourGridEncoder

    text = spaces[1].encoder

    class Joint(ColourGridEncoder):
        modalities = frozenset({"image", "text"})
        text_encoder = text

        def encode_texts(self, texts):
            return self.text_encoder.encode_texts(texts)

    eng = Engine(Catalog.open(engine.catalog.path), [*spaces, Space("joint", Joint("joint"), "image")])
    list(eng.load_indexes())
    before = text.calls
    search(eng, Query(text="red dress", k=3))
    assert text.calls - before == 1


def test_a_photo_query_in_a_catalog_without_photos_says_so(tmp_path, mini_dir, spaces):
    from core.catalog import Catalog
    from core.engine import Engine
    from core.ingest import ColumnMapping, import_catalog
    from core.progress import drain

    cat = Catalog.create(tmp_path / "text-only.vitrina")
    drain(import_catalog(cat, mini_dir / "products.csv", ColumnMapping(id="id", title="title"), spaces))
    engine = Engine(cat, spaces)
    list(engine.load_indexes())
    photo = Image.open(mini_dir / "images" / "P001.png")
    with pytest.raises(QueryError, match="None of the query's inputs can be searched in this catalog"):
        search(engine, Query(image=photo))
    assert sku_of(engine, search(engine, Query(image=photo, text="red shirt", k=1))) == ["P001"]  # by its text
    cat.close()


def test_more_negatives_never_weaken_the_penalty_of_one(engine):
    pk = engine.catalog.pk_for_sku
    red_shirt, others = pk("P001"), [pk(s) for s in ("P006", "P007", "P008", "P009")]

    def score_of(sku, unlike):
        hits = search(engine, Query(text="shirt", unlike=tuple(unlike), negative_weight=1.0, k=12))
        return {h.pk: h.score for h in hits}[pk(sku)]

    alone = score_of("P004", [red_shirt])
    assert score_of("P004", [red_shirt, *others]) <= alone + 1e-9  # six negatives had cut the penalty to a sixth
    free = search(engine, Query(text="shirt", k=12))
    assert alone < {h.pk: h.score for h in free}[pk("P004")]


def test_a_product_without_a_photo_is_not_lifted_above_better_matches_with_one(tmp_path):
    from core.catalog import Catalog
    from core.engine import Engine
    from core.ingest import ColumnMapping, import_catalog
    from core.spaces import Space
    from tests.fakes import BagOfWordsEncoder, ColourNameEncoder

    (tmp_path / "images").mkdir()
    Image.new("RGB", (32, 32), (220, 20, 20)).save(tmp_path / "images" / "a.png")
    Image.new("RGB", (32, 32), (20, 200, 40)).save(tmp_path / "images" / "c.png")
    (tmp_path / "p.csv").write_text("id,title,image\nA,blue skirt long,images/a.png\nB,blue dress,\n"
                                    "C,green coat,images/c.png\n")
    spaces = [Space("text", BagOfWordsEncoder(), "text"), Space("joint", ColourNameEncoder(), "image")]
    with Catalog.create(tmp_path / "mixed.vitrina") as catalog:
        list(import_catalog(catalog, tmp_path / "p.csv", ColumnMapping.guess(["id", "title", "image"]), spaces))
        engine = Engine(catalog, spaces)
        list(engine.load_indexes())
        hits = search(engine, Query(text="blue skirt", k=3))
        assert sku_of(engine, hits)[:2] == ["A", "B"]  # A matches the words better; B only lacks a photo
        b = hits[1]
        assert set(b.parts) == {"text"} and b.score < b.parts["text"]  # its missing photo score is not a bonus


def test_pointing_away_from_a_negative_is_no_bonus(engine, mini_dir):
    from PIL import ImageOps

    photo = Image.open(mini_dir / "images" / "P002.png").convert("RGB")
    opposite = ImageOps.invert(photo)  # colours opposite to the query's: negative similarities to many products
    plain = {h.pk: h.score for h in search(engine, Query(image=photo, k=12))}
    pushed = {h.pk: h.score for h in search(engine, Query(image=photo, unlike_images=(opposite,),
                                                             negative_weight=2.0, k=12))}
    assert all(pushed[pk] <= plain[pk] + 1e-9 for pk in pushed) and max(pushed.values()) <= 1.0 + 1e-6


def test_a_text_of_no_word_the_text_model_reads_is_told_apart(engine):
    from core.search import unread_text

    def unread(text, **kw):
        return unread_text(engine, Query(text=text, **kw))

    assert unread("👗👠🔥") and unread(" 🔥 ")
    assert not unread("red 👗") and not unread("") and not unread("\u200b")
    photo = Image.new("RGB", (8, 8), "red")
    assert unread("🔥", image=photo) and unread("🔥", like=(1,), image_weight=0.5)
    assert not unread("🔥", image=photo, image_weight=1.0)  # at "photo" the text took no part in the search
    assert not unread("🔥", like=(1,), image_weight=1.0)
