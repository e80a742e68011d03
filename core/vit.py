"""Vitrina's own vision transformer: a hybrid ViT that puts product photos into MiniLM's text space.

Architecture (Dosovitskiy et al. 2021, section 3.1 "Hybrid Architecture"): the patch tokens
are the cells of a pretrained CNN feature map at stride 16, so attention maps are 14 x 14 at
224 px: EfficientNet-Lite0 cut after its stride-16 stage (112 channels; v1), or, in the shipped
v2, that stage's output next to the last stage run dilated at stride 16 (112 + 320 channels,
``dilate_last_stage`` and ``mid_features``); a linear projection, a CLS token
and learned position embeddings feed a few pre-norm transformer blocks; the CLS output is
projected to 384-d, the space of the frozen all-MiniLM-L6-v2 text embeddings it is trained
against (CLIP-style symmetric InfoNCE, Radford et al. 2021; see ``core.train``).

The attention modules keep their last attention probabilities (and, when asked, their
gradients) so that ``explain`` can compute attention rollout and gradient-weighted attention.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from core.errors import EncoderError
from core.vit_files import SHIPPED_WEIGHTS, WEIGHTS_FILE, weights_path  # noqa: F401  (SHIPPED_WEIGHTS re-used)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VitConfig:
    backbone: str = "lite0"
    backbone_blocks: int = 11  # EfficientNet-Lite0 blocks 0..10 end at stride 16: 112 x 14 x 14
    in_channels: int = 112
    # Run the stride-32 stage at stride 16 with dilated convolutions (as DeepLab does), so that all
    # 16 pretrained blocks give 320 x 14 x 14 tokens: the last, most semantic features, still 14 x 14.
    dilate_last_stage: bool = False
    # With the dilated stage: also keep the stride-16 stage's output and concatenate both per token
    # (112 + 320 channels): mid-level detail (colour, texture) next to the last stage's semantics.
    mid_features: bool = False
    grid: int = 14
    dim: int = 192
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 2.0
    out_dim: int = 384
    image_size: int = 224
    text_model: str = "all-MiniLM-L6-v2"

    @property
    def tokens(self) -> int:
        return self.grid * self.grid


class Attention(nn.Module):
    """Multi-head self-attention that can keep its probabilities and their gradient for explanations."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.keep = False
        self.probs: torch.Tensor | None = None  # (B, heads, T, T) of the last forward when keep
        self.grad: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if not self.keep:
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            probs = (q @ k.transpose(-2, -1) * self.scale).softmax(dim=-1)
            self.probs = probs
            if probs.requires_grad:
                probs.register_hook(self._save_grad)
            out = probs @ v
        return self.proj(out.transpose(1, 2).reshape(b, t, d))

    def _save_grad(self, grad: torch.Tensor) -> None:
        self.grad = grad


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class HybridViT(nn.Module):
    """The trainable part: CNN feature map (B, C, H, W) -> unit vector in the text space."""

    def __init__(self, cfg: VitConfig):
        super().__init__()
        self.cfg = cfg
        self.patch = nn.Linear(cfg.in_channels, cfg.dim)
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.pos = nn.Parameter(torch.randn(1, cfg.tokens + 1, cfg.dim) * 0.02)
        self.blocks = nn.ModuleList(Block(cfg.dim, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, cfg.out_dim)
        self.logit_scale = nn.Parameter(torch.tensor(2.659))  # log(1 / 0.07), as CLIP

    def tokens(self, fmap: torch.Tensor, keep_idx: torch.Tensor | None = None) -> torch.Tensor:
        """Token sequence after the last block (B, 1 + N, dim). ``keep_idx`` drops patches (training)."""
        x = self.patch(fmap.flatten(2).transpose(1, 2)) + self.pos[:, 1:]
        if keep_idx is not None:
            x = torch.gather(x, 1, keep_idx.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1) + self.pos[:, :1], x], dim=1)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def forward(self, fmap: torch.Tensor, keep_idx: torch.Tensor | None = None) -> torch.Tensor:
        return F.normalize(self.head(self.tokens(fmap, keep_idx)[:, 0]), dim=-1)

    def patch_embeddings(self, fmap: torch.Tensor) -> torch.Tensor:
        """Every patch token projected into the output space, unit length (B, N, out_dim): for match maps."""
        return F.normalize(self.head(self.tokens(fmap)[:, 1:]), dim=-1)

    def keep_attention(self, on: bool = True) -> None:
        for block in self.blocks:
            block.attn.keep = on
            if not on:
                block.attn.probs = block.attn.grad = None


class Backbone(nn.Module):
    """The frozen pretrained CNN cut at stride 16: images -> (B, in_channels, 14, 14).

    Either the blocks up to the stride-16 stage (112 channels for Lite0), or every block with the
    stride-32 stage dilated instead of strided (320 channels), see ``VitConfig.dilate_last_stage``.
    """

    def __init__(self, cfg: VitConfig):
        super().__init__()
        from core.encoders import load_efficientnet_lite

        self.cfg = cfg
        net = load_efficientnet_lite(cfg.backbone)
        self.stem = nn.Sequential(net._conv_stem, net._bn0, net._swish)
        self.blocks = nn.ModuleList(net._blocks[: cfg.backbone_blocks])
        self.mid = None
        if cfg.dilate_last_stage:
            first = _dilate_stride32(self.blocks)
            self.mid = first - 1 if cfg.mid_features else None
        self.eval().requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        mid = None
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i == self.mid:
                mid = x
        return x if mid is None else torch.cat([mid, x], dim=1)


def _dilate_stride32(blocks: nn.ModuleList) -> int:
    """Turn the first stride-2 block after stride 16 into stride 1 and dilate the ones after it by 2.
    Returns that block's index."""
    stride, dilation, first = 2, 1, -1  # the stem already halves the image
    for i, block in enumerate(blocks):
        conv = block._depthwise_conv
        k = conv.kernel_size[0]
        if dilation > 1:
            conv.dilation = (dilation, dilation)
            _same_padding(conv, dilation * (k - 1) // 2)
        elif conv.stride[0] == 2:
            if stride == 16:  # this block would go to stride 32
                conv.stride = (1, 1)
                _same_padding(conv, (k - 1) // 2)
                dilation, first = 2, i
                continue
            stride *= 2
    if dilation == 1:
        raise ValueError("no stride-32 block to dilate")
    return first


def _same_padding(conv: nn.Conv2d, pad: int) -> None:
    """Zero padding of ``pad`` on every side, done by the convolution itself (see ``fold_same_padding``)."""
    conv.padding = (pad, pad)
    conv.static_padding = nn.Identity()


def weights_digest(model: HybridViT) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()[:10]


def save_vit(model: HybridViT, folder: str | Path, info: dict | None = None) -> Path:
    """Weights as safetensors (no pickle) with the config and ``info`` in its metadata; atomic."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (WEIGHTS_FILE + ".tmp")
    meta = {"config": json.dumps(asdict(model.cfg)), "info": json.dumps(info or {}),
            "digest": weights_digest(model)}
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(tmp), metadata=meta)
    tmp.replace(folder / WEIGHTS_FILE)
    return folder / WEIGHTS_FILE


def load_vit(path: str | Path) -> tuple[HybridViT, dict]:
    """(model in eval mode, info dict). ``path`` is the weights file or its folder."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    path = weights_path(path)
    if not path.is_file():
        raise EncoderError(f"No vision transformer weights at {path}. Train them with `vitrina train-vit`.")
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        cfg = VitConfig(**json.loads(meta["config"]))
        model = HybridViT(cfg)
        model.load_state_dict(load_file(str(path)))
    except (KeyError, ValueError, RuntimeError, OSError, SafetensorError) as exc:
        raise EncoderError(f"{path} is not a usable Vitrina ViT weights file ({exc}).") from exc
    info = json.loads(meta.get("info", "{}"))
    info["digest"] = meta.get("digest") or weights_digest(model)
    return model.eval(), info


class VitEncoder:
    """The Encoder protocol over backbone + hybrid ViT (images) and MiniLM (texts): one joint space."""

    modalities = frozenset({"image", "text"})

    def __init__(self, weights: str | Path = SHIPPED_WEIGHTS, text_encoder=None, batch_size: int = 32,
                 bf16: bool | None = None):
        from core import runtime
        from core.encoders import _cpu_has_bf16, minilm

        runtime.configure()
        self.model, self.info = load_vit(weights)
        self.cfg = self.model.cfg
        self.backbone = Backbone(self.cfg)
        self.backbone.to(memory_format=torch.channels_last)
        self.text_encoder = text_encoder or minilm()
        self.model_id = f"vitrina-vit-{self.info['digest']}"
        self.dim = self.cfg.out_dim
        self.batch_size = batch_size
        self.bf16 = _cpu_has_bf16() if bf16 is None else bf16

    def preprocess(self, images) -> torch.Tensor:
        from core.encoders import images_to_tensor

        return images_to_tensor(images, self.cfg.image_size).contiguous(memory_format=torch.channels_last)

    def feature_maps(self, batch: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            return self.backbone(batch).float()

    def encode_feature_maps(self, fmap: torch.Tensor):
        """Unit embeddings of feature maps already computed by ``feature_maps``."""
        from core.encoders import l2_normalise

        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            return l2_normalise(self.model(fmap).float().numpy())

    def encode_images(self, images):
        import numpy as np

        out = [self.encode_feature_maps(self.feature_maps(self.preprocess(images[i:i + self.batch_size])))
               for i in range(0, len(images), self.batch_size)]
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)

    def encode_texts(self, texts):
        return self.text_encoder.encode_texts(texts)

