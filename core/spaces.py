"""Embedding spaces: which encoder embeds which side of a product, and keeping vectors current.

A catalog holds one vector per product per space. The default spaces are ``image`` (product
photo -> EfficientNet-Lite) and ``text`` (title, brand, description -> MiniLM). The project's own
vision transformer adds a joint space in which product photos and query texts meet.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from core.catalog import Catalog, Product
from core.encoders import Encoder, text_hash

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Space:
    name: str
    encoder: Encoder
    source: str  # "image" or "text": the side of a product embedded in this space

    @property
    def encoder_id(self) -> str:
        return self.encoder.model_id


def product_text(title: str, brand: str | None = None, description: str = "") -> str:
    """The text a product is embedded by: what a shopper reads, not the label columns."""
    head = title if not brand or brand.lower() in title.lower() else f"{brand} {title}"
    return f"{head}. {description}".strip(" .") if description else head


def text_of(product: Product) -> str:
    return product_text(product.title, product.brand, product.description)


@dataclass
class PendingEmbedding:
    """Vectors to compute for one product: its pk, its image (if any) and its text."""

    pk: int
    image: Image.Image | None
    image_hash: str | None
    text: str


def embed_pending(catalog: Catalog, spaces: Sequence[Space], items: Sequence[PendingEmbedding],
                  force: bool = False) -> dict[str, list[int]]:
    """Compute and store the vectors that are missing or stale; returns space -> pks written.

    A vector is stale when its encoder id or its input hash (image sha256 / text hash) changed.
    Must be called inside a catalog transaction.
    """
    written: dict[str, list[int]] = {}
    for space in spaces:
        stored = {} if force else catalog.embedding_hashes(space.name, [it.pk for it in items])
        todo, hashes = [], []
        for it in items:
            h = it.image_hash if space.source == "image" else text_hash(it.text)
            if h is None:
                continue
            if stored.get(it.pk) != (space.encoder_id, h):
                todo.append(it)
                hashes.append(h)
        if not todo:
            continue
        if space.source == "image":
            vectors = space.encoder.encode_images([it.image for it in todo])
        else:
            vectors = space.encoder.encode_texts([it.text for it in todo])
        catalog.put_embeddings(space.name, space.encoder_id, [it.pk for it in todo], hashes, vectors)
        written[space.name] = [it.pk for it in todo]
    return written


def stored_photos(catalog: Catalog, unreadable: dict[int, str]) -> Callable[[int], Image.Image | None]:
    """The photo loader ``reembed_all`` asks for: a product's stored photo, or None when it cannot be read, noted
    in ``unreadable`` (pk -> why): one moved photo must not stop a whole re-index (`vitrina index`, File >
    Re-index)."""
    from core.errors import AppError
    from core.images import load_image

    def image_of(pk: int) -> Image.Image | None:
        path = catalog.image_path(pk)
        try:
            return load_image(Path(path)).image if path else None
        except AppError as exc:
            unreadable[pk] = str(exc)
            return None

    return image_of


def reembed_all(catalog: Catalog, space: Space, load_image: Callable[[int], Image.Image | None],
                batch_size: int = 64, cancelled: Callable[[], bool] = lambda: False):
    """Generator: (re)compute ``space`` for every product whose vector is stale; yields (done, total)."""
    pks = catalog.all_pks()
    total = len(pks)
    for start in range(0, total, batch_size):
        if cancelled():
            return
        products = catalog.products(pks[start:start + batch_size])
        items = []
        stored = catalog.embedding_hashes(space.name, [p.pk for p in products])
        for p in products:
            img_hash = _image_hash(catalog, p.pk) if space.source == "image" else None
            want = img_hash if space.source == "image" else text_hash(text_of(p))
            if want is None or stored.get(p.pk) == (space.encoder_id, want):
                continue
            image = load_image(p.pk) if space.source == "image" else None
            if space.source == "image" and image is None:
                continue
            items.append(PendingEmbedding(p.pk, image, img_hash, text_of(p)))
        if items:
            with catalog.transaction():
                embed_pending(catalog, [space], items)
        yield min(start + batch_size, total), total


def _image_hash(catalog: Catalog, pk: int) -> str | None:
    row = catalog.execute("SELECT sha256 FROM images WHERE pk=?", (pk,)).fetchone()
    return row[0] if row else None



def default_spaces() -> list[Space]:
    """The spaces every catalog gets: product photos (EfficientNet-Lite0), texts (MiniLM) and, when its
    weights are installed, Vitrina's own ViT, in which photos and query texts meet."""
    from core.encoders import efficientnet_lite, minilm

    text = minilm()
    spaces = [Space("image", efficientnet_lite(), "image"), Space("text", text, "text")]
    vit = vit_space(text_encoder=text)
    return spaces + [vit] if vit else spaces


def vit_space(weights=None, text_encoder=None) -> Space | None:
    """The ViT space (shipped or given weights); its text side shares ``text_encoder`` when given."""
    from core.encoders import LazyEncoder
    from core.vit_files import SHIPPED_WEIGHTS, vit_model_id

    weights = weights or SHIPPED_WEIGHTS
    model_id = vit_model_id(weights)
    if model_id is None:
        return None

    def factory():
        from core.vit import VitEncoder

        return VitEncoder(weights, text_encoder=text_encoder)

    return Space("vit", LazyEncoder(factory, model_id, 384, frozenset({"image", "text"})), "image")


CLIP_META = "clip_folder"
ADAPTED_META = "vit_weights"  # set when the ViT was adapted to this catalog (core.vit_training)


def models_folder(catalog: Catalog) -> Path:
    """``CATALOG.models``, beside the catalog file: its adapted ViT, its training caches."""
    return catalog.path.with_name(catalog.path.name + ".models")


def stored_weights_path(catalog: Catalog, weights: Path) -> str:
    """How ``weights`` is written in the catalog's meta: relative to the catalog file's folder when under it."""
    try:
        return Path(weights).resolve().relative_to(catalog.path.resolve().parent).as_posix()
    except ValueError:
        return str(Path(weights).resolve())


def adapted_weights(catalog: Catalog) -> Path | None:
    """The catalog's adapted ViT weights, or None when it has none or they are missing (with a warning).

    The meta is relative to the catalog file's folder; metas written before were relative to the working
    directory of the time: the path as written and the default place beside the catalog are tried too.
    """
    written = catalog.meta(ADAPTED_META)
    if not written:
        return None
    path = Path(written)
    candidates = [path] if path.is_absolute() else [catalog.path.resolve().parent / path, path]
    candidates.append(models_folder(catalog) / "vit" / path.name)
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        log.warning("The ViT adapted to %s is missing (%s); the shipped ViT is used instead. "
                    "Run `vitrina adapt` to adapt it again.", catalog.name, written)
    return found.resolve() if found else None


def spaces_for(catalog: Catalog) -> list[Space]:
    """The spaces a catalog uses: the default ones, plus a local CLIP/SigLIP space if it was given one."""
    spaces = default_spaces()
    adapted = adapted_weights(catalog)
    if adapted and any(s.name == "vit" for s in spaces):
        vit = vit_space(adapted, text_encoder=next(s.encoder for s in spaces if s.name == "text"))
        spaces = [vit if s.name == "vit" and vit else s for s in spaces]
    folder = catalog.meta(CLIP_META)
    if folder and not (Path(folder) / "config.json").is_file():
        log.warning("The CLIP folder of %s, %s, is missing (moved or deleted); the catalog is opened without its "
                    "clip space. Point it at the folder's new place with `vitrina import CATALOG CSV --clip FOLDER`.",
                    catalog.name, folder)
    elif folder:
        from core.encoders import LocalClipEncoder

        spaces.append(Space("clip", LocalClipEncoder(folder), "image"))
    return spaces


def add_clip_space(catalog: Catalog, folder: str) -> Space:
    """Give a catalog a space from a user's local CLIP/SigLIP checkpoint (loaded now, to fail early)."""
    from core.encoders import LocalClipEncoder

    folder = str(Path(folder).resolve())
    space = Space("clip", LocalClipEncoder(folder), "image")
    with catalog.transaction():
        catalog.set_meta(CLIP_META, folder)
    return space
