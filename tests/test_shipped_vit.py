"""The shipped ViT weights: they load, and texts find their photos on a known fixture pair."""
import numpy as np
import pytest
from PIL import Image

from core.vit_files import SHIPPED_WEIGHTS, vit_model_id

pytestmark = pytest.mark.weights

DEMO = SHIPPED_WEIGHTS.parents[2] / "demo" / "images"
PAIRS = {"11686.jpg": "men's blue and green striped shirt", "10133.jpg": "women black silver wrist watch",
         "10365.jpg": "women's short black dress"}


def test_shipped_weights_rank_known_pairs():
    from core.vit import VitEncoder

    assert vit_model_id() is not None
    enc = VitEncoder()
    assert enc.model_id == vit_model_id() and enc.dim == 384 and enc.cfg.grid == 14
    images = enc.encode_images([Image.open(DEMO / f).convert("RGB") for f in PAIRS])
    texts = enc.encode_texts(list(PAIRS.values()))
    sims = texts @ images.T
    assert list(np.argmax(sims, axis=1)) == [0, 1, 2]  # each text finds its own photo
    assert np.allclose(np.linalg.norm(images, axis=1), 1, atol=1e-4)
