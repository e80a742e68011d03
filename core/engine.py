"""The engine: a catalog, its embedding spaces and their vector indexes, kept in step.

Vectors live in the catalog (SQLite); each space's FAISS index is a cache in the folder
``<catalog>.index/<space>/``. On open, an index whose manifest disagrees with the catalog
(encoder, dimension, count, revision, or the catalog's id: a catalog deleted and made again at the
same path left it) is rebuilt from the stored vectors, never re-encoded.
After an import the changed vectors are applied to the index in place (add/remove), no rebuild.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Generator, Sequence
from pathlib import Path

import numpy as np

from core.catalog import Catalog
from core.errors import IndexMismatch, QueryError
from core.index import REBUILD_HINT, VectorIndex
from core.spaces import Space

log = logging.getLogger(__name__)

REVISION_FILE = "catalog_revision.json"


def index_folder(catalog_path: Path) -> Path:
    return catalog_path.with_name(catalog_path.name + ".index")


class Engine:
    """Owns the indexes of one open catalog. Search lives in :mod:`core.search`."""

    def __init__(self, catalog: Catalog, spaces: Sequence[Space], approx_threshold: int | None = None):
        self.catalog = catalog
        self.spaces = {s.name: s for s in spaces}
        self.indexes: dict[str, VectorIndex] = {}
        self.revisions: dict[str, int] = {}  # the catalog revision of the vectors each index holds
        self._approx = approx_threshold
        self.notes: list[str] = []  # what opening it found worth telling (an adapted model gone: the shipped one used)

    @property
    def folder(self) -> Path:
        return index_folder(self.catalog.path)

    def space(self, name: str) -> Space:
        try:
            return self.spaces[name]
        except KeyError:
            raise QueryError(f"This catalog has no '{name}' space; known: {', '.join(self.spaces)}.") from None

    def load_indexes(self) -> Generator[str, None, None]:
        """Load or rebuild every space's index; yields a message per space."""
        for name, space in self.spaces.items():
            count = self.catalog.embedding_count(name)
            try:
                index = VectorIndex.load(self.folder / name, encoder_id=space.encoder_id,
                                         dim=space.encoder.dim, count=count)
                catalog_id, revision = self._saved_state(name)
                if catalog_id != self.catalog.uid:
                    raise IndexMismatch(f"the {name} index was built for another catalog at this path" if catalog_id
                                        else f"the {name} index does not say which catalog it is of")
                if revision != self.catalog.revision(name):
                    raise IndexMismatch(f"the {name} index is of another version of the catalog")
                self.indexes[name] = index
                self.revisions[name] = revision
                yield f"{name}: loaded {count:,} vectors"
            except IndexMismatch as exc:
                first = not (self.folder / name).exists()
                log.info("building the %s index: %s", name, exc)
                index = self.rebuild(name)
                why = str(exc).replace(f" {REBUILD_HINT}", "")  # rebuilt already: no advice to rebuild it
                yield f"{name}: built {len(index):,} vectors" if first else f"{name}: rebuilt ({why})"

    def changed_since_loaded(self) -> list[str]:
        """The spaces whose vectors another process (an import, a re-index) changed since their index was loaded:
        an open window searched the old index, a new product taking a deleted one's results."""
        return [name for name in self.indexes if self.revisions.get(name) != self.catalog.revision(name)]

    def rebuild(self, name: str) -> VectorIndex:
        space = self.space(name)
        with self.catalog.snapshot():  # the revision saved is the vectors': an import may commit meanwhile
            revision = self.catalog.revision(name)
            pks, vectors = self.catalog.embeddings(name, space.encoder_id)
            stored = self.catalog.embedding_count(name)
        if len(pks) != stored:
            log.warning("%s: %d vectors come from another encoder than %s and are left out until re-embedded "
                        "(`vitrina index`)",
                        name, stored - len(pks), space.encoder_id)
        kw = {} if self._approx is None else {"approx_threshold": self._approx}
        if len(pks):
            index = VectorIndex.build(pks, vectors, space.encoder_id, **kw)
        else:
            index = VectorIndex(space.encoder.dim, space.encoder_id)
        self.indexes[name] = index
        self.revisions[name] = revision
        try:
            self._save(name, revision)
        except OSError as exc:  # a read-only index folder or a full disk: searching goes on (it was a traceback)
            log.warning("The %s index could not be saved in %s (%s); it is used from memory and built again next "
                        "time.", name, self.folder, exc)
        return index

    def apply_changes(self, changed: dict[str, list[int]], removed: Sequence[int] = ()) -> None:
        """Bring indexes up to date after an import: re-add changed vectors, drop removed products."""
        for name in self.spaces:
            if name not in self.indexes:
                continue
            index = self.indexes[name]
            stale = [int(p) for p in removed]
            pks = changed.get(name, [])
            if stale:
                index.remove(np.asarray(stale, np.int64))
            if pks:
                vecs = self.stored_vectors(name, pks)
                index.add(np.asarray(pks, np.int64), vecs)
            orphans = np.setdiff1d(index.ids(), self.catalog.embeddings_pks(name), assume_unique=True)
            if len(orphans):
                index.remove(orphans)
            self._save(name)

    def stored_vectors(self, name: str, pks: Sequence[int]) -> np.ndarray:
        rows = dict(self.catalog.execute(
            f"SELECT pk, vector FROM embeddings WHERE space=? AND pk IN ({','.join('?' * len(pks))})",
            [name, *[int(p) for p in pks]]))
        return np.stack([np.frombuffer(rows[int(p)], np.float32) for p in pks])

    def _save(self, name: str, revision: int | None = None) -> None:
        """Saves the index with the revision of the vectors it holds (default: the catalog's now)."""
        folder = self.folder / name
        self.indexes[name].save(folder)
        tmp = folder / f"{REVISION_FILE}.tmp-{os.getpid()}"  # one per process: two savers shared one
        revision = self.catalog.revision(name) if revision is None else revision
        tmp.write_text(json.dumps({"catalog": self.catalog.uid, "revision": revision}))
        tmp.replace(folder / REVISION_FILE)

    def _saved_state(self, name: str) -> tuple[str | None, int | None]:
        """(catalog id, revision) the index was saved at; Nones when unknown (lost, or saved before ids)."""
        try:
            doc = json.loads((self.folder / name / REVISION_FILE).read_text())
            revision = doc["revision"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None, None
        if type(revision) is not int:  # Infinity (OverflowError from int()), 3.5, "7", true: damaged
            return None, None
        return doc.get("catalog"), revision

    def vectors_at(self, name: str, pks: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(positions in ``pks`` that have a vector in space ``name``, those vectors), from the index."""
        index = self.indexes.get(name)
        if index is None:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        rows = np.asarray([i for i, p in enumerate(pks) if index.contains(int(p))], np.int64)
        if not len(rows):
            return rows, np.zeros((0, index.dim), np.float32)
        return rows, index.vectors(np.asarray(pks, np.int64)[rows])

    def vectors_for(self, name: str, pks: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(pks that have a vector in space ``name``, their vectors)."""
        rows, vecs = self.vectors_at(name, pks)
        return np.asarray(pks, np.int64)[rows] if len(rows) else rows, vecs
