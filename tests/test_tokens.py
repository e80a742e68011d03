import numpy as np
import pytest

from explain.tokens import merge_wordpieces


def test_wordpieces_merge_and_special_tokens_drop():
    words, vals = merge_wordpieces(["[CLS]", "slim", "##fit", "shirt", "[SEP]"], np.array([9, 1, 2, 3, 9.0]),
                                   np.array([1, 0, 0, 0, 1], bool))
    assert words == ["slimfit", "shirt"] and vals == [3.0, 3.0]


@pytest.mark.weights
def test_integrated_gradients_on_minilm_finds_the_matching_word():
    from core import runtime
    from core.encoders import MiniLMTextEncoder
    from explain.tokens import TokenAttributor

    runtime.configure()
    enc = MiniLMTextEncoder()
    target = enc.encode_texts(["sunglasses"])[0]
    attributor = TokenAttributor(enc.model, enc.model_id, steps=32)
    text = "navy cotton shirt with sunglasses print"
    before = text
    exp = attributor.explain(text, target)
    assert list(exp.tokens) == ["navy", "cotton", "shirt", "with", "sunglasses", "print"]
    assert exp.tokens[int(np.argmax(exp.values))] == "sunglasses"
    assert exp.extras["score"] == pytest.approx(float(enc.encode_texts([text])[0] @ target), abs=1e-4)
    assert abs(exp.extras["delta"]) < 0.05 and text == before
    again = attributor.explain(text, target)
    assert np.allclose(exp.values, again.values)
    assert all(p.grad is None for p in enc.model.parameters())


@pytest.mark.weights
def test_batched_texts_match_one_at_a_time():
    from core import runtime
    from core.encoders import MiniLMTextEncoder
    from explain.tokens import TokenAttributor

    runtime.configure()
    enc = MiniLMTextEncoder()
    a = TokenAttributor(enc.model, enc.model_id, steps=16)
    texts = ["red dress", "black leather formal shoes for men"]
    targets = list(enc.encode_texts(["crimson gown", "office footwear"]))
    batched = a.explain_many(texts, targets, ["x", "y"])
    for text, target, b in zip(texts, targets, batched):
        single = a.explain(text, target)
        assert single.tokens == b.tokens and np.allclose(single.values, b.values, atol=2e-3)
        assert b.extras["score"] == pytest.approx(single.extras["score"], abs=1e-5)
