#!/usr/bin/env bash
# Reproduces resources/models/vit/vit.safetensors from the shared catalogs:
#   bash scripts/train_vit.sh ../shared/data [WORK_DIR]
# Imports the fashion 224 px subset and the H&M sample into WORK_DIR (default out/vit-data), then
# trains the hybrid ViT (tokens from the dilated last stage and the stride-16 stage, group pairs and
# the image-to-image term on H&M designs, the category term, 8 epochs, seed 0) and writes the run
# summary next to the weights.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${1:?usage: scripts/train_vit.sh PATH/TO/shared/data [WORK_DIR]}"
WORK="${2:-out/vit-data}"
bash scripts/setup.sh
V=.venv/bin/vitrina
mkdir -p "$WORK"
$V import "$WORK/fashion224.vitrina" "$DATA/fashion/products.csv" --image image224 --require-image \
  --category articleType --category baseColour --category gender --category masterCategory --category subCategory
$V import "$WORK/hm.vitrina" "$DATA/hm/articles.csv" --id article_id --title prod_name --description detail_desc \
  --image image --category product_type_name --category product_group_name --category colour_group_name \
  --category garment_group_name --pairs "$DATA/hm/copurchase.csv"
$V train-vit resources/models/vit --catalog "$WORK/fashion224.vitrina" --catalog "$WORK/hm.vitrina:product_code" \
  --work "$WORK/vit-work" --epochs 8 --seed 0 --dilate --mid-features --group-pairs --image-loss 0.5 \
  --category-loss 0.25 --summary resources/models/vit/training.json
