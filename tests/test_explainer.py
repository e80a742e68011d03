"""The explanation facade on real pretrained parts (EfficientNet-Lite0 backbone, MiniLM) and a small
random ViT: every piece is produced, finite, shaped, deterministic, and leaves no state behind."""
import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from core import runtime
from core.vit import HybridViT, VitConfig, save_vit

pytestmark = pytest.mark.weights


@pytest.fixture(scope="module")
def explainer(tmp_path_factory):
    runtime.configure()
    from core.vit import VitEncoder
    from explain.explainer import MatchExplainer

    torch.manual_seed(0)
    path = save_vit(HybridViT(VitConfig(dim=32, depth=2, heads=2)), tmp_path_factory.mktemp("vit"))
    return MatchExplainer(VitEncoder(path), steps=16, ig_steps=8)


def photo(rgb, box):
    im = Image.new("RGB", (120, 120), "white")
    ImageDraw.Draw(im).rectangle(box, fill=rgb)
    return im


def test_every_piece_of_an_explanation(explainer):
    from explain.explainer import IMAGE_METHODS

    query, result = photo((200, 20, 20), [20, 20, 70, 90]), photo((180, 30, 30), [40, 30, 100, 100])
    before = np.asarray(result).copy()
    m = explainer.explain(result, "red cotton dress", "soft and light", query_image=query, query_text="red dress")
    assert set(m.result_maps) == set(m.query_maps) == set(IMAGE_METHODS) == set(m.faithfulness)
    for exp in [*m.result_maps.values(), *m.query_maps.values(), m.match]:
        assert exp.values.ndim == 2 and np.all(np.isfinite(exp.values))
    assert m.result_maps["attention rollout"].values.shape == (14, 14)
    assert set(m.words) == {"query", "title", "description"}
    assert m.words["title"].tokens == ("red", "cotton", "dress")
    for c in m.faithfulness.values():
        assert len(c.fractions) == 17 and (-1 <= c.faithfulness <= 1 if c.measurable else np.isnan(c.faithfulness))
    assert np.isfinite(m.score) and np.array_equal(np.asarray(result), before)
    assert all(p.grad is None for p in explainer.vit.parameters())
    assert all(not b.attn.keep and b.attn.probs is None for b in explainer.vit.blocks)
    assert all(len(mod._forward_hooks) == 0 for mod in explainer.backbone.modules())
    again = explainer.explain(result, "red cotton dress", "soft and light", query_image=query, query_text="red dress")
    for k in m.result_maps:
        assert np.allclose(m.result_maps[k].values, again.result_maps[k].values, atol=1e-5)


def test_the_slow_perturbation_map_only_on_request(explainer):
    from explain.explainer import IMAGE_METHODS

    query, result = photo((200, 20, 20), [20, 20, 70, 90]), photo((180, 30, 30), [40, 30, 100, 100])
    fast = explainer.explain(result, "red dress", "", query_image=query)
    assert "perturbation" not in fast.result_maps and "perturbation" not in fast.seconds
    m = explainer.explain(result, "red dress", "", query_image=query, faithfulness=("perturbation",))
    assert set(m.faithfulness) == {"perturbation"} and "perturbation" not in m.query_maps
    p = m.result_maps["perturbation"]
    assert p.values.shape == (120, 120) and np.all(np.isfinite(p.values)) and p.values.min() >= 0
    assert p.extras["samples"] == 256 and m.seconds["perturbation"] > 0
    maps_only = explainer.explain(result, "red dress", "", query_image=query, slow=("perturbation",))
    assert set(maps_only.faithfulness) == set(IMAGE_METHODS)
    assert np.allclose(maps_only.result_maps["perturbation"].values, p.values, atol=1e-5)  # seeded by the photo
    with pytest.raises(ValueError, match="unknown image method"):
        explainer.explain(result, "red dress", "", query_image=query, faithfulness=("occlusion",))


def test_maps_of_a_portrait_photo_cover_the_photo_not_its_padding(explainer):
    tall = Image.new("RGB", (60, 120), "white")
    ImageDraw.Draw(tall).rectangle([10, 20, 50, 100], fill=(30, 30, 160))
    m = explainer.explain(tall, "blue dress", "", query_image=photo((200, 20, 20), [20, 20, 70, 90]))
    for exp in [*m.result_maps.values(), m.match]:
        rows, cols = exp.values.shape
        assert abs(rows / cols - 2.0) < 0.1
    q = m.query_maps["attention rollout"].values
    assert q.shape == (14, 14)  # the square query photo keeps the token grid


def test_text_only_query_and_no_result_photo(explainer):
    m = explainer.explain(None, "blue jeans", "", query_text="denim")
    assert not m.result_maps and not m.faithfulness and m.match is None
    assert set(m.words) == {"title"}
    with pytest.raises(ValueError):
        explainer.explain(None, "x", "")


def test_the_query_is_explained_with_the_weight_the_search_gave_its_photo(explainer):
    shirt = photo((200, 20, 20), [20, 20, 70, 90])
    photo_only = explainer.explain(shirt, "red shirt", "", query_image=shirt, query_text="blue jeans",
                                   faithfulness=(), image_weight=1.0)
    assert photo_only.score == pytest.approx(1.0, abs=1e-5)  # the result is the query's own photo
    text_only = explainer.explain(shirt, "red shirt", "", query_image=shirt, query_text="blue jeans",
                                  faithfulness=(), image_weight=0.0)
    text = explainer.query_vector(None, "blue jeans")
    assert text_only.score == pytest.approx(float(explainer.embed([shirt])[0] @ text), abs=1e-5)
    even = explainer.explain(shirt, "red shirt", "", query_image=shirt, query_text="blue jeans", faithfulness=())
    assert text_only.score < even.score < photo_only.score  # one fixed even mean was explained whatever the slider
    # a side weighed 0 is not explained: the words of a photo search at "photo", the photo of one at "text"
    assert "query" not in photo_only.words and photo_only.query_maps and photo_only.match is not None
    assert "query" in text_only.words and not text_only.query_maps and text_only.match is None
    assert "query" in even.words and even.query_maps and even.match is not None
    with pytest.raises(ValueError):
        explainer.query_vector(shirt, "x", image_weight=1.5)
    # a zero-width space is no text, as the search reads it: the photo alone (it took half the query's weight)
    assert np.allclose(explainer.query_vector(shirt, "\u200b"), explainer.query_vector(shirt, ""))
    blank = explainer.explain(shirt, "red shirt", "", query_image=shirt, query_text="\u200b", faithfulness=())
    assert blank.score == pytest.approx(1.0, abs=1e-5) and "query" not in blank.words


def test_another_heatmap_adds_its_curves_and_keeps_the_rest(explainer):
    from core.errors import Cancelled

    query, result = photo((200, 20, 20), [20, 20, 70, 90]), photo((180, 30, 30), [40, 30, 100, 100])
    m = explainer.explain(result, "red dress", "", query_image=query, query_text="red", faithfulness=("grad-cam vit",))
    both = explainer.explain(result, "red dress", "", query_image=query, query_text="red",
                             faithfulness=("grad-cam vit", "attention rollout"))
    more = explainer.with_method(m, result, "attention rollout")
    assert set(m.faithfulness) == {"grad-cam vit"}  # the one shown is not changed
    assert set(more.faithfulness) == {"grad-cam vit", "attention rollout"} and more.words is m.words
    assert np.allclose(more.faithfulness["attention rollout"].deletion, both.faithfulness["attention rollout"].deletion,
                       atol=1e-5)  # the same curves as made with the others (random orders seeded by the photo)
    slow = explainer.with_method(more, result, "perturbation")
    assert "perturbation" in slow.result_maps and "perturbation" in slow.faithfulness
    assert "perturbation" not in more.result_maps
    explainer.cancelled = lambda: True  # a cancelled explanation stops between its steps, not only in the curves
    try:
        with pytest.raises(Cancelled):
            explainer.explain(result, "red dress", "", query_image=query, faithfulness=())
    finally:
        explainer.cancelled = lambda: False
