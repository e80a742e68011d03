"""Tests for core.images: the whole bad-input corpus is generated in tmp_path at test time."""
from __future__ import annotations

import hashlib
import io
import os
import re
import struct
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFile, ImageFilter

from core.errors import BadImage
from core.images import (
    BLUR_THRESHOLD,
    MAX_PIXELS,
    TINY_SIDE,
    LoadedImage,
    fit_within,
    load_image,
    make_thumbnail,
    resolve_image_path,
)


# ---------------------------------------------------------------- helpers

def photo_like(width: int = 320, height: int = 240, seed: int = 0) -> Image.Image:
    """A sharp, textured RGB image: smooth colour field plus hard-edged discs."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    img = Image.fromarray(base).resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(40):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(4, 40))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    return img


def save(img: Image.Image, path: Path, fmt: str | None = None, **kw) -> Path:
    img.save(path, fmt, **kw)
    return path


def encoded(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_header(width: int, height: int, idat: bytes, bit_depth: int = 1,
                    color_type: int = 0) -> bytes:
    """A PNG whose IHDR claims width x height, with the given (compressed) IDAT payload."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b""))


def reason_of(source) -> str:
    with pytest.raises(BadImage) as info:
        load_image(source)
    assert str(info.value)  # a message for people, never empty
    return info.value.reason


def pixel(loaded: LoadedImage, xy=(0, 0)) -> tuple[int, int, int]:
    return loaded.image.getpixel(xy)


def near(a, b, tol: int = 12) -> bool:
    return all(abs(int(x) - int(y)) <= tol for x, y in zip(a, b))


@pytest.fixture(scope="module")
def bomb_png() -> bytes:
    """A valid 20000x20000 1-bit PNG (400 Mpx) that is only ~50 kB on disk."""
    comp = zlib.compressobj(9)
    block = bytes((1 + 20000 // 8) * 1000)  # 1000 rows: filter byte + 2500 zero bytes each
    idat = b"".join(comp.compress(block) for _ in range(20)) + comp.flush()
    return png_with_header(20000, 20000, idat)


# ---------------------------------------------------------------- refusals

def test_missing_file(tmp_path):
    assert reason_of(tmp_path / "nope.jpg") == "missing"


def test_folder_is_not_a_file(tmp_path):
    assert reason_of(tmp_path) == "missing"


def test_zero_bytes(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    assert reason_of(path) == "empty"
    assert reason_of(b"") == "empty"


def test_text_file_named_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a picture\n" * 20, encoding="utf-8")
    assert reason_of(path) == "not_an_image"


def test_truncated_jpeg(tmp_path):
    data = encoded(photo_like(), "JPEG", quality=90)
    path = tmp_path / "half.jpg"
    path.write_bytes(data[: len(data) // 2])
    assert reason_of(path) == "truncated"
    path.write_bytes(data[:400])  # cut within its header: it read "damaged (Truncated File Read)"
    assert reason_of(path) == "truncated"


def test_truncated_png(tmp_path):
    data = encoded(photo_like(), "PNG")
    assert reason_of(data[: len(data) // 2]) == "truncated"


def test_corrupt_bytes_in_middle_of_png(tmp_path):
    data = bytearray(encoded(photo_like(), "PNG"))
    mid = len(data) // 2
    data[mid: mid + 64] = bytes(64)
    path = tmp_path / "corrupt.png"
    path.write_bytes(bytes(data))
    assert reason_of(path) == "unreadable"


def test_decompression_bomb_refused_fast(tmp_path, bomb_png):
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb_png)
    assert path.stat().st_size < 200_000
    start = time.perf_counter()
    assert reason_of(path) == "too_large"
    assert reason_of(bomb_png) == "too_large"
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("size", [(7072, 7071), (8000, 8000), (10000, 9000), (30000, 30000)])
def test_too_large_is_decided_from_the_header(size):
    # Sizes below, between and above Pillow's warning/error limits. The pixel data is cut off,
    # so decoding would report "truncated": "too_large" proves nothing was decoded.
    assert size[0] * size[1] > MAX_PIXELS
    data = png_with_header(*size, idat=zlib.compress(bytes(100)))
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert reason_of(data) == "too_large"
    assert time.perf_counter() - start < 0.5
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]


def test_pillow_globals_untouched(bomb_png):
    before = Image.MAX_IMAGE_PIXELS
    reason_of(bomb_png)
    load_image(encoded(photo_like(), "PNG"))
    assert Image.MAX_IMAGE_PIXELS == before
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_message_names_the_file(tmp_path):
    path = tmp_path / "gone.png"
    with pytest.raises(BadImage) as info:
        load_image(path)
    assert "gone.png" in str(info.value)


@pytest.mark.parametrize("data, problem", [(b"", "is empty (0 bytes)"), (b"not an image", "is not an image")])
def test_bytes_with_a_name_are_named_in_the_message(data, problem):
    with pytest.raises(BadImage, match="^The image file 'pics/a.jpg' " + re.escape(problem)):
        load_image(data, name="pics/a.jpg")
    with pytest.raises(BadImage, match="^The supplied image " + re.escape(problem)):
        load_image(data)


def test_a_folder_is_said_to_be_a_folder(tmp_path):
    with pytest.raises(BadImage, match="is a folder, not an image"):
        load_image(tmp_path)


# ---------------------------------------------------------------- conversions

def test_plain_rgb_file_and_bytes_agree(tmp_path):
    path = save(photo_like(), tmp_path / "a.png")
    from_path, from_bytes = load_image(path), load_image(path.read_bytes())
    assert from_path.sha256 == from_bytes.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (from_path.width, from_path.height) == (320, 240) == from_path.image.size
    assert from_path.image.mode == "RGB" and from_path.notes == ()
    assert np.array_equal(np.asarray(from_path.image), np.asarray(from_bytes.image))


def test_cmyk_jpeg(tmp_path):
    path = save(Image.new("CMYK", (80, 80), (0, 255, 255, 0)), tmp_path / "cmyk.jpg", quality=95)
    loaded = load_image(path)
    assert loaded.image.mode == "RGB"
    assert near(pixel(loaded, (40, 40)), (255, 0, 0), tol=20)
    assert "converted from CMYK" in loaded.notes


def test_grayscale(tmp_path):
    path = save(Image.new("L", (80, 80), 100), tmp_path / "gray.png")
    loaded = load_image(path)
    assert loaded.image.mode == "RGB" and pixel(loaded) == (100, 100, 100)
    assert "grayscale converted" in loaded.notes


def test_rgba_transparent_pixels_become_white(tmp_path):
    img = Image.new("RGBA", (80, 80), (0, 0, 0, 0))
    img.paste((200, 10, 10, 255), (20, 20, 60, 60))
    loaded = load_image(save(img, tmp_path / "cutout.png"))
    assert pixel(loaded, (0, 0)) == (255, 255, 255)
    assert pixel(loaded, (40, 40)) == (200, 10, 10)
    assert "alpha composited on white" in loaded.notes


def test_la_half_transparent(tmp_path):
    loaded = load_image(save(Image.new("LA", (80, 80), (0, 128)), tmp_path / "la.png"))
    assert near(pixel(loaded), (127, 127, 127), tol=2)
    assert "alpha composited on white" in loaded.notes


def test_16bit_grayscale_keeps_brightness(tmp_path):
    img = Image.fromarray(np.full((80, 80), 30000, dtype=np.uint16))
    assert img.mode == "I;16"
    path = save(img, tmp_path / "gray16.png")
    with Image.open(path) as check:
        assert check.mode.startswith("I")
    loaded = load_image(path)
    value = pixel(loaded)
    assert value[0] == value[1] == value[2]
    assert abs(value[0] - round(30000 / 65535 * 255)) <= 1  # mid-grey (117), not white
    assert "16-bit scaled to 8-bit" in loaded.notes


def test_float_grayscale_tiff(tmp_path):
    img = Image.fromarray(np.full((80, 80), 0.5, dtype=np.float32))
    loaded = load_image(save(img, tmp_path / "float.tif"))
    assert near(pixel(loaded), (128, 128, 128), tol=1)


def test_a_float_tiff_with_values_that_are_not_numbers_keeps_its_brightness(tmp_path):
    import warnings

    values = np.full((80, 80), 0.5, dtype=np.float32)
    values[:4, :4] = np.nan
    values[-4:, -4:] = np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "invalid value encountered in cast", on every read
        loaded = load_image(save(Image.fromarray(values), tmp_path / "nan.tif"))
    assert near(pixel(loaded, (40, 40)), (128, 128, 128), tol=1)  # mid-grey (NaN made the scale NaN)
    assert loaded.image.getpixel((0, 0)) == (0, 0, 0) and "values that are not numbers shown black" in loaded.notes


def test_palette_gif(tmp_path):
    img = Image.new("P", (80, 80), 1)
    img.putpalette([0, 0, 0, 10, 200, 30] + [0, 0, 0] * 254)
    loaded = load_image(save(img, tmp_path / "palette.gif"))
    assert pixel(loaded) == (10, 200, 30)
    assert "palette converted" in loaded.notes


def test_palette_png_with_transparency(tmp_path):
    img = Image.new("P", (80, 80), 0)
    img.putpalette([9, 9, 9, 10, 200, 30] + [0, 0, 0] * 254)
    img.paste(1, (20, 20, 60, 60))
    loaded = load_image(save(img, tmp_path / "ptrns.png", transparency=0))
    assert pixel(loaded, (0, 0)) == (255, 255, 255)
    assert pixel(loaded, (40, 40)) == (10, 200, 30)


@pytest.mark.parametrize("fmt, ext, kw", [("GIF", "gif", {}), ("PNG", "png", {}),
                                          ("WEBP", "webp", {"lossless": True})])
def test_animated_takes_first_frame(tmp_path, fmt, ext, kw):
    frames = [Image.new("RGB", (64, 64), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    path = tmp_path / f"anim.{ext}"
    frames[0].save(path, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **kw)
    loaded = load_image(path)
    assert near(pixel(loaded, (32, 32)), (255, 0, 0))
    assert "animated: first frame used" in loaded.notes


def test_exif_orientation_applied(tmp_path):
    img = Image.new("RGB", (120, 60), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 60, 60))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to display
    loaded = load_image(save(img, tmp_path / "phone.jpg", exif=exif, quality=95))
    assert (loaded.width, loaded.height) == (60, 120) == loaded.image.size
    assert near(pixel(loaded, (30, 10)), (255, 0, 0), tol=30)  # red half is now on top
    assert "EXIF rotation applied" in loaded.notes


def test_unicode_file_name(tmp_path):
    path = save(photo_like(), tmp_path / "платье 👗.png")
    assert load_image(path).width == 320
    assert resolve_image_path(tmp_path, "платье 👗.png") == path.resolve()


# ---------------------------------------------------------------- quality flags

def test_tiny_flagged(tmp_path):
    loaded = load_image(save(photo_like(200, TINY_SIDE - 1), tmp_path / "tiny.png"))
    assert "tiny" in loaded.flags
    assert "tiny" not in load_image(save(photo_like(200, TINY_SIDE), tmp_path / "ok.png")).flags


def test_blurry_flagged_sharp_not(tmp_path):
    sharp = photo_like(320, 240, seed=3)
    blurred = sharp.filter(ImageFilter.GaussianBlur(4))
    loaded_sharp = load_image(save(sharp, tmp_path / "sharp.png"))
    loaded_blur = load_image(save(blurred, tmp_path / "blur.png"))
    assert loaded_sharp.blur > BLUR_THRESHOLD and "blurry" not in loaded_sharp.flags
    assert loaded_blur.blur < BLUR_THRESHOLD and "blurry" in loaded_blur.flags
    assert loaded_sharp.flags == ()


def test_loaded_image_is_frozen(tmp_path):
    loaded = load_image(save(photo_like(), tmp_path / "a.png"))
    with pytest.raises(AttributeError):
        loaded.width = 1  # type: ignore[misc]


# ---------------------------------------------------------------- resolve_image_path

@pytest.fixture
def layout(tmp_path):
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    save(photo_like(64, 64), root / "sub" / "a.png")
    outside = save(photo_like(64, 64), tmp_path / "secret.png")
    return root, outside


def test_resolve_inside(layout):
    root, _ = layout
    expected = (root / "sub" / "a.png").resolve()
    assert resolve_image_path(root, "sub/a.png") == expected
    assert resolve_image_path(root, "sub/../sub/a.png") == expected
    assert resolve_image_path(root, str(expected)) == expected  # absolute but inside


def test_resolve_forgiving_spellings(layout):
    root, _ = layout
    expected = (root / "sub" / "a.png").resolve()
    assert resolve_image_path(root, " sub\\a.png ") == expected


def test_resolve_dotdot_escape(layout):
    root, _ = layout
    with pytest.raises(BadImage) as info:
        resolve_image_path(root, "../secret.png")
    assert info.value.reason == "outside_folder"


def test_resolve_absolute_outside(layout):
    root, outside = layout
    with pytest.raises(BadImage) as info:
        resolve_image_path(root, str(outside))
    assert info.value.reason == "outside_folder"


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_resolve_symlink_pointing_outside(layout):
    root, outside = layout
    (root / "link.png").symlink_to(outside)
    (root / "inner.png").symlink_to(root / "sub" / "a.png")
    with pytest.raises(BadImage) as info:
        resolve_image_path(root, "link.png")
    assert info.value.reason == "outside_folder"
    assert resolve_image_path(root, "inner.png") == (root / "sub" / "a.png").resolve()


@pytest.mark.parametrize("relative", ["sub/none.png", "sub", "", "bad\x00name.png"])
def test_resolve_missing(layout, relative):
    root, _ = layout
    with pytest.raises(BadImage) as info:
        resolve_image_path(root, relative)
    assert info.value.reason == "missing"


def test_resolve_a_folder_named_like_an_image(layout):
    root, _ = layout
    (root / "shot.jpg").mkdir()
    with pytest.raises(BadImage, match="^Image 'shot.jpg' is a folder, not an image") as info:
        resolve_image_path(root, "shot.jpg")
    assert info.value.reason == "missing"
    with pytest.raises(BadImage, match="^Image 'none.jpg' was not found"):
        resolve_image_path(root, "none.jpg")


# ---------------------------------------------------------------- thumbnails

@pytest.mark.parametrize("size, expected", [((400, 200), (160, 80)), ((90, 300), (48, 160)),
                                            ((50, 40), (50, 40))])
def test_thumbnail_fits(size, expected):
    data = make_thumbnail(photo_like(*size))
    thumb = Image.open(io.BytesIO(data))
    assert thumb.format == "JPEG"
    assert thumb.size == expected


def test_thumbnail_of_non_rgb_and_custom_size():
    data = make_thumbnail(Image.new("RGBA", (300, 300), (0, 0, 0, 0)), size=64)
    thumb = Image.open(io.BytesIO(data))
    assert thumb.size == (64, 64) and near(thumb.getpixel((5, 5)), (255, 255, 255), tol=3)
    with pytest.raises(ValueError):
        make_thumbnail(photo_like(), size=0)


@pytest.mark.parametrize("size, side, expected", [((4000, 3000), 448, (448, 336)), ((300, 900), 448, (149, 448)),
                                                  ((200, 100), 448, (200, 100)), ((5000, 7), 448, (448, 1))])
def test_fit_within_shrinks_the_longer_side_and_never_enlarges(size, side, expected):
    image = Image.new("L", size, 128)
    out = fit_within(image, side)
    assert out.size == expected and out.mode == "RGB" and image.size == size and image.mode == "L"
    assert near(out.getpixel((0, 0)), (128, 128, 128), tol=1)
    with pytest.raises(ValueError):
        fit_within(image, 0)


def test_a_preview_is_decoded_small_upright_and_checked_all_the_same(tmp_path):
    img = Image.new("RGB", (4000, 2000), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 2000, 2000))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6
    path = save(img, tmp_path / "big.jpg", exif=exif, quality=90)
    preview = load_image(path, max_side=500)
    assert preview.image.size == (250, 500) and "EXIF rotation applied" in preview.notes
    assert near(pixel(preview, (125, 20)), (255, 0, 0), tol=30)  # red on top, as in the full decode
    assert load_image(path).image.size == (2000, 4000)  # without max_side: all of it
    assert load_image(save(photo_like(), tmp_path / "p.png"), max_side=100).image.size[0] <= 100
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(BadImage) as err:
        load_image(cut, max_side=500)
    assert err.value.reason == "truncated"
