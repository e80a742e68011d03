"""Importing a catalog from CSV / JSON Lines plus an image folder.

``import_catalog`` is a generator: it yields :class:`Progress` and returns an
:class:`ImportReport`. Rows are validated, images checked, vectors computed and everything
written in batches, one transaction each, so an import killed half-way keeps what it committed;
running it again skips unchanged rows (same row hash, same image bytes, same encoder) and
carries on where it stopped. Bad rows never stop an import: each is skipped with its reason.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import re
import unicodedata
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.catalog import Catalog, ImageRecord, ProductRecord
from core.errors import BadImage, Cancelled, ImportFailed
from core.images import load_image, make_thumbnail, read_image_file, resolve_image_path
from core.progress import Progress
from core.sources import RawRow, count_rows, read_rows
from core.spaces import PendingEmbedding, Space, embed_pending, product_text

log = logging.getLogger(__name__)

MAPPABLE = ("id", "title", "description", "brand", "price", "rating", "image")


@dataclass(frozen=True)
class ColumnMapping:
    """Which source column feeds which product field; unmapped columns are kept as attributes."""

    id: str
    title: str | None = None
    description: str | None = None
    brand: str | None = None
    price: str | None = None
    rating: str | None = None
    image: str | None = None
    categories: tuple[str, ...] = ()

    @classmethod
    def guess(cls, columns: Sequence[str], counts: Mapping[str, int] | None = None,
              **given: str | None) -> "ColumnMapping":
        """A first mapping from common column names (the wizard and the CLI start from it); the ``given`` columns
        (those not None) replace only the fields they name, so an id given by hand keeps the guessed title.
        Of names that differ only in case or "_" (a JSON Lines file with "Title" on one line and "title" on the
        others) the plain lowercase one is taken, else the one on most rows (``counts``), else the first."""
        lower: dict[str, str] = {}
        for c in columns:
            key = _folded(c)
            if key not in lower or _more_usual(c, lower[key], key, counts or {}):
                lower[key] = c
        synonyms = {
            "id": ("id", "sku", "articleid", "productid", "itemid"),
            "title": ("title", "name", "prodname", "productname", "productdisplayname"),
            "description": ("description", "detaildesc", "desc", "details"),
            "brand": ("brand", "brandname", "manufacturer"),
            "price": ("price", "cost", "unitprice"),
            "rating": ("rating", "stars", "averagerating"),
            "image": ("image", "imagepath", "img", "picture", "photo", "image224"),
        }
        found = {f: next((lower[s] for s in names if s in lower), None) for f, names in synonyms.items()}
        found |= {f: c for f, c in given.items() if c is not None}
        if not found["id"]:
            raise ImportFailed(f"No id column found among {', '.join(columns)}; say which column is the id.")
        return cls(**found)

    def with_overrides(self, **kw) -> "ColumnMapping":
        return ColumnMapping(**{**asdict(self), **{k: v for k, v in kw.items() if v is not None}})

    def validate(self, columns: Sequence[str]) -> None:
        from core.catalog import INTERNAL_ATTRIBUTES

        roles = {getattr(self, f) for f in MAPPABLE} - set(self.categories)
        for column in columns:  # a column kept as an attribute of that name was replaced by the import's own
            if column in INTERNAL_ATTRIBUTES and column not in roles:
                raise ImportFailed(f"The column '{column}' has the name of what Vitrina records of each product's "
                                   "photo (ok, tiny, blurry...), which would replace its values: rename it in the "
                                   f"file (e.g. to '{column.replace('image_', 'photo_')}').")
        missing = [c for c in self.used_columns() if c not in columns]
        if missing:
            folded = {c.lower(): c for c in columns}
            named = [c + (f" (the file has '{folded[c.lower()]}': letter case counts)" if c.lower() in folded else "")
                     for c in missing]
            raise ImportFailed(f"The mapping names columns that the file does not have: {', '.join(named)}. "
                               f"Its columns are: {', '.join(columns)}.")

    def used_columns(self) -> list[str]:
        return [c for c in (*(getattr(self, f) for f in MAPPABLE), *self.categories) if c]


def _more_usual(column: str, taken: str, key: str, counts: Mapping[str, int]) -> bool:
    """Whether ``column`` rather than ``taken`` (the same name but for case or "_") should fill a role."""
    if (column == key) != (taken == key):
        return column == key
    return counts.get(column, 0) > counts.get(taken, 0)


@dataclass(frozen=True)
class ImportOptions:
    image_root: Path | None = None  # default: the source file's folder
    require_image: bool = False     # skip rows without an image path
    prune: bool = False             # remove catalog products absent from the source
    batch_size: int = 64
    thumbnail_size: int = 160


@dataclass(frozen=True)
class Skipped:
    line: int
    sku: str | None
    reason: str
    detail: str


@dataclass
class ImportReport:
    source: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    pairs: int = 0  # co-purchase pairs new to the catalog (a pair listed both ways counts once)
    pairs_known: int = 0  # pairs of the file the catalog had: their weight is now the file's
    pairs_merged: int = 0  # lines that repeat an earlier line's pair (the larger weight is kept)
    pairs_reversed: int = 0  # lines that give a pair of an earlier line the other way round (both are kept)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[tuple[int, str, str]] = field(default_factory=list)  # (line, sku, note)
    embedded: dict[str, list[int]] = field(default_factory=dict)
    cancelled: bool = False
    not_pruned: str = ""  # why --prune removed nothing, when it could not tell which products the file lists

    def summary(self) -> str:
        parts = [f"{self.added} added", f"{self.updated} updated", f"{self.unchanged} unchanged",
                 f"{len(self.skipped)} skipped"]
        if self.removed:
            parts.append(f"{self.removed} removed")
        if self.pairs:
            parts.append(f"{self.pairs} co-purchase pairs")
        return (("Import cancelled: " if self.cancelled else "Import finished: ") + ", ".join(parts)
                + (f"; nothing removed: {self.not_pruned}" if self.not_pruned else ""))

    def pairs_summary(self) -> str:
        """The co-purchase import in a line: what was stored, merged and skipped."""
        parts = [f"{self.pairs} imported"]
        if self.pairs_known:
            parts.append(f"{self.pairs_known} already in the catalog (weights updated from the file)")
        parts.append(f"{len(self.skipped)} skipped")
        lines = [f"{n} line{'s' if n > 1 else ''} {what}" for n, what in (
            (self.pairs_merged, "repeated an earlier line's pair (merged: the larger weight is kept)"),
            (self.pairs_reversed, "gave an earlier line's pair the other way round (both directions are kept)"))
            if n]
        return "co-purchase pairs: " + ", ".join(parts) + "".join(f"; {line}" for line in lines)

    def reasons(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.skipped:
            out[s.reason] = out.get(s.reason, 0) + 1
        return out

    def to_dict(self) -> dict:
        d = asdict(self)
        d["embedded"] = {k: len(v) for k, v in self.embedded.items()}
        return d


class _RowError(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


# "1,299" is 1299 with a thousands separator, or 1.299 with a decimal comma; a separator before other than three
# digits can only be a decimal mark ("12,99", "0.0508"), and so can the last of two kinds ("1.299,95", "1,299.95")
_AMBIGUOUS = re.compile(r"[1-9]\d{0,2},\d{3}")  # "0,299" groups nothing: a decimal comma
_GROUPED_POINT = re.compile(r"[1-9]\d{0,2}\.\d{3}")  # "1.299": 1299 in a file that writes decimal commas
# a leading zero groups nothing either: "0.750" tells a file of three-decimal prices (dinars) writes points
_DECIMAL_COMMA = re.compile(r"\d*,(\d{1,2}|\d{4,})|0?,\d+|\d{1,3}(\.\d{3})+,\d+")
_DECIMAL_POINT = re.compile(r"\d*\.(\d{1,2}|\d{4,})|0?\.\d+|\d{1,3}(,\d{3})+\.\d+")
_NUMERAL = re.compile(r"[+-]?[\d.,]*\d[\d.,]*")  # ",5" too


def _comma_is_decimal(rows: Iterable[RawRow], column: str) -> bool | None:
    """Whether the file writes decimals after a comma (True) or a point (False) in ``column``, as the first of its
    numbers that tells says; None when none tells (whole numbers and "1,299"-like ones only)."""
    for raw in rows:
        text = (raw.data or {}).get(column, "")
        if _DECIMAL_COMMA.fullmatch(text):
            return True
        if _DECIMAL_POINT.fullmatch(text):
            return False
    return None


def _number(text: str, what: str, lo: float = 0.0, hi: float = math.inf,
            comma: Callable[[], bool | None] = lambda: None, point_may_group: bool = False) -> float | None:
    """A single comma is a decimal comma ("12,99"). Before exactly three digits ("1,299") it may as well group
    thousands: ``comma()`` (:func:`_comma_is_decimal`: how the file's other numbers write decimals) decides, and
    when they do not tell, the row is refused as ambiguous rather than stored a thousand times off. Likewise a
    point before three digits ("1.299") groups thousands in a file that writes decimal commas. With both kinds
    ("1.299,00", "1,299.95") the last is the decimal mark; a mark written twice ("1.299.000") only groups.
    ``point_may_group``: a CSV's price, not a JSON number (written with a decimal point) nor a rating (0-5)."""
    if text == "":
        return None
    if _AMBIGUOUS.fullmatch(text):
        decimal = comma()
        if decimal is None:
            raise _RowError(f"ambiguous_{what}", f"{what} '{text}' may be {text.replace(',', '')} (a thousands "
                            f"separator) or {text.replace(',', '.')} (a decimal comma): write it as one of those")
        text = text.replace(",", "." if decimal else "")
    elif _GROUPED_POINT.fullmatch(text) and point_may_group:
        decimal = comma()
        if decimal is None:  # "1.299" as much as "1,299" may be either, when the file's other numbers do not tell
            raise _RowError(f"ambiguous_{what}", f"{what} '{text}' may be {text.replace('.', '')} (a thousands "
                            f"separator) or {text} (a decimal point): write it as one of those")
        if decimal:
            text = text.replace(".", "")
    try:
        value = float(_plain(text) if _NUMERAL.fullmatch(text) else text)
    except ValueError:
        raise _RowError(f"bad_{what}", f"{what} '{text[:40]}' is not a number") from None
    if not math.isfinite(value) or not lo <= value <= hi:
        raise _RowError(f"bad_{what}", f"{what} {value} is outside {lo:g}..{hi:g}")
    return value


def _plain(text: str) -> str:
    """``text`` (digits, points and commas) as float() reads it: the last separator is the decimal mark unless it
    is written twice ("1.299.000"), the other kind groups thousands ("1.299,00"); a mix that is neither stays as
    it is, and float() refuses it."""
    sign, digits = (text[0], text[1:]) if text[0] in "+-" else ("", text)
    marks = [c for c in ",." if c in digits]
    if not marks:
        return text
    mark = max(marks, key=digits.rfind)
    if digits.count(mark) > 1:
        whole, decimals, group = digits, "", mark
    else:
        whole, _, decimals = digits.rpartition(mark)
        group = "." if mark == "," else ","
        if group not in whole:  # a lone decimal mark: "12,99", "0.5"
            return sign + whole + "." + decimals
    if not re.fullmatch(rf"\d{{1,3}}(\{group}\d{{3}})+", whole) or not (decimals.isdigit() or not decimals):
        return text
    return sign + whole.replace(group, "") + ("." + decimals if decimals else "")


def _record(data: dict[str, str], m: ColumnMapping, comma: Callable[[], bool | None],
            csv: bool = True) -> ProductRecord:
    """``data``: renamed by :func:`_mapped_spellings` already."""
    sku = data.get(m.id, "").strip()
    if not sku:
        raise _RowError("missing_id", "the id column is empty")
    if any(unicodedata.category(c) == "Cc" for c in sku):  # a quoted line break: a row run into the next one?
        raise _RowError("bad_id", f"the id {sku!r} holds a line break, a tab or another control character")
    title = data.get(m.title, "") if m.title else ""
    roles = (m.id, m.title, m.description, m.brand, m.price, m.rating, m.image)
    # a column with a role is no attribute, unless it is also a filter (brand as a filter: its values are needed)
    attributes = {k: v for k, v in data.items() if (k not in roles or k in m.categories) and v != ""}
    rec = dict(sku=sku, title=title or sku, description=data.get(m.description, "") if m.description else "",
               brand=(data.get(m.brand) or None) if m.brand else None,
               price=_number(data.get(m.price, ""), "price", comma=comma, point_may_group=csv) if m.price else None,
               rating=_number(data.get(m.rating, ""), "rating") if m.rating else None,
               attributes=attributes)
    digest = hashlib.sha256(json.dumps([rec, data.get(m.image or "", "")], sort_keys=True).encode()).hexdigest()
    return ProductRecord(**rec, row_hash=digest[:32])


def _folded(name: str) -> str:
    """A column name as ``ColumnMapping.guess`` compares them: letter case, "_" and spaces aside."""
    return name.lower().replace("_", "").replace(" ", "")


def _mapped_spellings(data: dict[str, str], m: ColumnMapping) -> dict[str, str]:
    """``data`` with a key spelt otherwise than a mapped column ("Title" or "productName" on one JSON line of a file
    that says "title", "product_name": the same name to ``ColumnMapping.guess``) renamed to it, so that the line
    keeps its title instead of storing it as an attribute."""
    used = m.used_columns()
    absent = [c for c in used if c not in data]
    if not absent:  # every CSV row, most JSON lines
        return data
    folded = {_folded(k): k for k in data if k not in used}
    renamed = {folded[_folded(c)]: c for c in absent if _folded(c) in folded}
    return {renamed.get(k, k): v for k, v in data.items()} if renamed else data


@dataclass
class _Row:
    line: int
    rec: ProductRecord
    image_rel: str
    pk: int | None = None
    image: ImageRecord | None = None
    pil: object = None
    image_changed: bool = False
    image_moved: bool = False  # the same bytes as stored, at another path


def import_catalog(catalog: Catalog, source: str | Path, mapping: ColumnMapping, spaces: Sequence[Space],
                   options: ImportOptions = ImportOptions(),
                   cancelled: Callable[[], bool] = lambda: False) -> Generator[Progress, None, ImportReport]:
    """Import ``source`` into ``catalog``; see the module docstring."""
    source = Path(source)
    info, rows = read_rows(source)
    mapping.validate(info.columns)
    root = (options.image_root or source.parent).resolve()
    if mapping.image and not root.is_dir():
        raise ImportFailed(f"The image folder {root} " + ("is a file: give the folder the image paths start from."
                                                          if root.exists() else "does not exist."))
    report = ImportReport(str(source))
    total = count_rows(source)
    # a second pass over the file, only for a file with a price like "1,299" or "1.299"
    comma = functools.cache(lambda: _comma_is_decimal(read_rows(source)[1], mapping.price))
    report.notes += [(n, "", f"line {n} is not UTF-8: read as Windows-1252") for n in info.cp1252_lines]
    run_id = catalog.start_import_run(str(source))
    with catalog.transaction():
        catalog.set_fields({**{c: "category" for c in mapping.categories}})
    seen: dict[str, int] = {}
    batch: list[_Row] = []
    done = 0
    for raw in rows:
        if cancelled():
            report.cancelled = True
            break
        done += 1
        row = _validate(raw, mapping, seen, report, options, comma, info.kind == "csv")
        if row:
            batch.append(row)
        if len(batch) >= options.batch_size:
            _write_batch(catalog, batch, root, spaces, options, report)
            batch = []
            yield Progress(done, total, f"{done:,} rows read")
    if batch and not report.cancelled:
        _write_batch(catalog, batch, root, spaces, options, report)
    if options.prune and not report.cancelled:
        # every product the file lists stays, its row imported or skipped (a bad price is no reason to delete
        # it); a line that could not be read may list any product, and a file that lists none is a mistake
        listed = set(seen) | {s.sku for s in report.skipped if s.sku}
        malformed = sum(s.reason == "malformed_line" for s in report.skipped)
        if malformed:
            report.not_pruned = f"{malformed} lines of the file could not be read, and may list products"
        elif not listed:
            report.not_pruned = "the file lists no product"
        else:
            report.removed = _prune(catalog, listed)
    catalog.finish_import_run(run_id, "cancelled" if report.cancelled else "done", report.to_dict())
    yield Progress(done, done, report.summary())
    return report


def _validate(raw: RawRow, m: ColumnMapping, seen: dict[str, int], report: ImportReport,
              options: ImportOptions, comma: Callable[[], bool | None], csv: bool = True) -> _Row | None:
    if raw.error:
        report.skipped.append(Skipped(raw.line, None, "malformed_line", f"line {raw.line} {raw.error}"))
        return None
    # the row as the mapping names its columns: a JSON line's "ID" or "Image" read as "id" and "image" everywhere
    # (its skipped row kept by --prune, its photo kept), not only for the record
    data = _mapped_spellings(raw.data, m)
    try:
        rec = _record(data, m, comma, csv)
    except _RowError as exc:
        sku = (data.get(m.id) or "").strip() or None
        report.skipped.append(Skipped(raw.line, sku, exc.reason, f"line {raw.line}: {exc.detail}"))
        return None
    if rec.sku in seen:
        report.skipped.append(Skipped(raw.line, rec.sku, "duplicate_id",
                                      f"line {raw.line}: id {rec.sku} already used on line {seen[rec.sku]}"))
        return None
    seen[rec.sku] = raw.line
    image_rel = data.get(m.image, "") if m.image else ""
    if options.require_image and not image_rel:
        report.skipped.append(Skipped(raw.line, rec.sku, "no_image", f"line {raw.line}: no image given"))
        return None
    return _Row(raw.line, rec, image_rel)


def _load_row_image(row: _Row, root: Path, known: tuple[str, str] | None, fresh: Callable[[str], bool],
                    options: ImportOptions) -> None:
    """Fill row.image, and row.pil unless the bytes are unchanged and every vector of them is current.
    ``known``: the stored (sha256, path) of the product's image."""
    path = resolve_image_path(root, row.image_rel)
    data = read_image_file(path, row.image_rel)  # a file over 512 MB is not read: 1.5 GB aborted the import
    sha = hashlib.sha256(data).hexdigest()
    row.image_changed = known is None or sha != known[0]
    row.image_moved = not row.image_changed and str(path) != known[1]
    if not row.image_changed and fresh(sha):
        row.image = ImageRecord(str(path), sha, 0, 0, 0.0, (), (), b"")  # stored record stays (its path follows)
        return
    loaded = load_image(data, name=row.image_rel)
    row.pil = loaded.image
    row.image = ImageRecord(str(path), sha, loaded.width, loaded.height, loaded.blur, loaded.flags,
                            loaded.notes, make_thumbnail(loaded.image, options.thumbnail_size))


def _write_batch(catalog: Catalog, batch: list[_Row], root: Path, spaces: Sequence[Space],
                 options: ImportOptions, report: ImportReport) -> None:
    """Decide what each row changes (reading the photos it needs: slow, so outside the write lock), then write it
    in one transaction, having checked that what the decisions read is still what the catalog holds: another
    import that committed meanwhile (its rows taken as "unchanged", vectors of one text kept with the other's,
    a photo not loaded then needed) makes them decided again; the third time, under the write lock."""
    for _attempt in range(2):
        skipped = len(report.skipped)
        state = _batch_state(catalog, batch, spaces)
        ready = _decide(catalog, batch, root, spaces, options, report, state)
        try:
            with catalog.transaction():
                if _batch_state(catalog, batch, spaces) != state:
                    raise _Changed
                _write_rows(catalog, ready, spaces, report, state)
            return
        except _Changed:
            del report.skipped[skipped:]  # decided again
            log.info("another import changed this batch's products meanwhile: deciding again")
    with catalog.transaction():
        state = _batch_state(catalog, batch, spaces)
        _write_rows(catalog, _decide(catalog, batch, root, spaces, options, report, state), spaces, report, state)


class _Changed(Exception):
    """What a batch's decisions read changed before its transaction began."""


def _batch_state(catalog: Catalog, batch: list[_Row], spaces: Sequence[Space]) -> tuple:
    """What the decisions about ``batch`` read: its products' (pk, row hash), their photos' (sha256, path) and the
    image spaces' (encoder, sha256) of their vectors."""
    existing = catalog.row_hashes([r.rec.sku for r in batch])
    known_pks = [pk for pk, _ in existing.values()]
    stored = {s.name: catalog.embedding_hashes(s.name, known_pks) for s in spaces if s.source == "image"}
    return existing, _known_images(catalog, known_pks), stored


def _decide(catalog: Catalog, batch: list[_Row], root: Path, spaces: Sequence[Space], options: ImportOptions,
            report: ImportReport, state: tuple) -> list[_Row]:
    """The rows to write, their photos loaded where the stored ones or their vectors are not current."""
    existing, known_images, stored = state
    ready: list[_Row] = []
    for row in batch:
        old = existing.get(row.rec.sku)
        row.pk = old[0] if old else None
        row.image, row.pil, row.image_changed, row.image_moved = None, None, False, False

        def fresh(sha: str, pk=row.pk) -> bool:
            return all(stored[s.name].get(pk) == (s.encoder_id, sha) for s in spaces if s.source == "image")

        if row.image_rel:
            try:
                _load_row_image(row, root, known_images.get(row.pk), fresh, options)
            except BadImage as exc:
                report.skipped.append(Skipped(row.line, row.rec.sku, exc.reason, f"line {row.line}: {exc}"))
                continue
            except OSError as exc:
                report.skipped.append(Skipped(row.line, row.rec.sku, "unreadable",
                                              f"line {row.line}: cannot read {row.image_rel}: {exc.strerror}"))
                continue
        ready.append(row)
    return ready


def _write_rows(catalog: Catalog, ready: list[_Row], spaces: Sequence[Space], report: ImportReport,
                state: tuple) -> None:
    existing, known_images, _ = state
    for row in ready:
        _store_row(catalog, row, existing.get(row.rec.sku), row.pk in known_images, spaces, report)
    for space, pks in embed_pending(catalog, spaces, [_pending(r) for r in ready]).items():
        report.embedded.setdefault(space, []).extend(pks)


def _store_row(catalog: Catalog, row: _Row, old: tuple[int, str] | None, had_image: bool,
               spaces: Sequence[Space], report: ImportReport) -> None:
    image_changed = row.image_changed or (old is not None and not row.image_rel and had_image)
    if old and old[1] == row.rec.row_hash and not image_changed and not row.image_moved:
        report.unchanged += 1
        return
    if old:
        report.updated += 1
    else:
        report.added += 1
    row.pk = catalog.upsert_product(row.rec)
    if row.image is None or row.image_changed:
        catalog.set_image(row.pk, row.image)
    elif row.image_moved:  # no new vectors: the bytes are the same
        catalog.set_image_path(row.pk, row.image.path)
    if row.image is None:
        for space in spaces:
            if space.source == "image":
                catalog.delete_embeddings(space.name, [row.pk])
        return
    for note in row.image.notes:
        report.notes.append((row.line, row.rec.sku, note))
    stored_flags = catalog.execute("SELECT flags FROM images WHERE pk=?", (row.pk,)).fetchone()[0]
    catalog.execute("INSERT OR REPLACE INTO attributes VALUES (?, 'image_quality', ?)",
                    (row.pk, stored_flags or "ok"))


def _pending(row: _Row) -> PendingEmbedding:
    r = row.rec
    sha = row.image.sha256 if row.image else None
    # row.pil is None for unchanged images whose vectors are current: embed_pending skips them by hash
    return PendingEmbedding(row.pk, row.pil, sha, product_text(r.title, r.brand, r.description))


def _known_images(catalog: Catalog, pks: list[int]) -> dict[int, tuple[str, str]]:
    """pk -> (sha256, path) of the stored images."""
    if not pks:
        return {}
    marks = ",".join("?" * len(pks))
    return {pk: (sha, path) for pk, sha, path in
            catalog.execute(f"SELECT pk, sha256, path FROM images WHERE pk IN ({marks})", pks)}


def _prune(catalog: Catalog, keep: set[str]) -> int:
    gone = [pk for pk, sku in catalog.execute("SELECT pk, sku FROM products") if sku not in keep]
    with catalog.transaction():
        return catalog.delete_products(gone)


def import_copurchases(catalog: Catalog, source: str | Path, a_column: str | None = None,
                       b_column: str | None = None, weight_column: str | None = None,
                       cancelled: Callable[[], bool] = lambda: False) -> ImportReport:
    """Co-purchase pairs (two id columns, optional weight); unknown ids are skipped and reported. A pair on two
    lines the same way is stored once with the larger of its weights, each merge noted. ``cancelled`` (checked
    every 1,000 lines and before writing): raises ``Cancelled`` with nothing stored (all the pairs or none)."""
    info, rows = read_rows(source)
    cols = list(info.columns)
    if len(cols) < 2:
        raise ImportFailed(f"{Path(source).name} needs two id columns (a product and what was bought with it).")
    a_column, b_column = a_column or cols[0], b_column or cols[1]
    weight_column = weight_column or next((c for c in cols if c.lower() == "weight"), None)
    report = ImportReport(str(source))
    pk_of = dict(catalog.execute("SELECT sku, pk FROM products"))
    weights: dict[tuple[int, int], float] = {}
    first_line: dict[tuple[int, int], int] = {}
    for n, raw in enumerate(rows):
        if n % 1000 == 0 and cancelled():
            raise Cancelled("The co-purchase pairs were not imported: cancelled.")
        if raw.error:
            report.skipped.append(Skipped(raw.line, None, "malformed_line", f"line {raw.line} {raw.error}"))
            continue
        sku_a, sku_b = raw.data.get(a_column, ""), raw.data.get(b_column, "")
        a, b = pk_of.get(sku_a), pk_of.get(sku_b)
        if a is None or b is None:
            report.skipped.append(Skipped(raw.line, sku_a or None, "unknown_id",
                                          f"line {raw.line}: id not in the catalog"))
            continue
        if a == b:
            report.skipped.append(Skipped(raw.line, sku_a, "same_product",
                                          f"line {raw.line}: a product paired with itself"))
            continue
        try:
            w = _number(raw.data.get(weight_column, ""), "weight") if weight_column else None
        except _RowError as exc:
            report.skipped.append(Skipped(raw.line, sku_a, exc.reason, f"line {raw.line}: {exc.detail}"))
            continue
        w = 1.0 if w is None else w
        if (a, b) in weights:
            kept = max(weights[(a, b)], w)
            report.pairs_merged += 1
            report.notes.append((raw.line, sku_a, f"line {raw.line}: {sku_a} and {sku_b} already paired on line "
                                 f"{first_line[(a, b)]}; merged, keeping the larger weight ({kept:g})"))
            weights[(a, b)] = kept
            continue
        report.pairs_reversed += (b, a) in weights
        weights[(a, b)], first_line[(a, b)] = w, raw.line
    if cancelled():
        raise Cancelled("The co-purchase pairs were not imported: cancelled.")
    with catalog.transaction():
        report.pairs = catalog.add_copurchases((a, b, w) for (a, b), w in weights.items())
    report.pairs_known = len({(min(a, b), max(a, b)) for a, b in weights}) - report.pairs
    return report
