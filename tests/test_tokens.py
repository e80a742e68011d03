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


@pytest.mark.weights
def test_emoji_have_no_words_and_a_long_text_is_cut_between_words():
    from core import runtime
    from core.encoders import MiniLMTextEncoder
    from explain.tokens import TokenAttributor, coverage_note

    runtime.configure()
    enc = MiniLMTextEncoder()
    a = TokenAttributor(enc.model, enc.model_id, steps=2)
    target = enc.encode_texts(["dress"])[0]
    assert a.readable_words("blue 👗 skirt") == ["blue", "skirt"] and a.readable_words("👗") == []
    emoji = a.explain("👗", target)  # [CLS] [UNK] [SEP]: nothing to attribute
    assert emoji.tokens == () and coverage_note(emoji).startswith("no words the text model reads")
    words = [f"unbelievably{i}" for i in range(300)]  # 4 or 5 word pieces each: the first 50-odd fit
    long = a.explain(" ".join(words), target)
    assert 40 < len(long.tokens) < 70 and list(long.tokens) == words[:len(long.tokens)]  # no half word at the end
    assert long.extras["words_total"] == 300 and len(long.values) == len(long.tokens)
    assert coverage_note(long) == f"cut after {len(long.tokens)} of 300 words: the text model reads no further"
    short = a.explain("red dress", target)
    assert short.extras["words_total"] == 2 and coverage_note(short) == ""
    marks = a.explain("T-shirt's, 2.6 cm!", target)  # marks are attributed, but are no words to count
    assert coverage_note(marks) == "" and marks.extras["words_total"] == 6  # t shirt s 2 6 cm
    chinese = a.explain("蓝色 裙子", target)  # three of the four characters are outside MiniLM's vocabulary
    assert len(chinese.tokens) == 1
    assert coverage_note(chinese) == "3 characters or words outside the text model's vocabulary left out"
