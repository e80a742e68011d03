"""Which words drove a text similarity: Integrated Gradients on the text encoder's token embeddings.

captum's LayerIntegratedGradients (Sundararajan et al. 2017) integrates the gradient of the
explained score along a straight path from a baseline (every word replaced by [PAD], [CLS] and
[SEP] kept) to the real token embeddings. The score is the cosine similarity between the
mean-pooled, normalised sentence embedding (as all-MiniLM-L6-v2 computes it) and a target vector:
the other side of the match. The convergence delta (score(input) - score(baseline) minus the sum
of attributions) says how well the path integral was approximated; it is reported, not hidden.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from explain.types import Explanation


class TokenAttributor:
    """Explains texts for one BERT-style sentence encoder (a sentence-transformers model)."""

    def __init__(self, sentence_model, model_id: str = "", steps: int = 32):
        first = sentence_model[0]
        self.bert, self.tokenizer = first.auto_model, sentence_model.tokenizer
        self.max_length = min(getattr(sentence_model, "max_seq_length", 256) or 256, 256)
        self.model_id, self.steps = model_id, steps

    def _embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return F.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=-1)

    def explain(self, text: str, target: np.ndarray, what: str = "similarity to the match") -> Explanation:
        from captum.attr import LayerIntegratedGradients

        enc = self.tokenizer(text, return_tensors="pt", truncation=True, max_length=self.max_length)
        ids, mask = enc["input_ids"], enc["attention_mask"]
        special = torch.tensor(self.tokenizer.get_special_tokens_mask(ids[0].tolist(), already_has_special_tokens=True),
                               dtype=torch.bool)
        baseline = torch.where(special, ids[0], torch.tensor(self.tokenizer.pad_token_id)).unsqueeze(0)
        t = torch.as_tensor(np.asarray(target, np.float32))

        def score(input_ids, attention_mask):
            return self._embed(input_ids, attention_mask) @ t

        lig = LayerIntegratedGradients(score, self.bert.embeddings.word_embeddings)
        was_training = self.bert.training
        self.bert.eval()
        try:
            attr, delta = lig.attribute(ids, baselines=baseline, additional_forward_args=(mask,),
                                        n_steps=self.steps, return_convergence_delta=True,
                                        internal_batch_size=self.steps)
            with torch.no_grad():
                value = float(score(ids, mask))
        finally:
            self.bert.zero_grad(set_to_none=True)
            self.bert.train(was_training)
        per_token = attr.sum(dim=-1)[0].detach().numpy()
        tokens = self.tokenizer.convert_ids_to_tokens(ids[0])
        words, values = merge_wordpieces(tokens, per_token, special.numpy())
        return Explanation("integrated gradients", self.model_id, what, np.asarray(values, np.float32),
                           tokens=tuple(words), extras={"delta": float(delta[0]), "score": value})


def merge_wordpieces(tokens: list[str], values: np.ndarray, special: np.ndarray) -> tuple[list[str], list[float]]:
    """Join '##' continuation pieces into words, summing their attributions; drop special tokens."""
    words: list[str] = []
    out: list[float] = []
    for tok, v, sp in zip(tokens, values, special):
        if sp:
            continue
        if tok.startswith("##") and words:
            words[-1] += tok[2:]
            out[-1] += float(v)
        else:
            words.append(tok)
            out.append(float(v))
    return words, out
