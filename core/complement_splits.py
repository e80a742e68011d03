"""Which products and co-purchase pairs "goes with" learns from, fits its ranker on and is tested on:
a product split that keeps a design's variants (other colours, sizes) together, and the pairs inside it."""
from __future__ import annotations

from collections import Counter, defaultdict

from core.catalog import INTERNAL_ATTRIBUTES, Catalog
from core.splits import split_of

ALL_SPLITS = ("train", "val", "test")
EVALUATION_SPLITS = ("train", "val")  # what an evaluated model may learn from


def product_groups(catalog: Catalog, group_by: str | None) -> dict[int, str]:
    """pk -> what keeps products together in a split: their ``group_by`` value, else their own id."""
    groups = catalog.attribute_column(group_by) if group_by else {}
    return {pk: groups.get(pk, sku) for pk, sku in catalog.execute("SELECT pk, sku FROM products")}


DESIGN_WORDS = ("product_code", "design", "style", "model", "parent", "family", "group")
MAX_VARIANTS = 5.0  # products per design value, on average, at most: more is a brand or a kind, not a design
# the products one value groups, at most, as a share of those with the column: the test split holds a tenth of
# the designs, so a value over a tenth of the products is a kind (Topwear), which no split can hold as a design
# (H&M's product_code: 32 of 11,800 at most)
MAX_DESIGN_SHARE = 0.1
# a column without a design-like name is taken for one only where this many of its values are each shared:
# in a catalog of 3 products, any column with a repeated value (baseColour) passed for a design
MIN_SHARED_DESIGNS = 5


def variant_columns(catalog: Catalog) -> list[str]:
    """The attributes that could name a design its variants share: not a category field, and each
    value shared by a few products (at most ``MAX_VARIANTS`` on average, and none by more than
    ``MAX_DESIGN_SHARE`` of them unless by ``MAX_VARIANTS`` or fewer: a small catalog's designs), not one value
    per product."""
    categories = set(catalog.category_fields())
    return [key for key, count, distinct, largest in catalog.execute(
                "SELECT key, SUM(n), COUNT(*), MAX(n) FROM (SELECT key, COUNT(*) n FROM attributes GROUP BY key, value)"
                " GROUP BY key ORDER BY key")
            if key not in categories and key not in INTERNAL_ATTRIBUTES and 1 < count / distinct <= MAX_VARIANTS
            and (largest <= MAX_VARIANTS or largest <= MAX_DESIGN_SHARE * count)]


def design_column(catalog: Catalog, among: list[str] | None = None) -> str | None:
    """The attribute that names the design a product's variants (other colours, sizes) share, if the
    catalog has one, e.g. H&M's product_code: among ``variant_columns``, one that nearly every product
    has and whose value at least a tenth of the products share with another; a name like
    "product_code" or "style" first, then the most values (``among``: those columns, when the caller
    has them already).
    Learning "Goes with" keeps a design's variants in one split, so that its ranker learns what a new
    design's complements are, as the evaluation tests it, not a new colour of a known design's."""
    n, found = len(catalog), []
    for key in variant_columns(catalog) if among is None else among:
        counts = Counter(catalog.attribute_column(key).values())
        have = sum(counts.values())
        named = any(w in key.lower() for w in DESIGN_WORDS)
        shared = [c for c in counts.values() if c > 1]
        if have >= 0.9 * n and sum(shared) >= 0.1 * have and (named or len(shared) >= MIN_SHARED_DESIGNS):
            found.append((named, len(counts), key))
    return max(found)[2] if found else None


def product_split(catalog: Catalog, group_by: str | None, seed: int = 0) -> dict[int, str]:
    return {pk: split_of(group, seed) for pk, group in product_groups(catalog, group_by).items()}


def train_pairs(stored, row, split, splits=("train",), directed: bool = False) -> list[tuple[int, int]]:
    """Pairs between products of ``splits`` as rows, from the catalog's ``stored`` (a, b, weight) pairs, each
    pair once (a catalog may store both directions);
    ``directed``: as the catalog lists them, (product, its partner), a pair listed both ways twice."""
    def key(a, b):
        return (row[a], row[b]) if directed else (min(row[a], row[b]), max(row[a], row[b]))

    return sorted({key(a, b) for a, b, _ in stored
                   if a in row and b in row and split.get(a) in splits and split.get(b) in splits})


def held_out_queries(catalog: Catalog, split: dict[int, str], which: str, stored=None) -> dict[int, set[int]]:
    """The products of split ``which`` and their partners (in any split), from ``stored`` pairs or the catalog's."""
    rel: dict[int, set[int]] = defaultdict(set)
    for a, b, _ in catalog.copurchase_pairs() if stored is None else stored:
        for p, q in ((a, b), (b, a)):
            if split.get(p) == which:
                rel[p].add(q)
    return rel
