import numpy as np
from PIL import Image

from explain.overlay import heatmap_rgba, overlay
from explain.types import Explanation


def test_overlay_colours_the_relevant_corner_only():
    image = Image.new("RGB", (64, 48), (255, 255, 255))
    values = np.zeros((4, 4))
    values[0, 0] = 1.0
    out = overlay(image, Explanation("m", "id", "t", values), opacity=0.8)
    assert out.size == (64, 48) and out.mode == "RGB"
    assert out.getpixel((2, 2)) != (255, 255, 255)
    assert out.getpixel((60, 44)) == (255, 255, 255)
    flat = heatmap_rgba(np.ones((3, 3)), (10, 10))
    assert np.asarray(flat)[..., 3].max() == 0  # a constant map says nothing: fully transparent
