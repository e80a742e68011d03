"""The catalog: one SQLite file per catalog, the source of truth for products and their vectors.

Products, attributes, images (with a thumbnail), embeddings and co-purchase pairs live here.
The FAISS index next to the file is a cache rebuilt from the ``embeddings`` table whenever
its manifest disagrees with the catalog, so a crash can never leave the two inconsistent.

Every write happens in a transaction (WAL journal): an import killed half-way keeps every batch
it committed and nothing of the batch it was writing.
"""
from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from core.errors import CatalogError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
CATALOG_SUFFIX = ".vitrina"

# Step-by-step migrations: MIGRATIONS[v] upgrades a schema at version v to v + 1.
_SCHEMA_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE products (
    pk INTEGER PRIMARY KEY,
    sku TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    brand TEXT,
    price REAL,
    rating REAL,
    row_hash TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE attributes (
    pk INTEGER NOT NULL REFERENCES products(pk) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (pk, key)
);
CREATE INDEX attributes_by_value ON attributes(key, value);
CREATE TABLE fields (key TEXT PRIMARY KEY, role TEXT NOT NULL);
CREATE TABLE images (
    pk INTEGER PRIMARY KEY REFERENCES products(pk) ON DELETE CASCADE,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    blur REAL NOT NULL,
    flags TEXT NOT NULL DEFAULT '',
    notes TEXT NOT NULL DEFAULT '',
    thumbnail BLOB
);
CREATE TABLE embeddings (
    pk INTEGER NOT NULL REFERENCES products(pk) ON DELETE CASCADE,
    space TEXT NOT NULL,
    encoder_id TEXT NOT NULL,
    input_hash TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (pk, space)
);
CREATE TABLE copurchase (
    a INTEGER NOT NULL REFERENCES products(pk) ON DELETE CASCADE,
    b INTEGER NOT NULL REFERENCES products(pk) ON DELETE CASCADE,
    weight REAL NOT NULL DEFAULT 1.0,
    PRIMARY KEY (a, b)
);
CREATE TABLE import_runs (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    started TEXT NOT NULL,
    finished TEXT,
    status TEXT NOT NULL,
    report TEXT
);
"""
# v2: a random id, so that an index left by a deleted catalog of the same name is never taken for this one's
_CATALOG_ID = "INSERT OR IGNORE INTO meta VALUES ('catalog_id', lower(hex(randomblob(16))))"
MIGRATIONS: dict[int, str] = {0: _SCHEMA_V1, 1: _CATALOG_ID}

CATALOG_TABLES = ("meta", "products", "attributes", "fields", "images", "embeddings", "copurchase", "import_runs")


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


CORE_COLUMNS = ("sku", "title", "description", "brand", "price", "rating")
BUSY_TIMEOUT_S = 30  # how long a write waits for another process's (an import writes in batches of seconds)
INTERNAL_ATTRIBUTES = ("image_quality",)  # set by the import (core.ingest), not a property of the product


def field_label(name: str) -> str:
    """A column name as people read it: "baseColour" -> "Base colour", "product_type_name" -> "Product type
    name" (the filters and rationales showed the raw column names)."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name.replace("_", " ").replace("-", " ")).split()
    text = " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in words)
    return text[:1].upper() + text[1:] if text else name


def readable_attributes(attributes: dict[str, str]) -> dict[str, str]:
    """A product's attributes as a person reads them (reports, the details panel): each column by its
    ``field_label``, the import's own (INTERNAL_ATTRIBUTES) left out."""
    return {field_label(k): v for k, v in attributes.items() if k not in INTERNAL_ATTRIBUTES}


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Product:
    pk: int
    sku: str
    title: str
    description: str = ""
    brand: str | None = None
    price: float | None = None
    rating: float | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    image_path: str | None = None
    image_flags: tuple[str, ...] = ()

    def category_text(self, keys: Sequence[str]) -> str:
        return " ".join(self.attributes[k] for k in keys if self.attributes.get(k))


@dataclass(frozen=True)
class ProductRecord:
    """One validated product ready to be written (the importer builds these)."""

    sku: str
    title: str
    description: str
    brand: str | None
    price: float | None
    rating: float | None
    attributes: dict[str, str]
    row_hash: str


@dataclass(frozen=True)
class ImageRecord:
    path: str
    sha256: str
    width: int
    height: int
    blur: float
    flags: tuple[str, ...]
    notes: tuple[str, ...]
    thumbnail: bytes


class Catalog:
    """A catalog file. Open with :meth:`open` or :meth:`create`; use as a context manager."""

    def __init__(self, path: Path, conn: sqlite3.Connection):
        self.path = Path(path).absolute()  # the file opened, wherever the working folder is later (the import
        # dialog read "shop.vitrina" as a name beside the products file, and imported into a new catalog there)
        self._conn = conn
        self._note_writes = 0  # rows this connection wrote through set_meta (caches, settings)
        self._identity = _identity(path)  # the file opened, which the path must still name to be written
        self._own_runs: set[int] = set()  # the import runs this connection started
        self._own_changes = 0  # changes of data_version that are this connection's emptying of the log

    # ---- lifecycle -------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, name: str | None = None) -> "Catalog":
        path = Path(path)
        if not path.name or path.is_dir():
            raise CatalogError(f"'{path}' is a folder: give the catalog a file name, e.g. shop.vitrina.")
        if path.exists():
            raise CatalogError(f"{path} already exists. Open it instead, or choose another name.")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CatalogError(f"A catalog cannot be created in {path.parent} ({exc.strerror or exc}).") from exc
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise CatalogError(f"A catalog cannot be created in {path.parent}: the folder is read-only.")
        cat = cls._connect(path)
        with cat.transaction():
            cat._conn.execute("INSERT OR REPLACE INTO meta VALUES ('name', ?)", (name or path.stem,))
            cat._conn.execute("INSERT OR REPLACE INTO meta VALUES ('created', ?)", (now_iso(),))
        return cat

    @classmethod
    def open(cls, path: str | Path, create: bool = False) -> "Catalog":
        path = Path(path)
        if not path.exists():
            if create:
                return cls.create(path)
            raise CatalogError(f"No catalog at {path}. Create one with `vitrina import` or File > Import Products….")
        return cls._connect(path)

    @classmethod
    def _connect(cls, path: Path) -> "Catalog":
        if path.is_dir():
            raise CatalogError(f"{path} is a folder, not a catalog file.")
        if path.suffix.lower() != ".vitrina" and path.is_file() and path.stat().st_size == 0:
            # an empty notes.txt was made a catalog (with -wal, -shm and an index folder beside it)
            raise CatalogError(f"{path} is an empty file, not a Vitrina catalog (a catalog's name ends in .vitrina).")
        if path.exists() and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)):
            raise CatalogError(f"{path} cannot be opened for writing: the file or its folder is read-only "
                               "(Vitrina keeps its indexes and notes in the catalog). Copy it somewhere writable.")
        try:
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_S)
            # before WAL: a file refused (another application's, a newer Vitrina's) is left as it was; an empty
            # file is a new catalog, one with a catalog's tables a catalog (many applications set a user_version
            # too, and a catalog's comes with its tables)
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = _tables(conn)
            ours = set(CATALOG_TABLES) <= tables
            if version > SCHEMA_VERSION and ours:
                conn.close()
                raise CatalogError(
                    f"{path} was written by a newer Vitrina (schema {version}, this one reads up to "
                    f"{SCHEMA_VERSION}). Update Vitrina to open it."
                )
            if (tables and not ours) or version > SCHEMA_VERSION:
                conn.close()
                raise CatalogError(f"{path} is an SQLite file but not a Vitrina catalog.")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.OperationalError as exc:  # not the file's content: a lock, a full disk, a lost drive
            raise CatalogError(f"{path} cannot be opened ({exc}).") from exc
        except sqlite3.DatabaseError as exc:
            raise CatalogError(f"{path} is not a Vitrina catalog or is damaged ({exc}).") from exc
        cat = cls(path, conn)
        cat._migrate(version)
        return cat

    def _migrate(self, version: int) -> None:
        while version < SCHEMA_VERSION:
            with self.transaction():
                # read again under the write lock: another process (a second import started at the same time)
                # may have created or migrated the catalog since this one looked
                version = self._conn.execute("PRAGMA user_version").fetchone()[0]
                if version >= SCHEMA_VERSION:
                    break
                if version == 0 and self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                    raise CatalogError(f"{self.path} is an SQLite file but not a Vitrina catalog.")
                self._apply(MIGRATIONS[version])
                version += 1
                self._conn.execute(f"PRAGMA user_version={version}")
            log.info("catalog %s migrated to schema %d", self.path, version)

    def _apply(self, script: str) -> None:
        for statement in script.split(";"):
            if statement.strip():
                self._conn.execute(statement)

    def close(self) -> None:
        self._conn.close()

    def discard_if_unused(self) -> bool:
        """Close the catalog and delete its file if it holds no product and no other process is writing it or
        importing into it (one import interrupted beside another deleted the file the other was filling: its
        products went with it). True when deleted; the catalog is closed either way."""
        try:
            self._conn.execute("PRAGMA busy_timeout=0")
            self._conn.execute("BEGIN EXCLUSIVE")  # fails at once while another connection writes
        except sqlite3.OperationalError:
            self.close()
            return False
        try:  # no import run but this connection's: another process's import records its run before its first
            # batch, and one of this process's that began (then was interrupted) is resumed from its catalog, not
            # started afresh; this connection's own run, failed or cancelled before its first product, imported none
            others = [r for (r,) in self._conn.execute("SELECT id FROM import_runs") if r not in self._own_runs]
            unused = not self._conn.execute("SELECT 1 FROM products LIMIT 1").fetchone() and not others
        finally:
            self._conn.execute("ROLLBACK")
            self.close()
        if unused:
            for leftover in (self.path, *(Path(f"{self.path}{end}") for end in ("-wal", "-shm"))):
                leftover.unlink(missing_ok=True)
        return unused

    def __enter__(self) -> "Catalog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def replaced(self) -> bool:
        """Whether the path no longer names the file this catalog opened (deleted, moved, or another file put in
        its place, e.g. a backup restored): writing through this connection would then pair its journal with
        the other file and damage it."""
        return _identity(self.path) != self._identity

    def check_file(self) -> None:
        """Raises unless the path still names the file this catalog opened: nothing is read or written through
        a connection to a file that is no longer there (or another's)."""
        if self.replaced():
            raise CatalogError(f"{self.path.name} was deleted, moved or replaced since it was opened: nothing is "
                               "read or written through it. Open it again (File > Open Catalog).")

    @contextmanager
    def _write(self) -> Iterator[None]:
        """A write outside ``transaction`` (its own, committed at once), checked and settled as a transaction is;
        within a transaction, the transaction checks and settles it."""
        if self._conn.in_transaction:
            yield
            return
        self.check_file()
        yield
        self._settle()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.check_file()
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise CatalogError(f"{self.path.name} is busy: another Vitrina (an import, a re-index, learning) "
                                   f"has been writing it for over {BUSY_TIMEOUT_S} s. Try again when it is "
                                   "done.") from exc
            raise
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")
        self._settle()

    def _settle(self) -> None:
        """What was just committed moved from the write-ahead log into the catalog file, the log emptied, when no
        reader holds an older state (else left to the next write or the close): a copy of the file made while the
        window is open (a backup) holds the catalog, and a backup put back in its place is not read through the
        frames this connection left in the log (it read as this catalog, or as damaged pages). No waiting: a
        separate connection that gives up at once when it would have to wait (this one waits for readers up to
        ``BUSY_TIMEOUT_S``). Emptying the log counts as another connection's change in ``PRAGMA data_version``:
        that step is this connection's own, and ``change_marker`` leaves it out (a commit of another process in
        the same instant would be left out with it: a cache of it is then refreshed at the next change)."""
        if self.replaced():
            return
        before = self._data_version()
        try:  # mode=rw: a file deleted meanwhile is not made again, empty
            conn = sqlite3.connect(f"{self.path.as_uri()}?mode=rw", uri=True, timeout=0, isolation_level=None)
        except sqlite3.Error:
            return
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass
        finally:
            conn.close()
        self._own_changes += self._data_version() - before

    def _data_version(self) -> int:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see one state of the catalog (a read transaction): a revision read with the vectors
        is theirs, though another process commits in between. Within a transaction already: that one's."""
        if self._conn.in_transaction:
            yield
            return
        self._conn.execute("BEGIN")
        try:
            yield
        finally:
            self._conn.execute("COMMIT")

    @property
    def name(self) -> str:
        return self.meta("name") or self.path.stem

    @property
    def uid(self) -> str | None:
        """Random, made with the catalog: tells it from another catalog later created at the same path."""
        return self.meta("catalog_id")

    def meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._write():
            before = self._conn.total_changes
            self._conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
            self._note_writes += self._conn.total_changes - before

    def drop_meta(self, pattern: str, keep: str = "") -> None:
        """Deletes the notes whose key matches the GLOB ``pattern``, but ``keep``: caches superseded by a newer
        one (a map kept per revision would grow the catalog by a map at every import)."""
        with self._write():
            before = self._conn.total_changes
            self._conn.execute("DELETE FROM meta WHERE key GLOB ? AND key != ?", (pattern, keep))
            self._note_writes += self._conn.total_changes - before

    # ---- products ----------------------------------------------------------------------
    def __len__(self) -> int:
        return self._conn.execute("SELECT count(*) FROM products").fetchone()[0]

    def row_hashes(self, skus: Sequence[str]) -> dict[str, tuple[int, str]]:
        """sku -> (pk, row_hash) for the given skus that exist."""
        out: dict[str, tuple[int, str]] = {}
        for chunk in _chunks(list(skus), 500):
            marks = ",".join("?" * len(chunk))
            for sku, pk, h in self._conn.execute(
                f"SELECT sku, pk, row_hash FROM products WHERE sku IN ({marks})", chunk
            ):
                out[sku] = (pk, h)
        return out

    def upsert_product(self, rec: ProductRecord) -> int:
        """Insert or update one product (inside the caller's transaction); returns its pk."""
        c = self._conn
        known = c.execute("SELECT pk FROM products WHERE sku=?", (rec.sku,)).fetchone()
        # a new product never takes a deleted one's pk (SQLite reuses the highest): an index, a clustering or a
        # window opened before the deletion would give it the other's vectors and scores
        pk = known[0] if known else self._next_pk()
        c.execute(
            "INSERT INTO products (pk, sku, title, description, brand, price, rating, row_hash, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(sku) DO UPDATE SET title=excluded.title,"
            " description=excluded.description, brand=excluded.brand, price=excluded.price,"
            " rating=excluded.rating, row_hash=excluded.row_hash, updated_at=excluded.updated_at",
            (pk, rec.sku, rec.title, rec.description, rec.brand, rec.price, rec.rating, rec.row_hash, now_iso()),
        )
        c.execute("DELETE FROM attributes WHERE pk=?", (pk,))
        c.executemany(
            "INSERT INTO attributes VALUES (?,?,?)",
            [(pk, k, v) for k, v in rec.attributes.items() if v is not None and v != ""],
        )
        return pk

    def set_image(self, pk: int, img: ImageRecord | None) -> None:
        if img is None:
            self._conn.execute("DELETE FROM images WHERE pk=?", (pk,))
            return
        self._conn.execute(
            "INSERT OR REPLACE INTO images VALUES (?,?,?,?,?,?,?,?,?)",
            (pk, img.path, img.sha256, img.width, img.height, img.blur, ",".join(img.flags),
             "; ".join(img.notes), img.thumbnail),
        )

    def set_image_path(self, pk: int, path: str) -> None:
        """The same image bytes found at another path (the file was renamed or moved)."""
        self._conn.execute("UPDATE images SET path=? WHERE pk=?", (path, pk))

    def set_fields(self, roles: dict[str, str]) -> None:
        self._conn.executemany("INSERT OR REPLACE INTO fields VALUES (?,?)", list(roles.items()))

    def category_fields(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT key FROM fields WHERE role='category' ORDER BY rowid")]

    def field_values(self, key: str) -> list[tuple[str, int]]:
        """Distinct values of one attribute with their product counts, most common first."""
        return list(self._conn.execute(
            "SELECT value, count(*) n FROM attributes WHERE key=? GROUP BY value ORDER BY n DESC, value", (key,)
        ))

    def value_counts(self) -> dict[str, int]:
        """attribute -> how many distinct values the products have of it (one query for every attribute)."""
        return dict(self._conn.execute("SELECT key, COUNT(DISTINCT value) FROM attributes GROUP BY key"))

    def grouping_attributes(self, most: int, categories_any: bool = False) -> list[str]:
        """The attributes that group products, category fields first, then the others in name order: at least two
        values and at most ``most`` (``categories_any``: a category field whatever its number of values)."""
        counts, categories = self.value_counts(), self.category_fields()
        return [k for k in dict.fromkeys([*categories, *sorted(counts)])
                if 2 <= counts.get(k, 0) and (counts[k] <= most or categories_any and k in categories)]

    def _next_pk(self) -> int:
        """One past the highest pk the catalog has ever had (``last_pk``: kept when the highest are deleted)."""
        row = self._conn.execute("SELECT max(coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key='last_pk'),"
                                 " 0), coalesce((SELECT max(pk) FROM products), 0))").fetchone()
        return int(row[0]) + 1

    def delete_products(self, pks: Iterable[int]) -> int:
        pks = list(pks)
        if pks:  # the highest pk is not given out again
            self._conn.execute("INSERT OR REPLACE INTO meta VALUES ('last_pk', ?)", (str(self._next_pk() - 1),))
        for space in self.spaces():
            self._bump_revision(space)
        for chunk in _chunks(pks, 500):
            self._conn.execute(f"DELETE FROM products WHERE pk IN ({','.join('?' * len(chunk))})", chunk)
        return len(pks)

    def skus_of(self, pks: Iterable[int]) -> dict[int, str]:
        """pk -> sku of those of ``pks`` that exist."""
        out: dict[int, str] = {}
        for chunk in _chunks(sorted({int(p) for p in pks}), 500):
            marks = ",".join("?" * len(chunk))
            out.update(self._conn.execute(f"SELECT pk, sku FROM products WHERE pk IN ({marks})", chunk))
        return out

    def pk_for_sku(self, sku: str) -> int | None:
        """The product of id ``sku`` as an import stores ids, without the spaces around it (an id copied from
        the products file, "  A12 ", was no product)."""
        row = self._conn.execute("SELECT pk FROM products WHERE sku=?", (sku.strip(),)).fetchone()
        return row[0] if row else None

    def all_pks(self) -> np.ndarray:
        return np.fromiter((r[0] for r in self._conn.execute("SELECT pk FROM products ORDER BY pk")), dtype=np.int64)

    def products(self, pks: Sequence[int]) -> list[Product]:
        """Products in the order of ``pks`` (unknown pks are left out)."""
        found: dict[int, Product] = {}
        for chunk in _chunks([int(p) for p in pks], 500):
            marks = ",".join("?" * len(chunk))
            attrs: dict[int, dict[str, str]] = {}
            for pk, k, v in self._conn.execute(f"SELECT pk, key, value FROM attributes WHERE pk IN ({marks})", chunk):
                attrs.setdefault(pk, {})[k] = v
            rows = self._conn.execute(
                "SELECT p.pk, sku, title, description, brand, price, rating, i.path, i.flags FROM products p"
                f" LEFT JOIN images i ON i.pk = p.pk WHERE p.pk IN ({marks})", chunk)
            for pk, sku, title, desc, brand, price, rating, path, flags in rows:
                found[pk] = Product(pk, sku, title, desc, brand, price, rating, attrs.get(pk, {}), path,
                                    tuple(f for f in (flags or "").split(",") if f))
        return [found[int(p)] for p in pks if int(p) in found]

    def product(self, pk: int) -> Product:
        got = self.products([pk])
        if not got:
            raise CatalogError(f"No product with internal id {pk} in {self.path.name}.")
        return got[0]

    def thumbnail(self, pk: int) -> bytes | None:
        row = self._conn.execute("SELECT thumbnail FROM images WHERE pk=?", (pk,)).fetchone()
        return row[0] if row else None

    def has_images(self) -> bool:
        return self._conn.execute("SELECT 1 FROM images LIMIT 1").fetchone() is not None

    def image_path(self, pk: int) -> str | None:
        row = self._conn.execute("SELECT path FROM images WHERE pk=?", (pk,)).fetchone()
        return row[0] if row else None

    def filter_pks(self, *, categories: dict[str, Sequence[str]] | None = None, price_min: float | None = None,
                   price_max: float | None = None, rating_min: float | None = None) -> np.ndarray:
        """pks of products that pass every filter (category values OR-ed within a field, AND-ed across)."""
        sql, args = ["SELECT pk FROM products WHERE 1=1"], []
        if price_min is not None:
            sql.append("AND price >= ?")
            args.append(price_min)
        if price_max is not None:
            sql.append("AND price <= ?")
            args.append(price_max)
        if rating_min is not None:
            sql.append("AND rating >= ?")
            args.append(rating_min)
        for key, values in (categories or {}).items():
            values = list(values)
            sql.append(f"AND pk IN (SELECT pk FROM attributes WHERE key=? AND value IN ({','.join('?' * len(values))}))")
            args += [key, *values]
        return np.fromiter((r[0] for r in self._conn.execute(" ".join(sql), args)), dtype=np.int64)

    def change_marker(self) -> tuple[int, int]:
        """Differs after any write to the catalog by another process, or to its products, pairs or vectors by
        this connection: for caches of whole-catalog data. This connection's own notes (``set_meta``: e.g.
        the insights it cached) leave it as it was."""
        return self._data_version() - self._own_changes, self._conn.total_changes - self._note_writes

    def titles(self) -> dict[int, str]:
        """pk -> title of every product (one query, for whole-catalog features)."""
        return dict(self._conn.execute("SELECT pk, title FROM products"))

    def attribute_column(self, key: str) -> dict[int, str]:
        return dict(self._conn.execute("SELECT pk, value FROM attributes WHERE key=?", (key,)))

    def attribute_keys(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT DISTINCT key FROM attributes ORDER BY key")]

    # ---- embeddings -------------------------------------------------------------------
    def embedding_hashes(self, space: str, pks: Sequence[int]) -> dict[int, tuple[str, str]]:
        """pk -> (encoder_id, input_hash) of stored vectors in ``space``."""
        out: dict[int, tuple[str, str]] = {}
        for chunk in _chunks([int(p) for p in pks], 500):
            marks = ",".join("?" * len(chunk))
            for pk, enc, h in self._conn.execute(
                f"SELECT pk, encoder_id, input_hash FROM embeddings WHERE space=? AND pk IN ({marks})", [space, *chunk]
            ):
                out[pk] = (enc, h)
        return out

    def put_embeddings(self, space: str, encoder_id: str, pks: Sequence[int], hashes: Sequence[str],
                       vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self._bump_revision(space)
        self._conn.executemany(
            "INSERT OR REPLACE INTO embeddings VALUES (?,?,?,?,?)",
            [(int(pk), space, encoder_id, h, v.tobytes()) for pk, h, v in zip(pks, hashes, vectors)],
        )

    def delete_embeddings(self, space: str, pks: Sequence[int]) -> None:
        self._bump_revision(space)
        self._conn.executemany("DELETE FROM embeddings WHERE space=? AND pk=?", [(space, int(p)) for p in pks])

    def embeddings(self, space: str, encoder_id: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(pks, vectors) of every stored vector in ``space`` (optionally of one encoder), sorted by pk."""
        sql = "SELECT pk, vector FROM embeddings WHERE space=?" + (" AND encoder_id=?" if encoder_id else "")
        rows = self._conn.execute(sql + " ORDER BY pk", (space, encoder_id) if encoder_id else (space,)).fetchall()
        if not rows:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        pks = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
        return pks, vecs

    def _bump_revision(self, space: str) -> None:
        # a random step, not 1: a backup restored and then changed never reaches the revision of an index saved
        # from the catalog it replaced
        self._conn.execute("INSERT INTO meta VALUES (?, 1 + abs(random() % 1000000000)) ON CONFLICT(key) DO UPDATE"
                           " SET value = CAST(value AS INTEGER) + 1 + abs(random() % 1000000000)", (f"rev:{space}",))

    def revision(self, space: str) -> int:
        """Grows with every write to ``space``'s vectors; an index built at another revision is stale."""
        return int(self.meta(f"rev:{space}") or 0)

    def embeddings_pks(self, space: str) -> np.ndarray:
        return np.fromiter((r[0] for r in self._conn.execute(
            "SELECT pk FROM embeddings WHERE space=? ORDER BY pk", (space,))), dtype=np.int64)

    def embedding_count(self, space: str) -> int:
        return self._conn.execute("SELECT count(*) FROM embeddings WHERE space=?", (space,)).fetchone()[0]

    def spaces(self) -> dict[str, str]:
        """space -> encoder_id of the vectors stored (the most common one if several)."""
        rows = self._conn.execute(
            "SELECT space, encoder_id, count(*) n FROM embeddings GROUP BY space, encoder_id ORDER BY n")
        return {space: enc for space, enc, _ in rows}

    # ---- co-purchase ------------------------------------------------------------------
    def add_copurchases(self, pairs: Iterable[tuple[int, int, float]]) -> int:
        """Stores (a, b, weight) pairs, each direction as given; a pair given twice the same way keeps its larger
        weight (a source listing it twice does not mean the later line is right), one stored before takes the
        given weight. Returns how many pairs of products are new to the catalog (a pair both ways counts once)."""
        merged: dict[tuple[int, int], float] = {}
        for a, b, w in pairs:
            if a != b:
                key, w = (int(a), int(b)), float(w)
                merged[key] = max(w, merged.get(key, w))
        before = self.copurchase_count()
        self._conn.executemany("INSERT OR REPLACE INTO copurchase VALUES (?,?,?)",
                               [(a, b, w) for (a, b), w in merged.items()])
        return self.copurchase_count() - before

    def copurchased(self, pk: int) -> list[tuple[int, float]]:
        """(partner, weight), strongest first; each partner once, with its larger weight when the pair is
        stored both ways (a source may give each direction its own weight)."""
        return list(self._conn.execute(
            "SELECT other, MAX(weight) FROM (SELECT b AS other, weight FROM copurchase WHERE a=?"
            " UNION ALL SELECT a, weight FROM copurchase WHERE b=?) GROUP BY other ORDER BY 2 DESC, 1",
            (int(pk), int(pk))))

    def has_copurchases(self) -> bool:
        return self._conn.execute("SELECT 1 FROM copurchase LIMIT 1").fetchone() is not None

    def copurchase_count(self) -> int:
        """Pairs of products bought together; a pair stored in both directions counts once."""
        return int(self._conn.execute(
            "SELECT COUNT(*) FROM (SELECT DISTINCT MIN(a, b), MAX(a, b) FROM copurchase)").fetchone()[0])

    def copurchase_pairs(self) -> list[tuple[int, int, float]]:
        return list(self._conn.execute("SELECT a, b, weight FROM copurchase"))

    # ---- import bookkeeping -------------------------------------------------------------
    def start_import_run(self, source: str) -> int:
        with self._write():
            cur = self._conn.execute(
                "INSERT INTO import_runs (source, started, status) VALUES (?,?, 'running')", (source, now_iso()))
        self._own_runs.add(int(cur.lastrowid))
        return int(cur.lastrowid)

    def finish_import_run(self, run_id: int, status: str, report: dict) -> None:
        with self._write():
            self._conn.execute("UPDATE import_runs SET finished=?, status=?, report=? WHERE id=?",
                               (now_iso(), status, json.dumps(report), run_id))
            if status == "done":  # a finished run completes every earlier interrupted run of the same file
                self._conn.execute("UPDATE import_runs SET status='resumed' WHERE status='running' AND source="
                                   "(SELECT source FROM import_runs WHERE id=?)", (run_id,))

    def interrupted_imports(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT source FROM import_runs WHERE status='running'")]

    def execute(self, sql: str, args: Sequence = ()) -> sqlite3.Cursor:
        """Raw SQL for the engine's own modules (ingest bookkeeping, evaluation, insights)."""
        return self._conn.execute(sql, args)


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
