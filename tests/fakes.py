"""Fakes behind the encoder protocol: cheap, deterministic, and similar inputs give similar vectors."""
from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np
from PIL import Image

from core.encoders import l2_normalise


class ColourGridEncoder:
    """Image -> its 4x4 grid of mean colours (48-d), centred and normalised: same colours, same vector."""

    modalities = frozenset({"image"})

    def __init__(self, model_id: str = "fake-colour-grid"):
        self.model_id = model_id
        self.dim = 48
        self.calls = 0

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        self.calls += len(images)
        if not images:
            return np.zeros((0, self.dim), np.float32)
        grids = [np.asarray(im.convert("RGB").resize((4, 4), Image.BOX), np.float32).ravel() / 255.0 - 0.5
                 for im in images]
        return l2_normalise(np.stack(grids) + 1e-3)

    def encode_texts(self, texts):
        raise NotImplementedError


class BagOfWordsEncoder:
    """Text -> hashed bag of lower-cased words (64-d): texts sharing words are similar."""

    modalities = frozenset({"text"})

    def __init__(self, model_id: str = "fake-bag-of-words", dim: int = 64):
        self.model_id = model_id
        self.dim = dim
        self.calls = 0

    def reads(self, text: str) -> bool:
        """As MiniLM's: a text of no word (emoji alone) is read as none."""
        return bool(re.findall(r"\w+", text))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += len(texts)
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
            out[i, 0] += 1e-3
        return l2_normalise(out)

    def encode_images(self, images):
        raise NotImplementedError


def fake_spaces():
    from core.spaces import Space

    return [Space("image", ColourGridEncoder(), "image"), Space("text", BagOfWordsEncoder(), "text")]


COLOUR_WORDS = {"red": (1.0, 0.1, 0.1), "blue": (0.1, 0.2, 1.0), "green": (0.1, 0.9, 0.2), "black": (0.05, 0.05, 0.05),
                "white": (1.0, 1.0, 1.0)}


class ColourNameEncoder:
    """A joint fake: photos by their mean non-white colour, texts by the colour words they name."""

    modalities = frozenset({"image", "text"})

    def __init__(self, model_id: str = "fake-colour-name"):
        self.model_id, self.dim = model_id, 3

    def encode_images(self, images):
        out = []
        for im in images:
            px = np.asarray(im.convert("RGB"), np.float32).reshape(-1, 3) / 255.0
            fg = px[px.min(axis=1) < 0.9]
            out.append((fg if len(fg) else px).mean(axis=0) + 0.02)
        return l2_normalise(np.stack(out)) if out else np.zeros((0, 3), np.float32)

    def encode_texts(self, texts):
        out = []
        for text in texts:
            words = [COLOUR_WORDS[w] for w in re.findall(r"\w+", text.lower()) if w in COLOUR_WORDS]
            out.append(np.mean(words, axis=0) if words else np.full(3, 0.5))
        return l2_normalise(np.stack(out)) if out else np.zeros((0, 3), np.float32)
