"""Which words drove a text similarity: Integrated Gradients on the text encoder's token embeddings.

captum's LayerIntegratedGradients (Sundararajan et al. 2017) integrates the gradient of the
explained score along a straight path from a baseline (every word replaced by [PAD], [CLS] and
[SEP] kept) to the real token embeddings. The score is the cosine similarity between the
mean-pooled, normalised sentence embedding (as all-MiniLM-L6-v2 computes it) and a target vector:
the other side of the match. The convergence delta (score(input) - score(baseline) minus the sum
of attributions) says how well the path integral was approximated; it is reported, not hidden.

The encoder reads at most 256 word pieces, so a long description is attributed only up to there
(about 110 words), never half a word; ``extras["words_total"]`` and ``coverage_note`` say so.
Characters outside the tokenizer's vocabulary (emoji, many symbols) are [UNK] and carry no
attribution: a text of nothing else has no words at all, and ``coverage_note`` says that too.
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

    def readable_words(self, text: str, pieces: list[str] | None = None) -> list[str]:
        """The words of ``text`` the model reads (as the attributions name them), however long the text;
        ``pieces``: its word pieces, when the caller has them already."""
        if pieces is None:  # not encode(): a text over the limit makes that log a warning
            pieces = self.tokenizer.tokenize(text)
        special = set(self.tokenizer.all_special_tokens)
        return merge_wordpieces(pieces, np.zeros(len(pieces)), np.array([p in special for p in pieces], bool))[0]

    def _embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return F.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=-1)

    def explain(self, text: str, target: np.ndarray, what: str = "similarity to the match") -> Explanation:
        return self.explain_many([text], [target], [what])[0]

    def explain_many(self, texts: list[str], targets: list[np.ndarray], whats: list[str]) -> list[Explanation]:
        """Several texts, each against its own target, in one batched integrated-gradients pass."""
        from captum.attr import LayerIntegratedGradients

        enc = self.tokenizer(list(texts), return_tensors="pt", truncation=True, max_length=self.max_length,
                             padding=True)
        ids, mask = enc["input_ids"], enc["attention_mask"]
        special = torch.stack([torch.tensor(self.tokenizer.get_special_tokens_mask(row.tolist(),
                                                                                  already_has_special_tokens=True),
                                            dtype=torch.bool) for row in ids])
        special |= mask == 0
        baseline = torch.where(special, ids, torch.full_like(ids, self.tokenizer.pad_token_id))
        t = torch.as_tensor(np.stack([np.asarray(x, np.float32) for x in targets]))

        def score(input_ids, attention_mask, target):
            return (self._embed(input_ids, attention_mask) * target).sum(dim=-1)

        lig = LayerIntegratedGradients(score, self.bert.embeddings.word_embeddings)
        was_training = self.bert.training
        self.bert.eval()
        try:
            attr, delta = lig.attribute(ids, baselines=baseline, additional_forward_args=(mask, t),
                                        n_steps=self.steps, return_convergence_delta=True,
                                        internal_batch_size=self.steps * len(texts))
            with torch.no_grad():
                values = score(ids, mask, t).numpy()
        finally:
            self.bert.zero_grad(set_to_none=True)
            self.bert.train(was_training)
        per_token = attr.sum(dim=-1).detach().numpy()
        out = []
        for i, (text, what) in enumerate(zip(texts, whats)):
            n = int(mask[i].sum())
            tokens = self.tokenizer.convert_ids_to_tokens(ids[i][:n])
            words, vals = merge_wordpieces(tokens, per_token[i][:n], special[i][:n].numpy())
            pieces = self.tokenizer.tokenize(text)
            if len(pieces) > n - 2 and pieces[n - 2].startswith("##") and words:  # the cut split the last word
                words, vals = words[:-1], vals[:-1]
            total = _count_words(self.readable_words(text, pieces) if len(pieces) > n - 2 else words)
            unread = pieces[:n - 2].count(self.tokenizer.unk_token)  # in the part read: each one left out unsaid
            out.append(Explanation("integrated gradients", self.model_id, what, np.asarray(vals, np.float32),
                                   tokens=tuple(words), extras={"delta": float(delta[i]), "score": float(values[i]),
                                                                "words_total": total, "unread": unread}))
        return out


def coverage_note(words: Explanation) -> str:
    """What the word attributions of a text leave out, for a reader ("" when they cover all of it)."""
    if not len(words.tokens):
        return "no words the text model reads (emoji and other characters outside its vocabulary carry none)"
    shown = _count_words(words.tokens)  # words, not punctuation marks ("T-shirt's" was five "words")
    total = words.extras.get("words_total", shown)
    notes = []
    if total > shown:
        notes.append(f"cut after {shown} of {total} words: the text model reads no further")
    unread = words.extras.get("unread", 0)
    if unread:  # e.g. Chinese characters outside its vocabulary: three of four were dropped unsaid
        notes.append(f"{unread} {'character or word' if unread == 1 else 'characters or words'} outside the text "
                     "model's vocabulary left out")
    return "; ".join(notes)


def _count_words(tokens) -> int:
    """How many of ``tokens`` are words (a letter or a digit in them), not punctuation."""
    return sum(any(c.isalnum() for c in t) for t in tokens)


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
