"""The one place that sets up the numeric runtime.

Import order and thread counts matter here: torch and faiss each bundle their own OpenMP,
so torch is imported first and both get the same thread count. torchvision (imported by timm
and grad-cam) needs two operator schemas that only its CUDA build registers; we define them so
that ``import torchvision`` works with the CPU torch (its C++ ops stay unusable; nothing here
needs them). Model hubs are switched off: every weight Vitrina uses ships in a package or a
local file.
"""
from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

DEFAULT_THREADS = 2
_configured: int | None = None

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def configure(threads: int | None = None) -> int:
    """Prepare torch, torchvision and faiss; idempotent. Returns the thread count in use."""
    global _configured
    n = int(threads or os.environ.get("VITRINA_THREADS") or DEFAULT_THREADS)
    if _configured == n:
        return n
    import torch

    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # only allowed before the first parallel op; harmless afterwards
        pass
    _patch_torchvision_ops(torch)
    import faiss

    faiss.omp_set_num_threads(n)
    _configured = n
    log.debug("runtime configured with %d threads", n)
    return n


def _patch_torchvision_ops(torch) -> None:
    if hasattr(torch.ops, "torchvision") and _has_op(torch, "nms"):
        return
    lib = torch.library.Library("torchvision", "DEF")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    # keep the library object alive, or the definitions are dropped
    _patch_torchvision_ops.lib = lib  # type: ignore[attr-defined]


def _has_op(torch, name: str) -> bool:
    try:
        getattr(torch.ops.torchvision, name)
        return True
    except (AttributeError, RuntimeError):
        return False
