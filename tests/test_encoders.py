"""Encoders: the contract on fakes, and one smoke test per real weights package (-m weights)."""
import numpy as np
import pytest
from PIL import Image

from core.encoders import LazyEncoder, images_to_tensor, l2_normalise, square_pad
from core.errors import EncoderError
from tests.fakes import BagOfWordsEncoder, ColourGridEncoder


def test_square_pad_keeps_aspect_on_white():
    im = Image.new("RGB", (20, 40), (0, 0, 0))
    sq = square_pad(im)
    assert sq.size == (40, 40) and sq.getpixel((0, 0)) == (255, 255, 255) and sq.getpixel((20, 20)) == (0, 0, 0)


def test_images_to_tensor_scales_to_minus_one_one():
    t = images_to_tensor([Image.new("RGB", (8, 8), (255, 0, 128))], 4)
    assert tuple(t.shape) == (1, 3, 4, 4)
    assert t[0, 0].max().item() == pytest.approx(1.0) and t[0, 1].min().item() == pytest.approx(-1.0)


def test_a_large_photo_is_reduced_first_yet_encoded_as_the_padded_square_would_be():
    from core.encoders import fit_square

    y, x = np.mgrid[0:1500, 0:2400]  # a smooth non-square "photo", 3.6 MP, larger than 3 x 224
    photo = Image.fromarray(np.stack([x / 10 % 255, y / 7 % 255, (x + y) / 20 % 255], -1).astype(np.uint8))
    got = np.asarray(fit_square(photo, 224), dtype=np.int16)
    full = np.asarray(square_pad(photo).resize((224, 224), Image.BILINEAR), dtype=np.int16)
    assert got.shape == (224, 224, 3)
    assert np.abs(got - full).mean() < 0.5  # grey levels, over the whole square
    assert (got[:10] == 255).all() and (got[-10:] == 255).all()  # the white padding above and below
    small = Image.new("RGB", (100, 60), (10, 20, 30))  # smaller than the input: resized as before
    assert np.array_equal(np.asarray(fit_square(small, 224)),
                          np.asarray(square_pad(small).resize((224, 224), Image.BILINEAR)))


def test_lazy_encoder_loads_once_and_checks_identity():
    calls = []

    def factory():
        calls.append(1)
        return BagOfWordsEncoder()

    lazy = LazyEncoder(factory, "fake-bag-of-words", 64, frozenset({"text"}))
    assert not lazy.loaded and lazy.dim == 64
    lazy.encode_texts(["a"]), lazy.encode_texts(["b"])
    assert calls == [1]
    wrong = LazyEncoder(BagOfWordsEncoder, "other-id", 64, frozenset({"text"}))
    with pytest.raises(EncoderError, match="Expected encoder other-id"):
        wrong.encode_texts(["x"])


def test_a_model_that_cannot_load_is_said_as_such_and_not_loaded_again():
    calls = []

    def damaged():  # a torch.load of a truncated file, say
        calls.append(1)
        raise RuntimeError("PytorchStreamReader failed reading zip archive")

    lazy = LazyEncoder(damaged, "all-MiniLM-L6-v2", 384, frozenset({"text"}))
    for _ in range(2):
        with pytest.raises(EncoderError, match="all-MiniLM-L6-v2 model could not be loaded .*PytorchStreamReader"):
            lazy.encode_texts(["x"])
    assert calls == [1] and not lazy.loaded

    def short_of_memory():
        calls.append(2)
        raise MemoryError

    lazy = LazyEncoder(short_of_memory, "all-MiniLM-L6-v2", 384, frozenset({"text"}))
    for _ in range(2):
        with pytest.raises(MemoryError):
            lazy.load()
    assert calls == [1, 2, 2]  # tried again: memory may be free by then


@pytest.mark.parametrize("enc,inputs", [(ColourGridEncoder(), "images"), (BagOfWordsEncoder(), "texts")])
def test_fake_encoders_honour_the_contract(enc, inputs):
    data = [Image.new("RGB", (9, 9), (i * 40, 0, 0)) for i in range(3)] if inputs == "images" else ["a b", "c", ""]
    out = getattr(enc, f"encode_{inputs}")(data)
    assert out.shape == (3, enc.dim) and out.dtype == np.float32
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_l2_normalise_handles_zero_rows():
    out = l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert np.allclose(out[0], [0.6, 0.8]) and np.all(np.isfinite(out))


@pytest.mark.weights
def test_efficientnet_lite_real_weights():
    from core.encoders import EfficientNetLiteEncoder

    enc = EfficientNetLiteEncoder("lite0")
    red = Image.new("RGB", (224, 224), "white")
    red.paste((200, 20, 20), (60, 40, 160, 200))
    red2 = red.transpose(Image.FLIP_LEFT_RIGHT)
    stripes = Image.fromarray((np.indices((224, 224)).sum(0) % 16 < 8).astype(np.uint8) * 255).convert("RGB")
    v = enc.encode_images([red, red2, stripes])
    assert v.shape == (3, 1280) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.1  # a mirrored photo is nearer than a texture
    fp32 = EfficientNetLiteEncoder("lite0", bf16=False).encode_images([red, stripes])
    assert np.all(np.sum(fp32 * v[[0, 2]], axis=1) > 0.99)  # bf16 fast path agrees with fp32


@pytest.mark.weights
def test_minilm_real_weights():
    from core.encoders import MiniLMTextEncoder

    enc = MiniLMTextEncoder()
    v = enc.encode_texts(["red evening dress", "crimson gown for women", "leather laptop bag"])
    assert v.shape == (3, 384)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2
    with pytest.raises(EncoderError, match="text only"):
        enc.encode_images([Image.new("RGB", (4, 4))])
    assert enc.reads("red dress 👗") and not enc.reads("👗👠🔥")  # emoji alone: [UNK], an empty text's vector
    assert np.allclose(enc.encode_texts(["👗👠🔥"]), enc.encode_texts(["🔥"]), atol=1e-5)


def tiny_clip_folder(tmp_path):
    """A CLIP with random weights, built from a config and saved like a user's local checkpoint."""
    import json

    from core import runtime

    runtime.configure()  # transformers' image processors import torchvision
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = {t: i for i, t in enumerate(["<|startoftext|>", "<|endoftext|>", *letters, *(c + "</w>" for c in letters)])}
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "merges.txt").write_text("#version: 0.2\n")
    fast = CLIPTokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"))
    cfg = CLIPConfig(text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                      num_attention_heads=2, max_position_embeddings=16),
                     vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                        image_size=32, patch_size=8), projection_dim=16)
    folder = tmp_path / "tiny-clip"
    CLIPModel(cfg).save_pretrained(folder)
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=image_processor, tokenizer=fast).save_pretrained(folder)
    return folder


def test_local_clip_checkpoint_from_a_folder(tmp_path):
    from core.encoders import LocalClipEncoder

    enc = LocalClipEncoder(tiny_clip_folder(tmp_path))
    assert enc.dim == 16 and enc.modalities == {"image", "text"} and enc.model_id.startswith("local-clip-tiny-clip")
    img = enc.encode_images([Image.new("RGB", (50, 40), (200, 0, 0)), Image.new("RGB", (32, 32))])
    txt = enc.encode_texts(["red dress", "bag"])
    assert img.shape == (2, 16) and txt.shape == (2, 16)
    assert np.allclose(np.linalg.norm(np.vstack([img, txt]), axis=1), 1, atol=1e-5)
    with pytest.raises(EncoderError, match="no config.json"):
        LocalClipEncoder(tmp_path)


def test_folding_same_padding_keeps_every_output_and_skips_asymmetric_ones():
    import copy

    import torch
    from efficientnet_lite_pytorch.utils import Conv2dStaticSamePadding
    from torch import nn

    from core.encoders import fold_same_padding

    torch.manual_seed(0)
    net = nn.Sequential(Conv2dStaticSamePadding(3, 8, 3, stride=2, image_size=32),  # pads (0, 1, 0, 1)
                        Conv2dStaticSamePadding(8, 8, 5, stride=1, image_size=16, groups=8),  # pads 2 all round
                        Conv2dStaticSamePadding(8, 4, 1, stride=1, image_size=16))  # no padding
    before = copy.deepcopy(net)
    fold_same_padding(net)
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(net(x), before(x), atol=1e-6)
    assert isinstance(net[0].static_padding, nn.ZeroPad2d) and net[0].padding == (0, 0)
    assert isinstance(net[1].static_padding, nn.Identity) and net[1].padding == (2, 2)
    fold_same_padding(net)  # twice: nothing padded twice
    assert torch.allclose(net(x), before(x), atol=1e-6)
