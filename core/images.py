"""Safe loading of product and query images (Pillow + numpy only).

:func:`load_image` refuses decompression bombs from the header alone, tells truncated, damaged
and non-image files apart, and returns one fully decoded 8-bit RGB frame, EXIF orientation
applied, with quality hints. Problems raise :class:`~core.errors.BadImage` with a ``reason`` code.
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import BadImage

log = logging.getLogger(__name__)

MAX_PIXELS: int = 50_000_000  # more pixels (from the header) is refused as a decompression bomb
TINY_SIDE: int = 64  # an image whose shorter side is below this is flagged "tiny"
BLUR_SIDE: int = 256  # sharpness is measured on the grayscale image shrunk to this size at most
BLUR_THRESHOLD: float = 60.0
"""Below this variance of the Laplacian an image is flagged ``"blurry"``.

At :data:`BLUR_SIDE` (about the scale the encoders see) sharp photos of 128-640 px, also on wide
white margins, scored 250-6000 and the same photos after a radius-4 Gaussian blur 3-40; 60 keeps
sharp product shots on plain backgrounds clear. Flat single-colour images are flagged too."""
_MAX_FILE_BYTES = 512 * 1024 * 1024
_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "AVIF", "BMP", "TIFF", "ICO", "PPM", "JPEG2000", "QOI")
_ALPHA_MODES = {"LA", "La", "PA", "RGBA", "RGBa"}
_BOMB = (Image.DecompressionBombError, Image.DecompressionBombWarning)


@dataclass(frozen=True)
class LoadedImage:
    """A decoded RGB image; ``width``/``height`` are its full size after EXIF rotation."""

    image: Image.Image
    width: int
    height: int
    sha256: str
    notes: tuple[str, ...]
    blur: float
    flags: tuple[str, ...]


def resolve_image_path(root: Path, relative: str) -> Path:
    """Return the real path of catalog image ``relative`` inside the image folder ``root``.

    Symlinks, ``..`` and absolute paths are resolved first; the result must lie inside ``root``
    (else ``BadImage("outside_folder")``) and be a regular file (else ``BadImage("missing")``, whose message
    tells a folder from a file that is not there).
    Also tries the name with stripped spaces, ``\\`` as separator and NFC/NFD Unicode forms."""
    base = _real(Path(root), relative)
    folder = False
    for variant in _name_variants(relative):
        path = _real(base / variant, relative)
        if not path.is_relative_to(base):
            raise BadImage("outside_folder", f"Image '{relative}' points outside the image folder "
                           f"'{base}', so it is not used. Copy the file into that folder and "
                           "give its path relative to the folder.")
        if os.path.isfile(path):  # False (not an error) for unreadable or odd paths
            return path
        folder = folder or (path != base and os.path.isdir(path))
    if folder:
        raise BadImage("missing", f"Image '{relative}' is a folder, not an image. Give the path of the "
                       "image file inside it.")
    raise BadImage("missing", f"Image '{relative}' was not found in the image folder '{base}'. "
                   "Check the file name in the catalog (letter case counts) or add the file.")


def _real(path: Path, shown: str) -> Path:
    """``path`` with symlinks and ``..`` resolved; a name that cannot exist counts as missing."""
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # loops, bad names, NUL bytes
        raise BadImage("missing", f"Image path '{shown}' cannot be used ({exc}). "
                       "Fix the file name in the catalog.") from exc


def _name_variants(relative: str) -> list[str]:
    """The name as written first, then forgiving spellings of it, without duplicates."""
    names = (relative, relative.strip(), relative.strip().replace("\\", "/"))
    forms = (f for n in names for f in (n, unicodedata.normalize("NFC", n),
                                        unicodedata.normalize("NFD", n)))
    return list(dict.fromkeys(forms))


def load_image(source: Path | bytes, name: str | None = None, max_side: int | None = None) -> LoadedImage:
    """Decode ``source`` (a file path or the file's bytes) into a :class:`LoadedImage`; ``name``: the path that
    messages give for bytes (an import reads the bytes itself, to hash them, but the file has a name).
    ``max_side``: a preview at most that many pixels a side (a JPEG is decoded at a reduced scale, every
    check still made); never for what a model sees.

    Raises ``BadImage`` with reason ``missing``, ``empty``, ``not_an_image``, ``truncated``,
    ``too_large`` or ``unreadable``. Never changes Pillow's global settings.
    """
    data, name = _read(source, name)
    image, notes = _decode(data, name, max_side)
    try:
        image = _to_rgb(image, notes)
    except ValueError as exc:
        raise _bad("unreadable", name, f"uses colour mode {image.mode}, which is not supported",
                   "save it as an ordinary RGB JPEG or PNG") from exc
    blur = _blur_score(image)
    flags = tuple(f for f, on in (("tiny", min(image.size) < TINY_SIDE),
                                  ("blurry", blur < BLUR_THRESHOLD)) if on)
    log.debug("loaded %s %dx%d notes=%s blur=%.1f flags=%s", name, *image.size, notes, blur, flags)
    return LoadedImage(image, image.width, image.height, hashlib.sha256(data).hexdigest(),
                       tuple(notes), blur, flags)


def read_image_file(path: Path, name: str | None = None) -> bytes:
    """The bytes of the image file at ``path``, checked as :func:`load_image` checks a path (a folder, a missing,
    an unreadable, an empty file, one over 512 MB: never read into memory) with ``name`` in the messages."""
    data, _ = _read(Path(path), name)
    return data


def _read(source: Path | bytes, name: str | None = None) -> tuple[bytes, str]:
    """The file's bytes and a name for messages."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), f"image file '{name}'" if name is not None else "supplied image"
    else:
        path = Path(os.fspath(source))
        name = f"image file '{name if name is not None else path}'"
        try:
            if path.is_dir():
                raise _bad("missing", name, "is a folder, not an image", "give the path of an image file")
            if not path.is_file():
                raise _bad("missing", name, "does not exist (or is not a file)",
                           "check the path or put the file back")
            if path.stat().st_size > _MAX_FILE_BYTES:
                raise _bad("too_large", name, "is larger than 512 MB", "use a smaller export of it")
            data = path.read_bytes()
        except OSError as exc:
            raise _bad("unreadable", name, f"cannot be read ({exc.strerror or exc})",
                       "check its permissions") from exc
    if not data:
        raise _bad("empty", name, "is empty (0 bytes)", "export or copy the image again")
    return data, name


def _decode(data: bytes, name: str, max_side: int | None = None) -> tuple[Image.Image, list[str]]:
    """Identify, size-check (before decoding) and fully decode the first frame (``max_side``: at most that
    many pixels a side)."""
    Image.init()
    formats = [f for f in _FORMATS if f in Image.OPEN]
    with warnings.catch_warnings():  # also refuse what Pillow only warns about
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=formats)
        except UnidentifiedImageError as exc:
            raise _bad("not_an_image", name, "is not an image Vitrina can read",
                       "save it as JPEG, PNG or WebP") from exc
        except _BOMB as exc:
            raise _too_large(name, "more than Pillow allows") from exc
        except Exception as exc:  # noqa: BLE001 - plugins raise many kinds of errors
            if isinstance(exc, EOFError) or "truncated" in str(exc).lower():  # cut off within its header
                raise _bad("truncated", name, "is incomplete (the file was cut off)",
                           "copy or download it again") from exc
            raise _bad("unreadable", name, f"is damaged ({exc})", "export it again") from exc
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise _too_large(name, f"{width}x{height}")
        animated = getattr(image, "is_animated", False) and image.format != "MPO"
        notes = ["animated: first frame used"] if animated else []
        try:
            if max_side:
                image.draft(None, (max_side, max_side))  # JPEG: decoded at 1/2..1/8 scale; others ignore it
            image.load()
            image = _apply_exif(image, notes)
            if max_side and max(image.size) > max_side:
                image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
            return image, notes
        except (MemoryError, *_BOMB) as exc:
            raise _too_large(name, f"{width}x{height}, not enough memory") from exc
        except Exception as exc:  # noqa: BLE001
            if isinstance(exc, EOFError) or "truncated" in str(exc).lower():
                raise _bad("truncated", name, "is incomplete (the file was cut off)",
                           "copy or download it again") from exc
            raise _bad("unreadable", name, f"cannot be decoded ({exc})", "export it again") from exc


def _apply_exif(image: Image.Image, notes: list[str]) -> Image.Image:
    """Rotate/flip as the EXIF orientation tag says; a broken EXIF block is ignored."""
    try:
        orientation = image.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - damaged EXIF must not make the image unusable
        log.debug("ignoring unreadable EXIF data", exc_info=True)
        return image
    if orientation in range(2, 9):
        notes.append("EXIF rotation applied")
        return ImageOps.exif_transpose(image)
    return image


def _to_rgb(image: Image.Image, notes: list[str]) -> Image.Image:
    """Convert any mode to 8-bit RGB, noting what was done; ValueError if impossible."""
    mode = image.mode
    if mode in ("P", "PA"):
        notes.append("palette converted")
    if mode.startswith("I") or mode == "F":
        image = _gray_to_8bit(image, notes)
    elif mode in ("1", "L"):
        notes.append("grayscale converted")
    if mode in _ALPHA_MODES or "transparency" in image.info:
        return _composite_on_white(image, notes)
    if image.mode not in ("RGB", "1", "L", "P"):
        notes.append(f"converted from {image.mode}")  # CMYK, YCbCr, LAB, HSV
    return image.convert("RGB")


def _gray_to_8bit(image: Image.Image, notes: list[str]) -> Image.Image:
    """Scale 16-bit / 32-bit / float grayscale to 8-bit ``L`` keeping relative brightness."""
    values = np.asarray(image).astype(np.float64)
    finite = np.isfinite(values)
    if not finite.all():  # a float TIFF's NaN or inf made the scale NaN (and numpy's warnings on every read)
        values = np.where(finite, values, 0.0)
        notes.append("values that are not numbers shown black")
    top = float(values.max()) if values.size else 0.0
    if image.mode.startswith("I;16") or top > 255:
        scale = 255.0 / max(65535.0, top)
        notes.append("16-bit scaled to 8-bit")
    else:  # 8-bit values stored wide, or floats in 0..1
        scale = 255.0 if image.mode == "F" and top <= 1.0 else 1.0
    notes.append("grayscale converted")
    return Image.fromarray(np.clip(np.rint(values * scale), 0, 255).astype(np.uint8), "L")


def _composite_on_white(image: Image.Image, notes: list[str]) -> Image.Image:
    """Flatten transparency onto white (what a shop page shows behind a cut-out product)."""
    rgba = image.convert("RGBA")
    if rgba.getchannel("A").getextrema()[0] < 255:
        notes.append("alpha composited on white")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _blur_score(image: Image.Image) -> float:
    """Variance of the 4-neighbour Laplacian of the grayscale image at most BLUR_SIDE a side."""
    gray = image.convert("L")
    if max(gray.size) > BLUR_SIDE:
        gray.thumbnail((BLUR_SIDE, BLUR_SIDE), Image.Resampling.BILINEAR)
    a = np.asarray(gray, dtype=np.float64)
    if min(a.shape) < 3:
        return 0.0
    lap = a[1:-1, :-2] + a[1:-1, 2:] + a[:-2, 1:-1] + a[2:, 1:-1] - 4.0 * a[1:-1, 1:-1]
    return float(lap.var())


def fit_within(image: Image.Image, side: int) -> Image.Image:
    """``image`` in RGB, shrunk (never enlarged, aspect ratio kept) so that its longer side is at most
    ``side``: what the explanations work on and draw, since the encoders see 224 pixels a side and the
    views a few hundred, while a product photo may have 12 megapixels."""
    if side < 1:
        raise ValueError(f"the longer side must be at least 1 pixel, got {side}")
    image = image.convert("RGB")
    if max(image.size) <= side:
        return image
    scale = side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def make_thumbnail(image: Image.Image, size: int = 160) -> bytes:
    """JPEG bytes of ``image`` shrunk (never enlarged) to fit ``size`` x ``size``, aspect kept."""
    if size < 1:
        raise ValueError(f"thumbnail size must be at least 1, got {size}")
    thumb = _to_rgb(image, [])  # always a new image, so the caller's one is left alone
    thumb.thumbnail((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    thumb.save(out, "JPEG", quality=85, optimize=True)
    return out.getvalue()


def _too_large(name: str, detail: str) -> BadImage:
    """The decompression-bomb refusal."""
    return _bad("too_large", name, f"has too many pixels ({detail}; the limit is "
                f"{MAX_PIXELS:,})", "resize it to a few thousand pixels a side")


def _bad(reason: str, name: str, problem: str, action: str) -> BadImage:
    """A BadImage whose message reads 'The <name> <problem>; <action>.'"""
    message = f"The {name} {problem}; {action}."
    log.info("image refused (%s): %s", reason, message)
    return BadImage(reason, message)
