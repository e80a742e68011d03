"""Catalog insights: clusters of the product embeddings and a 2-D map of them (scikit-learn).

Clusters come from KMeans or HDBSCAN, scored by silhouette and Davies-Bouldin, and are named by
their most typical attribute values and title words (the ones most over-represented in the
cluster compared with the whole catalog). Results are cached in the catalog with the space's
revision, so they are recomputed only when the vectors change; the names are given again when the
attributes or titles they come from change.
"""
from __future__ import annotations

import json
import logging
import re
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, replace

import numpy as np

from core.catalog import Catalog
from core.errors import AppError, Cancelled

log = logging.getLogger(__name__)

# HDBSCAN runs on the vectors' leading principal components: its neighbour search degrades to
# quadratic in high dimensions (H&M, 11,800 ViT vectors: 129 s at 384-d, 5.9 s at 32-d with a
# similar clustering; docs/BENCHMARKS.md, "Insights").
HDBSCAN_DIMS = 32
STOP = {"a", "an", "and", "the", "for", "with", "of", "in", "men", "women", "s", "to", "on", "by", "&"}


@dataclass(frozen=True)
class Cluster:
    label: int
    size: int
    name: str
    attributes: tuple[tuple[str, str, float], ...]  # (field, value, lift)
    words: tuple[str, ...]


@dataclass(frozen=True)
class Clustering:
    method: str
    space: str
    pks: np.ndarray
    labels: np.ndarray  # -1 = noise (HDBSCAN)
    clusters: tuple[Cluster, ...]
    silhouette: float | None
    davies_bouldin: float | None

    def members(self, label: int) -> tuple[int, ...]:
        return tuple(int(p) for p in self.pks[self.labels == label])

    def names(self) -> dict[int, str]:
        """pk -> the name of its cluster (products HDBSCAN left as noise are not listed)."""
        by_label = {c.label: c.name for c in self.clusters}
        return {int(p): by_label[int(label)] for p, label in zip(self.pks, self.labels) if int(label) in by_label}

    def summary(self) -> str:
        """One line: the method, how many clusters and their quality scores."""
        quality = (f"silhouette {self.silhouette:.3f}, Davies-Bouldin {self.davies_bouldin:.3f}"
                   if self.silhouette is not None else "too few clusters for quality scores")
        noise = int((self.labels < 0).sum())
        unclustered = f", {noise} unclustered" if noise else ""
        return f"{len(self.clusters)} clusters ({self.method}, {self.space} space{unclustered}): {quality}"

    def find(self, ref: str) -> Cluster:
        """The cluster that ``ref`` names: its number as ``vitrina clusters`` lists it, or its name (any case).
        A number is a number first: a cluster named "1" (a category of numbers) must not hide cluster 1."""
        ref = ref.strip()
        if not self.clusters:
            raise AppError(f"The {self.method} clustering found no cluster: every product is left unclustered"
                           + (" (try kmeans, or a catalog with more products alike)." if self.method == "hdbscan"
                              else "."))
        for matches in (lambda c: ref == str(c.label), lambda c: ref.casefold() == c.name.casefold()):
            for c in self.clusters:
                if ref and matches(c):
                    return c
        listed = "; ".join(f"{c.label}: {c.name}" for c in sorted(self.clusters, key=lambda c: c.label))
        raise AppError(f"No cluster '{ref}' among the {len(self.clusters)} {self.method} clusters: "
                       f"give its number or name ({listed}).")


def typical_members(catalog: Catalog, clustering: Clustering, label: int,
                    allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
    """(pk, cosine to the cluster's mean direction) of a cluster's products, the most typical first: what the
    cluster browser lists when there is no query. ``allowed``: only these of them (the filters); the centre is
    the whole cluster's either way."""
    members = np.asarray(clustering.members(label), np.int64)
    if not len(members):
        return []
    pks, vectors = catalog.embeddings(clustering.space)
    keep = np.isin(pks, members)
    pks, vectors = pks[keep], vectors[keep]
    centre = vectors.mean(axis=0)
    scores = vectors @ (centre / (np.linalg.norm(centre) or 1.0))
    if allowed is not None:
        shown = np.isin(pks, allowed)
        pks, scores = pks[shown], scores[shown]
    order = np.argsort(-scores, kind="stable")
    return [(int(pks[i]), float(scores[i])) for i in order]


MAP_COLOUR_VALUES = 60  # an attribute with more values than this, not a category field, is not offered to colour by


def colour_fields(catalog: Catalog) -> list[str]:
    """The attributes a map can be coloured by: the category fields, then the other attributes with a few values
    (H&M's index_group_name: Ladieswear, Menswear...), each with at least two values."""
    return catalog.grouping_attributes(MAP_COLOUR_VALUES, categories_any=True)


def default_space(catalog: Catalog) -> str:
    """The space insights are computed in: the ViT's (photos and texts together), else the photos', else any."""
    spaces = catalog.spaces()
    for space in ("vit", "image", *sorted(spaces)):
        if space in spaces:
            return space
    raise AppError(f"{catalog.name} has no product vectors yet: import products or run `vitrina index`.")


def known_space(catalog: Catalog, space: str | None) -> str:
    """``space``, checked against the catalog's; None: ``default_space``."""
    if space is None:
        return default_space(catalog)
    spaces = catalog.spaces()
    if space not in spaces:
        raise AppError(f"{catalog.name} has no '{space}' vectors; its spaces: {', '.join(sorted(spaces)) or 'none'}.")
    return space


def cluster(catalog: Catalog, space: str | None, method: str = "kmeans", k: int | None = None,
            min_cluster_size: int = 10, seed: int = 0, cache: bool = True, cancelled=None) -> Clustering:
    """``space``: None for ``default_space``; ``cache``: read and write the result kept in the catalog (off:
    compute it, e.g. to time it); ``cancelled``: HDBSCAN runs in a child process that Cancel ends (the window's
    way: in a thread beside it, HDBSCAN held the interpreter lock for 1.5 s on H&M and froze it)."""
    space = known_space(catalog, space)
    if method not in ("kmeans", "hdbscan"):
        raise AppError(f"Unknown clustering method '{method}': use kmeans or hdbscan.")
    asked = k  # the cache's key: the default k is computed again from the same vectors
    named = _naming_state(catalog) if cache else None
    cached = _load(catalog, space, method, asked, min_cluster_size, seed) if cache else None
    if cached is not None:
        result, was, of = cached
        if was != named:  # attributes or titles changed, not the vectors: the same clusters, named again
            result = replace(result, clusters=tuple(_describe(catalog, result.pks, result.labels)))
            _save(catalog, result, (asked, min_cluster_size, seed), named, of)
        return result
    from sklearn.cluster import KMeans  # after the cache: importing scikit-learn takes a second or two
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import davies_bouldin_score, silhouette_score

    with catalog.snapshot():  # the revision kept with the clustering is its vectors' (an import may commit between)
        revision = catalog.revision(space)
        pks, vectors = catalog.embeddings(space)
    if len(pks) < 3:
        raise AppError(f"Clustering needs at least 3 products with '{space}' vectors; {catalog.name} has {len(pks)}.")
    if method == "kmeans":
        if k is not None and not 2 <= k < len(pks):
            raise AppError(f"The number of clusters must be from 2 to {len(pks) - 1} (one less than the "
                           f"{len(pks)} products with '{space}' vectors); {k} was asked for.")
        k = k or int(np.clip(round(np.sqrt(len(pks) / 4)), 2, 40))
        with warnings.catch_warnings():  # identical products: fewer clusters than asked; those found are listed
            warnings.simplefilter("ignore", ConvergenceWarning)
            labels = KMeans(n_clusters=min(k, len(pks) - 1), n_init=4, random_state=seed).fit_predict(vectors)
    else:
        if not 2 <= min_cluster_size <= len(pks):
            raise AppError(f"HDBSCAN looks for clusters of at least {min_cluster_size} products; {catalog.name} has "
                           f"{len(pks)} products with '{space}' vectors: use kmeans.")
        x = vectors
        if x.shape[1] > HDBSCAN_DIMS and len(x) > HDBSCAN_DIMS:
            from sklearn.decomposition import PCA

            x = PCA(n_components=HDBSCAN_DIMS, random_state=seed).fit_transform(x)
        labels = _hdbscan(x, min_cluster_size) if cancelled is None else _in_child(
            "The clustering", "HDBSCAN clustering", _HDBSCAN_CHILD, x, (str(min_cluster_size),), cancelled,
            instead="Try kmeans.")
    kept = labels >= 0
    n_labels = len(set(labels[kept].tolist()))
    sil = dbi = None
    if 2 <= n_labels < kept.sum():
        sample = np.random.default_rng(seed).permutation(np.flatnonzero(kept))[:5000]
        sil = float(silhouette_score(vectors[sample], labels[sample], metric="cosine"))
        dbi = float(davies_bouldin_score(vectors[kept], labels[kept]))
    result = Clustering(method, space, pks, labels, tuple(_describe(catalog, pks, labels)), sil, dbi)
    if cache:
        _save(catalog, result, (asked, min_cluster_size, seed), named, revision)
    return result


def _describe(catalog: Catalog, pks: np.ndarray, labels: np.ndarray) -> list[Cluster]:
    fields = catalog.category_fields()
    columns = {f: catalog.attribute_column(f) for f in fields}
    titles = dict(catalog.execute("SELECT pk, title FROM products"))
    all_words = Counter(w for pk in pks for w in set(_words(titles.get(int(pk), ""))))
    out = []
    for label in sorted(set(labels.tolist()) - {-1}):
        members = pks[labels == label]
        attrs = []
        for f, col in columns.items():
            overall = Counter(col.values())
            inside = Counter(col[int(p)] for p in members if int(p) in col)
            for value, n in inside.most_common(3):
                share, base = n / len(members), overall[value] / max(len(col), 1)
                if share >= 0.3:
                    attrs.append((f, value, round(share / base, 2)))
        attrs.sort(key=lambda t: -t[2])
        words = Counter(w for p in members for w in set(_words(titles.get(int(p), ""))))
        lift = {w: (n / len(members)) / (all_words[w] / len(pks)) for w, n in words.items() if n >= max(2, 0.2 * len(members))}
        # ties by the word: set order changed with each run's hash seed, and so did a name copied for --cluster
        top_words = tuple(sorted(lift, key=lambda w: (-lift[w], w))[:4])
        # the two most typical values, each once ("Belts" is often both the sub-category and the type), the second
        # of other products where one is typical enough: "Eyewear · Sunglasses" named the same 12 of 32 products,
        # and left the 10 cufflinks unsaid
        values = []
        for f, v, _ in attrs:
            if all(v.casefold() != c.casefold() for c, _ in values):
                values.append((v, {int(p) for p in members if columns[f].get(int(p)) == v}))
        chosen = values[:1]
        if len(values) > 1:
            first = values[0][1]
            chosen.append(next((x for x in values[1:] if len(x[1] & first) < 0.8 * min(len(x[1]), len(first))),
                               values[1]))
        name = " · ".join([v for v, _ in chosen] or list(top_words[:3])) or f"cluster {label}"
        out.append(Cluster(int(label), int(len(members)), name, tuple(attrs[:5]), top_words))
    return _distinct_names(out)


def _distinct_names(clusters: list[Cluster]) -> list[Cluster]:
    """Clusters that would share a name (two groups of blouses) are told apart by their most typical title
    word that the name lacks, else by their number: a name picks one cluster (``Clustering.find``)."""
    counts = Counter(c.name.casefold() for c in clusters)
    names = {}
    for c in clusters:
        extra = next((w for w in c.words if w not in c.name.casefold()), None)
        names[c.label] = f"{c.name} · {extra}" if counts[c.name.casefold()] > 1 and extra else c.name
    again = Counter(n.casefold() for n in names.values())  # still shared (no word, or the same one): numbers decide
    return [replace(c, name=names[c.label] if again[names[c.label].casefold()] == 1 else f"{c.name} #{c.label}")
            for c in clusters]


def _words(title: str) -> list[str]:
    return [w for w in re.findall(r"[a-z]+", title.lower()) if w not in STOP and len(w) > 2]


def _key(space: str, method: str, k, mcs, seed: int) -> str:
    # 2: HDBSCAN on PCs, 3-5: names, 6: one entry per setting, its vectors' revision and names' sources inside
    return f"insights6:{space}:{method}:{k}:{mcs}:{seed}"


NAMING = "names 3: two values of other products; tied words in order"


def _naming_state(catalog: Catalog) -> str:
    """A digest of what ``_describe`` names clusters from: the category fields, their values and the titles
    (they change without a write to the vectors: an import that renames a category). 0.1 s on H&M."""
    import hashlib

    fields = catalog.category_fields()
    marks = ",".join("?" * len(fields))
    digest = hashlib.blake2b(digest_size=12)
    digest.update(NAMING.encode())  # names made by other rules are made again (not the clusters)
    digest.update(repr(fields).encode())
    for row in catalog.execute("SELECT pk, title FROM products ORDER BY pk"):
        digest.update(repr(row).encode())
    for row in catalog.execute(f"SELECT pk, key, value FROM attributes WHERE key IN ({marks}) ORDER BY pk, key",
                               fields):
        digest.update(repr(row).encode())
    return digest.hexdigest()


def _save(catalog: Catalog, c: Clustering, settings: tuple, named: str, revision: int | None = None) -> None:
    """``settings``: (k as asked, min_cluster_size, seed); ``named``: the ``_naming_state`` of its names;
    ``revision``: the space's, read with the vectors clustered (None: now)."""
    doc = {"revision": catalog.revision(c.space) if revision is None else revision, "named": named,
           "pks": c.pks.tolist(),
           "labels": c.labels.tolist(), "silhouette": c.silhouette, "davies_bouldin": c.davies_bouldin,
           "clusters": [asdict(x) for x in c.clusters]}
    with catalog.transaction():
        catalog.set_meta(_key(c.space, c.method, *settings), json.dumps(doc))
        catalog.drop_meta("insights[1-5]:*")  # the entries of earlier versions, one per revision


def _load(catalog: Catalog, space: str, method: str, k, mcs, seed: int) -> tuple[Clustering, str, int] | None:
    """(the clustering kept for these settings, the naming state its names were given in, the revision of its
    vectors); None when there is none or the vectors changed since."""
    raw = catalog.meta(_key(space, method, k, mcs, seed))
    if not raw:
        return None
    d = json.loads(raw)
    if d.get("revision") != catalog.revision(space):
        return None
    clusters = tuple(Cluster(x["label"], x["size"], x["name"], tuple(tuple(a) for a in x["attributes"]),
                             tuple(x["words"])) for x in d["clusters"])
    return (Clustering(method, space, np.asarray(d["pks"], np.int64), np.asarray(d["labels"]), clusters,
                       d["silhouette"], d["davies_bouldin"]), d.get("named"), d["revision"])


def embedding_map(catalog: Catalog, space: str, method: str = "pca", seed: int = 0,
                  cache: bool = True, cancelled=None) -> tuple[np.ndarray, np.ndarray]:
    """(pks, (n, 2) coordinates) of a PCA or t-SNE map of the space; cached by the space's revision.
    ``cancelled``: a callable polled while a t-SNE runs (in a process of its own, ended when it says so:
    raises ``Cancelled``)."""
    space = known_space(catalog, space)
    if method not in ("pca", "tsne"):
        raise AppError(f"Unknown map method '{method}': use pca or tsne.")
    with catalog.snapshot():  # the revision in the key is the vectors' (an import may commit between)
        key = f"map:{space}:{method}:{catalog.revision(space)}"
        raw = catalog.meta(key) if cache else None
        if raw:
            d = json.loads(raw)
            return np.asarray(d["pks"], np.int64), np.asarray(d["xy"], np.float32)
        pks, vectors = catalog.embeddings(space)
    if len(pks) < 3:
        raise AppError(f"A map needs at least 3 products with '{space}' vectors.")
    from sklearn.decomposition import PCA

    if not np.ptp(vectors, axis=0).max(initial=0.0) > 1e-6:  # every product alike: all at one spot (``_tsne``)
        xy = np.zeros((len(pks), 2), np.float32)
    elif method == "pca":
        xy = PCA(n_components=2, random_state=seed).fit_transform(vectors)
    else:  # t-SNE, on the leading principal components
        reduced = PCA(n_components=min(50, vectors.shape[1], len(pks) - 1), random_state=seed).fit_transform(vectors)
        xy = _tsne(reduced, seed) if cancelled is None else _tsne_cancellable(reduced, seed, cancelled)
    xy = xy.astype(np.float32).round(4)  # what is cached is what is returned, first time too
    if cache:
        with catalog.transaction():
            catalog.set_meta(key, json.dumps({"pks": pks.tolist(), "xy": xy.tolist()}))
            catalog.drop_meta(f"map:{space}:{method}:*", keep=key)  # the maps of earlier revisions
    return pks, xy


def _hdbscan(x: np.ndarray, min_cluster_size: int) -> np.ndarray:
    from sklearn.cluster import HDBSCAN

    return HDBSCAN(min_cluster_size=min_cluster_size, metric="euclidean", copy=True).fit_predict(x)


def _tsne(reduced: np.ndarray, seed: int) -> np.ndarray:
    """The t-SNE map; every product at one spot when their vectors are all alike: t-SNE's PCA start divides by
    their spread, and on a spread of zero scikit-learn crashes the whole process (a segmentation fault)."""
    from sklearn.manifold import TSNE

    if not np.ptp(reduced, axis=0).max(initial=0.0) > 1e-6:
        return np.zeros((len(reduced), 2), np.float32)
    return TSNE(n_components=2, perplexity=min(30.0, (len(reduced) - 1) / 3), init="pca", random_state=seed,
                metric="cosine").fit_transform(reduced)


def _tsne_cancellable(reduced: np.ndarray, seed: int, cancelled, poll_s: float = 0.2) -> np.ndarray:
    """``_tsne`` in a child process (:func:`_in_child`): scikit-learn's t-SNE cannot be stopped (a minute on
    12,000 products), a process can."""
    return _in_child("The map", "t-SNE map", _TSNE_CHILD, reduced, (str(seed),), cancelled, poll_s,
                     "Try the PCA map.")


def _in_child(what: str, name: str, code: str, array: np.ndarray, args: tuple[str, ...], cancelled,
              poll_s: float = 0.2, instead: str = "") -> np.ndarray:
    """``code`` run by a child Python process on ``array`` (its argv: in.npy, out.npy, ``args``), its result
    read back; Cancel ends the process. A plain subprocess rather than multiprocessing, whose spawned child
    would run the parent's main script again. Also for work that holds the interpreter lock for seconds
    (HDBSCAN's tree: the window froze 1.5 s on H&M), which a thread of the window cannot run beside it."""
    import os
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, (root, os.environ.get("PYTHONPATH")))))
    with tempfile.TemporaryDirectory(prefix="vitrina-child-") as tmp:
        src, out, err = (Path(tmp, n) for n in ("in.npy", "out.npy", "stderr.txt"))
        np.save(src, array)
        with err.open("wb") as errors:
            child = subprocess.Popen([sys.executable, "-c", code, str(src), str(out), *args],
                                     env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors)
            try:
                while True:
                    if cancelled():
                        raise Cancelled(f"{what} was cancelled.")
                    try:
                        status = child.wait(timeout=poll_s)
                        break
                    except subprocess.TimeoutExpired:
                        pass
            finally:
                if child.poll() is None:
                    child.kill()
                    child.wait()
        if status < 0:  # killed by a signal: what it wrote last (a warning's line of source) is not why
            import signal

            try:
                signame = signal.Signals(-status).name
            except ValueError:
                signame = f"signal {-status}"
            raise AppError(f"The {name} failed: its process died ({signame}), a crash in scikit-learn or too "
                           f"little memory. {instead}".rstrip())
        if status != 0:  # the child's warnings are off: its last line is its message, or its exception's
            last = (err.read_text(errors="replace").strip().splitlines() or [f"exit status {status}"])[-1]
            raise AppError(f"The {name} failed: {last}")
        return np.load(out)


_TSNE_CHILD = ("import sys, warnings, numpy as np; warnings.simplefilter('ignore'); from core.insights import _tsne; "
               "np.save(sys.argv[2], _tsne(np.load(sys.argv[1]), int(sys.argv[3])))")
_HDBSCAN_CHILD = ("import sys, warnings, numpy as np; warnings.simplefilter('ignore'); "
                  "from core.insights import _hdbscan; np.save(sys.argv[2], _hdbscan(np.load(sys.argv[1]), "
                  "int(sys.argv[3])))")
