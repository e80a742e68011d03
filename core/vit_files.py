"""Where the ViT weights live and what they are, readable without importing torch.

A weights file is safetensors: an 8-byte little-endian header length, a JSON header whose
``__metadata__`` holds the config, the training summary and a digest of the weights.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

WEIGHTS_FILE = "vit.safetensors"
SHIPPED_WEIGHTS = Path(__file__).resolve().parents[1] / "resources" / "models" / "vit" / WEIGHTS_FILE


def weights_path(path: str | Path) -> Path:
    path = Path(path)
    return path / WEIGHTS_FILE if path.is_dir() else path


def read_metadata(path: str | Path) -> dict[str, str] | None:
    """The ``__metadata__`` of a safetensors file, or None if it is missing or not safetensors."""
    try:
        with open(weights_path(path), "rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            if size > 10_000_000:
                return None
            return json.loads(f.read(size)).get("__metadata__") or {}
    except (OSError, struct.error, ValueError):
        return None


def vit_model_id(path: str | Path = SHIPPED_WEIGHTS) -> str | None:
    meta = read_metadata(path)
    return f"vitrina-vit-{meta['digest']}" if meta and meta.get("digest") else None
