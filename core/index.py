"""FAISS inner-product index over L2-normalised float32 vectors keyed by int64 catalog ids: exact below
``APPROX_THRESHOLD`` vectors, else IVF with nprobe tuned to a measured recall@10. Saved as index.faiss +
manifest.json (with the faiss file's size and SHA-256). Not thread-safe: updates must not overlap searches."""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from core import runtime
from core.errors import IndexMismatch

runtime.configure()  # torch before faiss: both bundle OpenMP
import faiss  # noqa: E402

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
APPROX_THRESHOLD = 100_000  # below: exact IndexFlatIP (in IndexIDMap2); at/above: IndexIVFFlat
MAX_NLIST = 2048            # k-means on 2 cores: nlist 4096 takes minutes at 1M vectors, 2048 ~20 s
TRAIN_PER_LIST = 50         # training sample per list (faiss wants >= 39)
RECALL_QUERIES, RECALL_NOISE = 500, 0.1  # recall queries: sampled stored vectors + noise of this norm
NORM_TOL = 1e-3
INDEX_FILE, MANIFEST_FILE, BACKUP_FILE = "index.faiss", "manifest.json", "index.faiss.prev"
REBUILD_HINT = "Re-index the catalog: `vitrina index --rebuild CATALOG`."


@dataclass(frozen=True)
class IndexManifest:
    format_version: int; encoder_id: str; dim: int; count: int  # noqa: E702
    kind: str  # "flat" or "ivf"
    nlist: int | None; nprobe: int | None  # noqa: E702
    recall_at_10: float | None  # measured against exact search when the approximate index is built
    created: str  # ISO time


def remove_stale_temp_files(folder: Path) -> None:
    """Deletes the ``*.tmp-<pid>`` files of saves whose process is gone (a killed save left a copy of the whole
    index behind, for good). Only where a process can be asked whether it lives (POSIX)."""
    if os.name != "posix":
        return
    for tmp in folder.glob("*.tmp-*"):
        pid = tmp.name.rpartition(".tmp-")[2]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except OSError:  # alive, someone else's
            continue


class VectorIndex:
    """Inner-product index over unit vectors keyed by int64 ids (-1 means "no result"); ``_ids`` is kept sorted."""

    def __init__(self, dim: int, encoder_id: str):
        if int(dim) <= 0:
            raise ValueError(f"dim must be positive, got {dim}")
        self._dim, self._encoder_id, self._kind, self._recall = int(dim), str(encoder_id), "flat", None
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(self._dim))
        self._ids, self._created = np.empty(0, np.int64), datetime.now(timezone.utc).isoformat(timespec="seconds")

    @classmethod
    def build(cls, ids, vectors, encoder_id: str, approx_threshold: int = APPROX_THRESHOLD,
              target_recall: float = 0.95, seed: int = 0) -> "VectorIndex":
        """Exact below ``approx_threshold`` (or 1,000) vectors, else IVF with nprobe tuned to ``target_recall``."""
        if np.ndim(vectors) != 2:
            raise ValueError(f"vectors must be a 2-D array (n, dim), got shape {np.shape(vectors)}")
        self = cls(np.shape(vectors)[1], encoder_id)
        ids, vecs = self._check_batch(ids, vectors)
        n, d = vecs.shape
        if n < max(approx_threshold, 1_000):
            self.add(ids, vecs)
            return self
        nlist = max(1, min(int(4 * math.sqrt(n)), MAX_NLIST, n // 39))
        rng = np.random.default_rng(seed)
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
        ivf.cp.seed, ivf.cp.spherical = int(seed), True
        ivf.train(vecs[np.sort(rng.choice(n, size=min(n, TRAIN_PER_LIST * nlist), replace=False))])
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # reconstruct/remove by arbitrary id
        ivf.add_with_ids(vecs, ids)
        self._index, self._kind, self._ids = ivf, "ivf", np.sort(ids)
        ivf.nprobe, self._recall = _tune_nprobe(ivf, ids, vecs, rng, target_recall)
        log.info("built IVF index: n=%d nlist=%d nprobe=%d recall@10=%.3f", n, nlist, ivf.nprobe, self._recall)
        return self

    @property
    def manifest(self) -> IndexManifest:
        nlist, nprobe = (int(self._index.nlist), int(self._index.nprobe)) if self._kind == "ivf" else (None, None)
        return IndexManifest(FORMAT_VERSION, self._encoder_id, self._dim, len(self), self._kind, nlist, nprobe,
                             self._recall, self._created)

    dim = property(lambda self: self._dim)
    encoder_id = property(lambda self: self._encoder_id)
    kind = property(lambda self: self._kind, doc='"flat" (exact) or "ivf" (approximate)')

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids, vectors) -> None:
        """Add vectors; ids already present are replaced (removed, then added again)."""
        ids, vecs = self._check_batch(ids, vectors)
        self._remove(ids[self._has(ids)])
        if len(ids):
            self._index.add_with_ids(vecs, ids)
            self._ids = np.sort(np.concatenate([self._ids, ids]))

    def remove(self, ids) -> int:
        """Remove these ids (unknown ones are ignored); returns how many vectors were removed."""
        ids = np.unique(_as_ids(ids))
        return self._remove(ids[self._has(ids)])

    def _remove(self, present: np.ndarray) -> int:
        if not len(present):
            return 0
        # the IVF hashtable direct map removes only by IDSelectorArray; IDMap2 scans, so wants a hash set
        selector = faiss.IDSelectorArray if self._kind == "ivf" else faiss.IDSelectorBatch
        removed = int(self._index.remove_ids(selector(len(present), faiss.swig_ptr(present))))
        self._ids = np.setdiff1d(self._ids, present, assume_unique=True)
        return removed

    def contains(self, id) -> bool:
        return bool(self._has(_as_ids([id]))[0])

    def ids(self) -> np.ndarray:
        return self._ids.copy()

    def search(self, queries, k: int, allowed_ids=None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k by inner product: scores (m, k) float32 and ids (m, k) int64 (a 1-D query gives m = 1),
        padded with -inf / -1. ``allowed_ids`` restricts results to those ids (unknown ones ignored)."""
        q, k = _as_vectors(queries, self._dim, "queries"), int(k)
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        scores, found = np.full((len(q), k), -np.inf, np.float32), np.full((len(q), k), -1, np.int64)
        allowed = None if allowed_ids is None else np.unique(_as_ids(allowed_ids))
        allowed = None if allowed is None else allowed[self._has(allowed)]
        kk = min(k, len(self) if allowed is None else len(allowed))
        if kk and len(q):
            result = self._index.search(q, kk) if allowed is None else self._search_subset(q, kk, allowed)
            scores[:, :kk], found[:, :kk] = result
        scores[found == -1] = -np.inf
        return scores, found

    def _search_subset(self, q: np.ndarray, k: int, allowed: np.ndarray):
        sel = faiss.IDSelectorBatch(len(allowed), faiss.swig_ptr(allowed))
        if self._kind == "flat":
            return self._index.search(q, k, params=faiss.SearchParameters(sel=sel))
        ivf = self._index  # the fewer ids allowed, the more lists must be probed to find k of them
        nprobe = min(ivf.nlist, max(ivf.nprobe, math.ceil(ivf.nprobe * len(self) / len(allowed))))
        scores, found = ivf.search(q, k, params=faiss.SearchParametersIVF(sel=sel, nprobe=nprobe))
        short = found[:, k - 1] == -1
        if short.any() and nprobe < ivf.nlist:  # rows still lacking results: probe every list
            params = faiss.SearchParametersIVF(sel=sel, nprobe=ivf.nlist)
            scores[short], found[short] = ivf.search(q[short], k, params=params)
        return scores, found

    def vectors(self, ids) -> np.ndarray:
        """The stored vectors for these ids, (n, dim) float32; KeyError for an unknown id."""
        ids = _as_ids(ids)
        if len(missing := ids[~self._has(ids)]):
            raise KeyError(f"id {missing[0]} is not in the vector index")
        return self._index.reconstruct_batch(ids) if len(ids) else np.empty((0, self._dim), np.float32)

    def _has(self, ids: np.ndarray) -> np.ndarray:
        if not len(self._ids):
            return np.zeros(len(ids), bool)
        return self._ids[np.minimum(np.searchsorted(self._ids, ids), len(self._ids) - 1)] == ids

    def _check_batch(self, ids, vectors) -> tuple[np.ndarray, np.ndarray]:
        ids, vecs = _as_ids(ids), _as_vectors(vectors, self._dim, "vectors")
        if len(ids) != len(vecs) or len(np.unique(ids)) != len(ids) or (ids == -1).any():
            raise ValueError(f"need one id per vector ({len(ids)} ids, {len(vecs)} vectors), unique, and not -1")
        return ids, vecs

    def save(self, folder: Path) -> None:
        """Write index.faiss and manifest.json atomically: temp files, fsync, os.replace, manifest last."""
        (folder := Path(folder)).mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(folder)
        tmp_index, tmp_manifest = (folder / f"{name}.tmp-{os.getpid()}" for name in (INDEX_FILE, MANIFEST_FILE))
        final_index, backup = folder / INDEX_FILE, folder / BACKUP_FILE
        try:
            try:  # through a Python file: faiss takes a path as UTF-8 text only, not a name of any bytes
                with open(tmp_index, "wb") as out:
                    faiss.write_index(self._index, faiss.PyCallbackIOWriter(out.write))
            except RuntimeError as exc:  # faiss says "could not open ... for writing" (a read-only folder, a full disk)
                raise OSError(f"could not write {tmp_index}: {str(exc).strip().splitlines()[-1]}") from exc
            size, digest = _fingerprint(tmp_index, sync=True)
            doc = asdict(self.manifest) | {"index_file": {"name": INDEX_FILE, "bytes": size, "sha256": digest}}
            tmp_manifest.write_text(json.dumps(doc, indent=2), encoding="utf-8")
            _fingerprint(tmp_manifest, sync=True)
            backup.unlink(missing_ok=True)
            if final_index.exists():  # keep the previous faiss file until the new manifest is in place
                with contextlib.suppress(OSError):  # no hard links here: no backup
                    os.link(final_index, backup)
            os.replace(tmp_index, final_index)
            os.replace(tmp_manifest, folder / MANIFEST_FILE)  # the commit point
        finally:  # manifest not replaced: load() finds the previous faiss file in the backup (if index was)
            tmp_index.unlink(missing_ok=True)
            tmp_manifest.unlink(missing_ok=True)
            if backup.exists() and final_index.exists() and os.path.samefile(backup, final_index):
                backup.unlink()
        backup.unlink(missing_ok=True)
        log.info("saved %s index of %d vectors to %s", self._kind, len(self), folder)

    @classmethod
    def load(cls, folder, *, encoder_id: str, dim: int, count: int | None = None) -> "VectorIndex":
        """Load a saved index; IndexMismatch unless it matches the encoder, dim and (if given) count."""
        folder = Path(folder)

        def fail(reason: str) -> IndexMismatch:
            return IndexMismatch(f"The saved vector index in {folder} cannot be used: {reason}. {REBUILD_HINT}")

        if not (folder / MANIFEST_FILE).is_file() or not (folder / INDEX_FILE).is_file():
            raise fail(f"{INDEX_FILE} or {MANIFEST_FILE} is missing")
        try:
            doc = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
            if type(version := doc.get("format_version")) is int and version > FORMAT_VERSION:
                raise fail(f"it was written by a newer Vitrina (index format {version}; "
                           f"this version reads format {FORMAT_VERSION} and older)")
            m, info = IndexManifest(**{f.name: doc[f.name] for f in fields(IndexManifest)}), doc["index_file"]
            if not (all(type(v) is int and v >= 0 for v in (m.format_version, m.dim, m.count))
                    and m.kind in ("flat", "ivf") and type(info["bytes"]) is int and type(info["sha256"]) is str):
                raise ValueError("unexpected field values")
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
            raise fail(f"its manifest is unreadable ({e!r})") from e
        if m.encoder_id != encoder_id:
            raise fail(f"it was built with encoder {m.encoder_id!r}, but the encoder in use is {encoder_id!r}")
        if m.dim != dim:
            raise fail(f"it holds {m.dim}-dimensional vectors, but the encoder makes {dim}-dimensional ones")
        if count is not None and m.count != count:
            raise fail(f"it holds {m.count:,} vectors, but the catalog has {count:,} in this space")
        path = next((p for p in (folder / INDEX_FILE, folder / BACKUP_FILE)
                     if p.is_file() and _fingerprint(p) == (info["bytes"], info["sha256"])), None)
        if path is None:
            raise fail(f"{INDEX_FILE} is corrupt or does not belong to its manifest")
        if path.name == BACKUP_FILE:  # a save was interrupted between its two renames
            log.warning("%s: restoring the index file kept by an interrupted save", folder)
            os.replace(path, folder / INDEX_FILE)
        try:
            with open(folder / INDEX_FILE, "rb") as source:  # a path of any bytes (as save writes it)
                index = faiss.read_index(faiss.PyCallbackIOReader(source.read))
        except RuntimeError as e:
            raise fail(f"{INDEX_FILE} is corrupt ({str(e).strip().splitlines()[-1]})") from e
        expected = faiss.IndexIVFFlat if m.kind == "ivf" else faiss.IndexIDMap2
        if not isinstance(index, expected) or (index.d, index.ntotal) != (m.dim, m.count):
            raise fail(f"{INDEX_FILE} does not hold the {m.kind} index of {m.count} vectors its manifest describes")
        if m.kind == "ivf":
            index.set_direct_map_type(faiss.DirectMap.Hashtable)  # no-op when saved with it
        ids = np.sort(_ivf_ids(index) if m.kind == "ivf" else faiss.vector_to_array(index.id_map).astype(np.int64))
        self = cls(m.dim, m.encoder_id)
        self._index, self._kind, self._ids, self._recall, self._created = index, m.kind, ids, m.recall_at_10, m.created
        log.info("loaded %s index of %d vectors from %s", m.kind, m.count, folder)
        return self


def _as_ids(ids) -> np.ndarray:
    a = np.atleast_1d(np.asarray(ids))
    if a.ndim != 1 or (a.size and not np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"ids must be a 1-D array of integers, got dtype {a.dtype} shape {a.shape}")
    return np.ascontiguousarray(a, dtype=np.int64)


def _as_vectors(x, dim: int, what: str) -> np.ndarray:
    a = np.atleast_2d(np.asarray(x))
    if a.ndim != 2 or a.shape[1] != dim or not (np.issubdtype(a.dtype, np.floating)
                                                or np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"{what} must be real numbers of shape (n, {dim}) or ({dim},), got {a.dtype} {np.shape(x)}")
    a = np.ascontiguousarray(a, dtype=np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", a, a))  # no (n, d) temporary; NaN/inf anywhere -> NaN/inf norm
    if not np.isfinite(norms).all():
        raise ValueError(f"{what} contain NaN or infinite values")
    if (bad := np.abs(norms - 1.0) > NORM_TOL).any():
        raise ValueError(f"{what} must be L2-normalised; {int(bad.sum())} are not (e.g. norm {norms[bad][0]:.4g})")
    return a


def _tune_nprobe(ivf, ids, vecs, rng, target: float) -> tuple[int, float]:
    """Smallest nprobe in 1, 2, 4, ..., nlist whose recall@10 vs exact search reaches ``target`` (by more than
    twice its standard error). Queries: sampled stored vectors plus noise; each query's own vector is left out
    of both result lists (found trivially, it would inflate recall: real queries are not in the index)."""
    rows = rng.choice(len(vecs), size=min(RECALL_QUERIES, len(vecs)), replace=False)
    q = vecs[rows] + rng.standard_normal((len(rows), ivf.d), dtype=np.float32) * np.float32(RECALL_NOISE / ivf.d**0.5)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    truth = _without(ids[faiss.knn(q, vecs, 11, metric=faiss.METRIC_INNER_PRODUCT)[1]], ids[rows])
    for nprobe in sorted({min(2 ** i, ivf.nlist) for i in range(ivf.nlist.bit_length() + 1)}):
        got = _without(ivf.search(q, 11, params=faiss.SearchParametersIVF(nprobe=nprobe))[1], ids[rows])
        hits = (got[:, :, None] == truth[:, None, :]).any(axis=2).mean(axis=1)  # recall@10 of each query
        recall = float(hits.mean())
        if recall - 2 * hits.std() / len(hits) ** 0.5 >= target:  # with a margin for the sampling error
            break
    return nprobe, recall


def _without(found: np.ndarray, own: np.ndarray) -> np.ndarray:  # top 10 of each row, its own id left out
    return np.stack([row[row != own_id][:10] for row, own_id in zip(found, own)])


def _ivf_ids(ivf) -> np.ndarray:  # ArrayInvertedLists.get_ids points into the list: nothing to release
    lists, sizes = ivf.invlists, [ivf.invlists.list_size(i) for i in range(ivf.nlist)]
    parts = [faiss.rev_swig_ptr(lists.get_ids(i), s).astype(np.int64) for i, s in enumerate(sizes) if s]
    return np.concatenate(parts) if parts else np.empty(0, np.int64)


def _fingerprint(path: Path, sync: bool = False) -> tuple[int, str]:  # (size, SHA-256); sync: fsync it too
    digest, size = hashlib.sha256(), 0
    with open(path, "r+b" if sync else "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
            size += len(chunk)
        if sync:
            os.fsync(f.fileno())
    return size, digest.hexdigest()

