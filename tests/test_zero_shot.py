import pytest
from PIL import Image

from core.catalog import Catalog
from core.engine import Engine
from core.errors import QueryError
from core.search import Filters, Query, search
from core.spaces import Space
from core.zero_shot import category_field, classify
from tests.fakes import ColourNameEncoder


@pytest.fixture
def joint_engine(engine, spaces):
    eng = Engine(Catalog.open(engine.catalog.path), [*spaces, Space("vit", ColourNameEncoder(), "image")])
    from core.spaces import reembed_all
    from core.images import load_image
    from pathlib import Path

    for _ in reembed_all(eng.catalog, eng.spaces["vit"], lambda pk: load_image(Path(eng.catalog.image_path(pk))).image):
        pass
    list(eng.load_indexes())
    return eng


def test_zero_shot_names_the_colour_and_filters_by_it(joint_engine):
    red = Image.new("RGB", (40, 40), "white")
    red.paste((210, 20, 20), (10, 10, 30, 30))
    ranked = classify(joint_engine, red, "baseColour")
    assert ranked[0][0] == "Red" and ranked[0][1] > 0.5
    assert sum(p for _, p in ranked) == pytest.approx(1.0)
    hits = search(joint_engine, Query(image=red, filters=Filters(categories={"baseColour": (ranked[0][0],)}), k=10))
    assert {joint_engine.catalog.product(h.pk).attributes["baseColour"] for h in hits} == {"Red"}


def test_text_finds_photos_in_the_joint_space(joint_engine):
    hits = search(joint_engine, Query(text="blue", spaces=("vit",), k=3))
    assert {joint_engine.catalog.product(h.pk).attributes["baseColour"] for h in hits} == {"Blue"}


def test_default_field_and_errors(joint_engine, engine):
    assert category_field(joint_engine) == "baseColour"  # 4 values beat articleType's 3
    with pytest.raises(QueryError, match="not a category field"):
        category_field(joint_engine, "price")
    with pytest.raises(QueryError, match="vision transformer"):
        classify(engine, Image.new("RGB", (8, 8)))


def test_a_category_field_without_values_is_an_error_not_a_crash(joint_engine):
    with joint_engine.catalog.transaction():
        joint_engine.catalog.set_fields({"season": "category"})  # imported with --category season, every cell empty
    with pytest.raises(QueryError, match="No product of mini has a value in 'season', so there are no categories"):
        classify(joint_engine, Image.new("RGB", (8, 8)), "season")


def test_a_catalog_whose_category_fields_have_too_many_values_says_so(joint_engine, monkeypatch):
    catalog = joint_engine.catalog
    monkeypatch.setattr(catalog, "category_fields", lambda: ["product_code", "articleType"])
    values = {"product_code": [(str(i), 1) for i in range(5000)], "articleType": [("Shoes", 3), ("Belts", 2)]}
    monkeypatch.setattr(catalog, "field_values", values.get)
    with pytest.raises(QueryError, match=r"mini has no category field with 3 to 1,000 values to classify into: "
                                         r"product_code \(5,000 values\) has too many to tell apart\.$"):
        category_field(joint_engine)
