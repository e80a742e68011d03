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


def centre(v):
    """Centre of mass of a map, as (row, column) fractions."""
    rows, cols = np.indices(v.shape)
    return (rows * v).sum() / v.sum() / v.shape[0], (cols * v).sum() / v.sum() / v.shape[1]


def test_photo_frame_cuts_the_square_padding_off():
    from core.encoders import square_pad
    from explain.types import photo_frame

    photo = Image.new("RGB", (100, 200), "white")  # portrait: padded with 50 px on each side
    photo.paste((255, 0, 0), (0, 150, 30, 200))  # a red block at the photo's bottom-left corner
    # The map a model would give on its padded input: hot exactly where the red block is there.
    padded = np.asarray(square_pad(photo).resize((14, 14), Image.NEAREST))
    model_map = ((padded[..., 0] > 200) & (padded[..., 1] < 50)).astype(np.float32)
    framed = photo_frame(model_map, photo.size)
    assert framed.shape[0] / framed.shape[1] == 2.0  # the photo's aspect, not the square's
    r, c = centre(framed)
    assert r > 0.75 and c < 0.2  # bottom-left, like the block (centre 0.875, 0.15)
    stretched = np.asarray(Image.fromarray(model_map).resize((100, 200), Image.BILINEAR))
    r, c = centre(stretched)
    assert c > 0.3  # what drawing the square map over the photo did: the block lands off it
    square = np.random.default_rng(0).random((14, 14)).astype(np.float32)
    assert np.array_equal(photo_frame(square, (80, 80)), square)


def test_overlay_can_shrink_a_large_photo_first():
    image = Image.new("RGB", (4000, 3000), (255, 255, 255))
    values = np.zeros((4, 4))
    values[0, 0] = 1.0
    out = overlay(image, values, opacity=0.8, max_side=400)
    assert out.size == (400, 300)
    assert out.getpixel((5, 5)) != (255, 255, 255) and out.getpixel((395, 295)) == (255, 255, 255)
    assert overlay(Image.new("RGB", (64, 48)), values, max_side=400).size == (64, 48)  # never enlarged


def test_a_map_within_rounding_of_its_values_draws_nothing_and_a_tiny_real_one_draws():
    from explain.facts import region_of
    from explain.match_map import match_map

    rng = np.random.default_rng(0)
    import torch

    cells = torch.from_numpy(rng.normal(size=(1, 64, 7, 7)).astype(np.float32))
    itself = match_map(cells, cells.clone()).values  # a query photo that is the result's own: cosines 1 +- 1e-6
    assert np.ptp(itself) < 1e-5
    assert np.asarray(heatmap_rgba(itself, (20, 20)))[..., 3].max() == 0  # no full-contrast speckle
    assert Explanation("m", "id", "t", itself).normalised().max() == 0 and region_of(itself) is None
    tiny = np.zeros((4, 4), np.float32)
    tiny[0, 0] = 1e-9  # gradients can be this small: a real map, scaled up
    assert np.asarray(heatmap_rgba(tiny, (20, 20)))[..., 3].max() > 0 and region_of(tiny) == "top left"
