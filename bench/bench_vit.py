"""Image encoding speed of the full ViT model (decode, preprocess, backbone, transformer) on 2 cores.

    python bench/bench_vit.py ../shared/data/fashion/images224 --n 512 --json out/bench-vit.json
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import peak_rss_mb, write_json

from core.images import load_image
from core.vit import VitEncoder
from core.vit_files import SHIPPED_WEIGHTS


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("images", type=Path)
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--weights", type=Path, default=SHIPPED_WEIGHTS)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    files = sorted(args.images.glob("*.jpg"))[: args.n]
    enc = VitEncoder(args.weights)
    enc.encode_images([load_image(files[0]).image] * 4)  # warm-up
    figures = {}
    for batch in (16, 32, 64):
        enc.batch_size = batch
        t = time.perf_counter()
        images = [load_image(f).image for f in files]
        enc.encode_images(images)
        dt = time.perf_counter() - t
        figures[f"batch_{batch}_images_per_s"] = round(len(files) / dt, 1)
    write_json(args.json, {"benchmark": "vit-encode", "model": enc.model_id, "images": len(files),
                           **figures, "peak_rss_mb": round(peak_rss_mb())})


if __name__ == "__main__":
    main()
