"""Tests for core.index.VectorIndex: exact/IVF search, updates, filters, validation, persistence."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from core.errors import AppError, IndexMismatch
from core.index import FORMAT_VERSION, VectorIndex

D = 32
ENC = "test-encoder/v1"


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def clustered(n: int, d: int = D, centres: int = 16, spread: float = 0.6, seed: int = 0) -> np.ndarray:
    """Unit vectors from a Gaussian mixture around random unit centres."""
    rng = np.random.default_rng(seed)
    c = unit(rng.standard_normal((centres, d)))
    return unit(c[rng.integers(0, centres, n)] + spread / np.sqrt(d) * rng.standard_normal((n, d)))


def perturbed(x: np.ndarray, noise: float = 0.2, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return unit(x + noise / np.sqrt(x.shape[-1]) * rng.standard_normal(x.shape))


def some_ids(n: int, seed: int = 2) -> np.ndarray:
    """Unique, unordered, large int64 ids (never -1)."""
    rng = np.random.default_rng(seed)
    ids = rng.choice(np.int64(2) ** 50, size=n, replace=False).astype(np.int64) + 1_000_000_000_000
    return ids


def make(kind: str, n: int = 3000, seed: int = 0) -> tuple[VectorIndex, np.ndarray, np.ndarray]:
    ids, x = some_ids(n, seed + 2), clustered(n, seed=seed)
    index = VectorIndex.build(ids, x, ENC, approx_threshold=2000 if kind == "ivf" else 10**9, seed=seed)
    assert index.kind == kind
    return index, ids, x


def exact_topk(x: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = q.astype(np.float64) @ x.astype(np.float64).T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, axis=1), ids[order]


# ---- search ---------------------------------------------------------------------------------------
def test_exact_search_matches_numpy():
    index, ids, x = make("flat", n=800)
    assert (len(index), index.dim, index.encoder_id) == (800, D, ENC)
    q = perturbed(x[:25])
    scores, found = index.search(q, 10)
    want_scores, want_ids = exact_topk(x, ids, q, 10)
    assert scores.shape == found.shape == (25, 10)
    assert scores.dtype == np.float32 and found.dtype == np.int64
    np.testing.assert_array_equal(found, want_ids)
    np.testing.assert_allclose(scores, want_scores, atol=1e-5)
    # a stored vector is its own nearest neighbour, with score 1
    s, f = index.search(x[7], 1)
    assert f.shape == (1, 1) and f[0, 0] == ids[7] and s[0, 0] == pytest.approx(1.0, abs=1e-5)


def test_ids_survive_and_vectors_reconstruct():
    for kind in ("flat", "ivf"):
        index, ids, x = make(kind)
        np.testing.assert_array_equal(index.ids(), np.sort(ids))
        assert index.ids().dtype == np.int64
        assert index.contains(ids[3]) and not index.contains(12345)
        np.testing.assert_allclose(index.vectors(ids[[5, 1, 9]]), x[[5, 1, 9]], atol=1e-6)
        with pytest.raises(KeyError):
            index.vectors([ids[0], 12345])


def test_build_threshold_selects_kind():
    ids, x = some_ids(1500), clustered(1500)
    assert VectorIndex.build(ids, x, ENC, approx_threshold=1501).kind == "flat"
    built = VectorIndex.build(ids, x, ENC, approx_threshold=1500)
    m = built.manifest
    assert (built.kind, m.kind, m.count, m.format_version) == ("ivf", "ivf", 1500, FORMAT_VERSION)
    empty = VectorIndex(D, ENC)
    assert (len(empty), empty.kind, empty.manifest.nlist, empty.manifest.recall_at_10) == (0, "flat", None, None)


def test_ivf_recall_recorded_in_manifest():
    index, ids, x = make("ivf", n=3000)
    m = index.manifest
    assert m.nlist and m.nlist > 1 and 1 <= m.nprobe <= m.nlist
    assert m.recall_at_10 is not None and m.recall_at_10 >= 0.95
    # the recorded recall holds for fresh queries too
    q = perturbed(x[::30], seed=7)
    _, found = index.search(q, 10)
    _, truth = exact_topk(x, ids, q, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)])
    assert recall >= 0.9


def test_padding_when_k_exceeds_count():
    index = VectorIndex(D, ENC)
    scores, found = index.search(clustered(2), 4)
    assert (found == -1).all() and np.isneginf(scores).all() and found.shape == (2, 4)
    ids, x = np.array([10, 20, 30], np.int64), clustered(3)
    index.add(ids, x)
    scores, found = index.search(x, 5)
    assert (found[:, 3:] == -1).all() and np.isneginf(scores[:, 3:]).all()
    assert sorted(found[0, :3]) == [10, 20, 30] and np.isfinite(scores[:, :3]).all()


@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_allowed_ids_restrict_results(kind):
    index, ids, x = make(kind)
    rng = np.random.default_rng(5)
    allowed = rng.choice(ids, size=40, replace=False)
    q = perturbed(x[:20], seed=3)
    scores, found = index.search(q, 10, allowed_ids=np.concatenate([allowed, [-5, 777]]))
    assert np.isin(found, allowed).all()
    sub = np.isin(ids, allowed)
    want_scores, want_ids = exact_topk(x[sub], ids[sub], q, 10)
    if kind == "flat":
        np.testing.assert_array_equal(found, want_ids)
    np.testing.assert_allclose(scores, np.sort(scores, axis=1)[:, ::-1])  # best first
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, want_ids)]) >= 0.9
    # fewer allowed than k: every allowed id comes back, then padding (even from far-away IVF lists)
    few = ids[[0, 500, 1000, 1500, 2000]]
    scores, found = index.search(q, 8, allowed_ids=few)
    assert all(set(row[:5]) == set(few) for row in found)
    assert (found[:, 5:] == -1).all() and np.isneginf(scores[:, 5:]).all()
    scores, found = index.search(q, 3, allowed_ids=np.array([], np.int64))
    assert (found == -1).all() and np.isneginf(scores).all()
    # many allowed ids, all far from the query (in IVF lists the scaled nprobe misses): still complete and exact
    far = ids[np.argsort(x @ q[0])[:400]]
    scores, found = index.search(q[0], 10, allowed_ids=far)
    sub = np.isin(ids, far)
    want_scores, want_ids = exact_topk(x[sub], ids[sub], q[:1], 10)
    np.testing.assert_array_equal(found, want_ids)
    np.testing.assert_allclose(scores, want_scores, atol=1e-5)


# ---- updates --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_add_replaces_existing_ids(kind):
    index, ids, x = make(kind)
    n = len(index)
    new = clustered(10, seed=99)
    index.add(ids[:10], new)  # all present: replaced
    assert len(index) == n and len(np.unique(index.ids())) == n
    np.testing.assert_allclose(index.vectors(ids[:10]), new, atol=1e-6)
    scores, found = index.search(new, 10)
    assert (found[:, 0] == ids[:10]).all() and np.allclose(scores[:, 0], 1.0, atol=1e-5)
    assert all(len(set(row)) == len(row) for row in found)  # no duplicate results
    fresh_ids = np.array([1, 2, 3], np.int64)
    index.add(np.concatenate([fresh_ids, ids[10:12]]), clustered(5, seed=98))  # mixed new / existing
    assert len(index) == n + 3 and all(index.contains(i) for i in fresh_ids)


@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_remove(kind):
    index, ids, x = make(kind)
    n = len(index)
    gone = ids[:50]
    assert index.remove(np.concatenate([gone, [424242, gone[0]]])) == 50  # unknown and repeated ids ignored
    assert len(index) == n - 50 and not any(index.contains(i) for i in gone[:5])
    np.testing.assert_array_equal(index.ids(), np.sort(ids[50:]))
    _, found = index.search(x[:50], 10)
    assert not np.isin(found, gone).any()
    with pytest.raises(KeyError):
        index.vectors(gone[:1])
    np.testing.assert_allclose(index.vectors(ids[50:53]), x[50:53], atol=1e-6)
    assert index.remove(gone) == 0 and index.remove([]) == 0
    index.add(gone[:2], x[:2])  # and back again
    assert len(index) == n - 48 and index.search(x[0], 1)[1][0, 0] == gone[0]


def test_rejects_invalid_vectors():
    index, ids, x = make("flat", n=100)
    bad = {
        "not normalised": x[:2] * 1.5,
        "zero": np.zeros((2, D), np.float32),
        "wrong dim": clustered(2, d=D + 1),
        "nan": np.where(np.arange(D) == 3, np.nan, x[:2]),
        "inf": np.where(np.arange(D) == 3, np.inf, x[:2]),
    }
    for name, vecs in bad.items():
        with pytest.raises(ValueError):
            index.add([900, 901], vecs)
        with pytest.raises(ValueError):
            index.search(vecs, 3)
        if name != "wrong dim":  # build takes its dim from the vectors
            with pytest.raises(ValueError):
                VectorIndex.build([900, 901], vecs, ENC)
    with pytest.raises(ValueError):
        index.add([900, 901, 902], clustered(2))  # ids / vectors count differ
    with pytest.raises(ValueError):
        index.add([900, 900], clustered(2))  # duplicate ids in one call
    with pytest.raises(ValueError):
        index.add([-1], clustered(1))  # reserved
    with pytest.raises(ValueError):
        index.add([1.5, 2.5], clustered(2))  # non-integer ids
    with pytest.raises(ValueError):
        index.search(x[:1], 0)
    assert len(index) == 100 and not index.contains(900)


# ---- persistence ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_save_load_round_trip(tmp_path, kind):
    index, ids, x = make(kind)
    index.remove(ids[:5])
    index.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.faiss", "manifest.json"]
    loaded = VectorIndex.load(tmp_path, encoder_id=ENC, dim=D, count=len(index))
    assert loaded.manifest == index.manifest and loaded.kind == kind
    np.testing.assert_array_equal(loaded.ids(), index.ids())
    q = perturbed(x[:30], seed=4)
    for allowed in (None, ids[100:160]):
        a, b = index.search(q, 10, allowed_ids=allowed), loaded.search(q, 10, allowed_ids=allowed)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(loaded.vectors(ids[5:9]), index.vectors(ids[5:9]))
    loaded.add(ids[:5], x[:5])  # the loaded index is still updatable (IVF direct map restored)
    assert loaded.remove(ids[5:7]) == 2 and len(loaded) == len(index) + 3
    loaded.save(tmp_path)  # saving over an existing pair
    assert len(VectorIndex.load(tmp_path, encoder_id=ENC, dim=D)) == len(index) + 3


def _saved(tmp_path: Path, n: int = 300) -> tuple[Path, VectorIndex]:
    index, _, _ = make("flat", n=n)
    index.save(tmp_path)
    return tmp_path, index


def _edit_manifest(folder: Path, **changes) -> None:
    path = folder / "manifest.json"
    doc = json.loads(path.read_text())
    doc.update(changes)
    path.write_text(json.dumps(doc))


def _corrupt_middle(folder: Path) -> None:
    path = folder / "index.faiss"
    data = bytearray(path.read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = os.urandom(64)
    path.write_bytes(bytes(data))


def _garbage_with_matching_manifest(folder: Path) -> None:
    import hashlib
    garbage = b"not a faiss index at all" * 10
    (folder / "index.faiss").write_bytes(garbage)
    _edit_manifest(folder, index_file={"name": "index.faiss", "bytes": len(garbage),
                                       "sha256": hashlib.sha256(garbage).hexdigest()})


@pytest.mark.parametrize("case", [
    "encoder", "dim", "count", "newer_format", "corrupt", "truncated", "unreadable_faiss",
    "missing_index", "missing_manifest", "missing_folder", "bad_json", "manifest_fields",
])
def test_load_refuses_mismatch(tmp_path, case):
    folder, index = _saved(tmp_path)
    kwargs = {"encoder_id": ENC, "dim": D, "count": 300}
    if case == "encoder":
        kwargs["encoder_id"] = "another-encoder/v2"
    elif case == "dim":
        kwargs["dim"] = D * 2
    elif case == "count":
        kwargs["count"] = 301
    elif case == "newer_format":
        _edit_manifest(folder, format_version=FORMAT_VERSION + 1)
    elif case == "corrupt":
        _corrupt_middle(folder)
    elif case == "truncated":
        (folder / "index.faiss").write_bytes((folder / "index.faiss").read_bytes()[:1000])
    elif case == "unreadable_faiss":
        _garbage_with_matching_manifest(folder)
    elif case == "missing_index":
        (folder / "index.faiss").unlink()
    elif case == "missing_manifest":
        (folder / "manifest.json").unlink()
    elif case == "missing_folder":
        folder = folder / "nowhere"
    elif case == "bad_json":
        (folder / "manifest.json").write_text("{not json")
    elif case == "manifest_fields":
        _edit_manifest(folder, dim="thirty-two")
    with pytest.raises(IndexMismatch) as err:
        VectorIndex.load(folder, **kwargs)
    assert isinstance(err.value, AppError)
    assert "vitrina index --rebuild" in str(err.value)
    if case == "newer_format":
        assert "newer" in str(err.value)


def test_load_checks_count_against_faiss_file(tmp_path):
    folder, index = _saved(tmp_path)
    # a manifest that lies about the count (with a matching checksum) is still refused
    _edit_manifest(folder, count=299)
    with pytest.raises(IndexMismatch):
        VectorIndex.load(folder, encoder_id=ENC, dim=D)


@pytest.mark.parametrize("failing_call", [1, 2])
def test_interrupted_save_keeps_previous_index(tmp_path, monkeypatch, failing_call):
    index, ids, x = make("flat", n=300)
    index.save(tmp_path)
    q = perturbed(x[:10], seed=6)
    before = index.search(q, 5)
    index.add(np.arange(1, 51, dtype=np.int64), clustered(50, seed=11))  # now 350 vectors
    index.remove(ids[:3])

    real_replace, calls = os.replace, []

    def flaky_replace(src, dst):
        calls.append(dst)
        if len(calls) == failing_call:
            raise OSError("simulated crash")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky_replace)
    with pytest.raises(OSError, match="simulated crash"):
        index.save(tmp_path)
    monkeypatch.undo()

    old = VectorIndex.load(tmp_path, encoder_id=ENC, dim=D, count=300)
    after = old.search(q, 5)
    np.testing.assert_array_equal(before[1], after[1])
    np.testing.assert_array_equal(before[0], after[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.faiss", "manifest.json"]
    index.save(tmp_path)  # a later save goes through
    assert len(VectorIndex.load(tmp_path, encoder_id=ENC, dim=D, count=347)) == 347


def test_no_pickle_in_source():
    import core.index

    source = Path(core.index.__file__).read_text(encoding="utf-8")
    assert "pickle" not in source
    assert not re.search(r"(?<![\w.])print\(", source)  # logging, not print


def test_a_killed_save_s_temporary_files_are_removed_by_the_next_save(tmp_path):
    import subprocess

    from core.index import VectorIndex

    dead = subprocess.Popen(["true"])  # a process that is gone, as a killed save's
    dead.wait()
    left = [tmp_path / f"index.faiss.tmp-{dead.pid}", tmp_path / f"manifest.json.tmp-{dead.pid}"]
    for f in left:
        f.write_bytes(b"x" * 1000)
    alive = tmp_path / f"index.faiss.tmp-{os.getppid()}"  # a running process's save: left alone
    alive.write_bytes(b"x")
    VectorIndex.build(np.arange(3), np.eye(3, dtype=np.float32), "enc").save(tmp_path)
    assert not any(f.exists() for f in left) and alive.exists()
