"""Rebuilds resources/demo/ from the Fashion Product Images catalog (see resources/demo/README.md).

    python scripts/make_demo.py ../shared/data/fashion

Takes up to 12 products of each article type that has at least 20 products with a 224 px photo
(seeded), copies their photos and writes products.csv. Prices and ratings do not exist in the
source data: the demo gets deterministic synthetic ones (marked as such) so that the price and
rating filters can be tried.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import random
import shutil
from collections import defaultdict
from pathlib import Path

PER_TYPE, MIN_TYPE = 12, 20
BASE_PRICE = {"Watches": 120, "Handbags": 60, "Jackets": 80, "Formal Shoes": 70, "Sunglasses": 45, "Heels": 55}


def synthetic(sku: str, article: str) -> tuple[float, float]:
    h = int(hashlib.sha256(sku.encode()).hexdigest(), 16)
    price = BASE_PRICE.get(article, 30) * (0.6 + (h % 1000) / 1000)
    rating = 2.5 + ((h >> 12) % 26) / 10
    return round(price, 2), round(rating, 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("fashion", type=Path)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "resources" / "demo")
    args = ap.parse_args()
    rows = [r for r in csv.DictReader(open(args.fashion / "products.csv", encoding="utf-8")) if r["image224"]]
    by_type = defaultdict(list)
    for r in rows:
        by_type[r["articleType"]].append(r)
    rng = random.Random(7)
    chosen = []
    for article in sorted(by_type):
        if len(by_type[article]) >= MIN_TYPE:
            chosen += rng.sample(by_type[article], PER_TYPE)
    (args.out / "images").mkdir(parents=True, exist_ok=True)
    fields = ["id", "title", "brand", "price", "rating", "gender", "masterCategory", "subCategory",
              "articleType", "baseColour", "season", "usage", "image"]
    with open(args.out / "products.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in sorted(chosen, key=lambda r: int(r["id"])):
            shutil.copyfile(args.fashion / r["image224"], args.out / "images" / f"{r['id']}.jpg")
            price, rating = synthetic(r["id"], r["articleType"])
            w.writerow({**{k: r[k] for k in fields if k in r}, "brand": r["title"].split()[0],
                        "price": price, "rating": rating, "image": f"images/{r['id']}.jpg"})
    print(f"{len(chosen)} products, {len({r['articleType'] for r in chosen})} article types -> {args.out}")


if __name__ == "__main__":
    main()
