"""The product-level train/validation/test split shared by training and evaluation."""
from __future__ import annotations

import hashlib


def split_of(group: str, seed: int = 0, val: int = 10, test: int = 10) -> str:
    """'train', 'val' or 'test' from a hash of the group (a product id, or e.g. an H&M product_code,
    so that colour variants of one design never straddle two splits). Stable across runs and machines."""
    bucket = int(hashlib.sha256(f"{seed}:{group}".encode()).hexdigest(), 16) % 100
    return "test" if bucket < test else "val" if bucket < test + val else "train"


def fold_of(group: str, folds: int, seed: int = 0) -> int:
    """0 .. folds - 1 from another hash of the group (independent of ``split_of``'s): the folds a
    cross-fitting divides the training products into, a group's products in one fold."""
    return int(hashlib.sha256(f"fold{seed}:{group}".encode()).hexdigest(), 16) % folds
