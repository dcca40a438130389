"""CMPT: robust multimodal learning via cross-modal proxy tokens (Reza, Patil, Solh, Asif 2025).

Each modality keeps its pretrained transformer frozen and gains three small things:

* one learnable **proxy token** placed before the class token (Eq. 2);
* rank-1 **LoRA** adapters (peft) on the query, key, value and output projections of every
  attention block (Sec. 3.5, Table 5), the only encoder weights that learn (Eq. 3);
* an **alignment loss**: the proxy token of modality 1 is pulled (MSE) towards the class token of
  modality 2 and vice versa, on complete samples only (Eq. 4).

A **gate** keeps both class tokens when both modalities are present and puts the available
modality's proxy token in place of the missing class token otherwise; the two chosen tokens are
summed (Eq. 5) and a linear head predicts (Eq. 6). The loss is ``task + lambda * align`` (Eq. 7).
When the training data are complete, one modality is dropped at random (Sec. 3.5).

Encoders are real library models wrapped by :class:`TextTokens`, :class:`ImageTokens` and
:class:`AudioTokens`: a Hugging Face BERT-family text model, an open_clip ``VisionTransformer`` for
images and video frames and a Hugging Face AST for audio. Which ones each profile builds (quick:
the pretrained all-MiniLM-L6-v2 and small random-init towers; paper: bert-base-uncased, CLIP
ViT-B/16, AST fine-tuned on AudioSet) is :mod:`rmm_lib.recipes.cmpt`.

Choices where the paper is silent (each a parameter):

* where the proxy token enters: where the class token enters. In BERT it is a learned vector in the
  word-embedding space and shares position 0 with ``[CLS]`` (real tokens keep their pretrained
  positions); in the ViT it joins after the positional embeddings, before ``ln_pre``; in AST it
  joins after the embeddings (which hold AST's two class tokens).
* AST's class token is the mean of its ``cls`` and ``distillation`` outputs, as AST's own pooler.
* video ``(B, F, 3, H, W)``: each frame is encoded with the proxy token; class and proxy tokens are
  averaged over frames.
* modality dropout (``modality_dropout``): probabilities of keeping both / dropping each modality,
  drawn per iteration (``dropout_unit="batch"``, the paper's wording) or per sample.
* the alignment target (the other class token) is not detached (``detach_target``).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..hooks import TrainingHooks
from ..losses import task_loss

#: LoRA targets (peft ``target_modules``) per encoder family: Sec. 3.5 / Table 5.
LORA_TARGETS = {
    "bert": ["query", "key", "value", "attention.output.dense"],
    # nn.MultiheadAttention: peft adapts its fused in_proj (q, k, v share one adapter) and out_proj.
    "open_clip": r".*resblocks\.\d+\.attn",
    # the same towers after :func:`split_attention`: one adapter per projection, as Sec. 3.5 says.
    "open_clip_split": r".*resblocks\.\d+\.attn\.(q_proj|k_proj|v_proj|out_proj)",
    "ast": ["q_proj", "k_proj", "v_proj", "o_proj"],
}
#: Table 5 LoRA settings.
LORA_RANK, LORA_ALPHA, LORA_DROPOUT = 1, 1, 0.1
#: Eq. 7 weight of the alignment loss (Sec. 3.4: 0.20 in all experiments).
LAMBDA_ALIGN = 0.2


def add_lora(model: nn.Module, family: str, r: int = LORA_RANK, alpha: float = LORA_ALPHA,
             dropout: float = LORA_DROPOUT) -> nn.Module:
    """Insert peft LoRA adapters into ``model`` in place and freeze everything else."""
    from peft import LoraConfig, inject_adapter_in_model

    if family not in LORA_TARGETS:
        raise ValueError(f"Unknown encoder family {family!r}; known: {sorted(LORA_TARGETS)}.")
    if r < 1 or alpha <= 0 or not 0 <= dropout < 1:
        raise ValueError(f"LoRA needs rank >= 1, alpha > 0 and dropout in [0, 1); got r={r}, alpha={alpha}, "
                         f"dropout={dropout}.")
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=LORA_TARGETS[family])
    model = inject_adapter_in_model(config, model)
    for name, p in model.named_parameters():
        p.requires_grad_("lora_" in name)
    return model


class SplitAttention(nn.Module):
    """``nn.MultiheadAttention`` (batch first, no dropout) with its fused ``in_proj`` held as three
    separate ``q_proj``, ``k_proj``, ``v_proj`` linears and ``out_proj``: the same function, so that
    LoRA can adapt q, k, v and o separately (Sec. 3.5) in open_clip's towers, whose blocks call
    ``attn(q, k, v, need_weights=False, attn_mask=...)``."""

    def __init__(self, mha: nn.MultiheadAttention):
        super().__init__()
        if not getattr(mha, "batch_first", False) or mha.in_proj_weight is None:
            raise ValueError("SplitAttention takes a batch-first nn.MultiheadAttention with a fused in_proj.")
        d, self.heads = mha.embed_dim, mha.num_heads
        weights = mha.in_proj_weight.detach().chunk(3)
        biases = mha.in_proj_bias.detach().chunk(3) if mha.in_proj_bias is not None else (None,) * 3
        for name, w, b in zip(("q_proj", "k_proj", "v_proj"), weights, biases):
            layer = nn.Linear(d, d, bias=b is not None)
            layer.weight.data.copy_(w)
            if b is not None:
                layer.bias.data.copy_(b)
            setattr(self, name, layer)
        self.out_proj = nn.Linear(d, d, bias=mha.out_proj.bias is not None)
        self.out_proj.load_state_dict(mha.out_proj.state_dict())

    def forward(self, q, k, v, need_weights: bool = False, attn_mask=None):
        b, n, d = q.shape
        heads = lambda x: x.reshape(b, -1, self.heads, d // self.heads).transpose(1, 2)  # noqa: E731
        out = nn.functional.scaled_dot_product_attention(heads(self.q_proj(q)), heads(self.k_proj(k)),
                                                         heads(self.v_proj(v)), attn_mask=attn_mask)
        return self.out_proj(out.transpose(1, 2).reshape(b, n, d)), None


def split_attention(visual: nn.Module) -> nn.Module:
    """Replace every ``nn.MultiheadAttention`` of an open_clip tower by :class:`SplitAttention`
    (in place; same outputs), for ``add_lora(visual, "open_clip_split")``."""
    for block in visual.transformer.resblocks:
        if isinstance(block.attn, nn.MultiheadAttention):
            block.attn = SplitAttention(block.attn)
    return visual


# ----------------------------------------------------------------------------- token encoders
class TextTokens(nn.Module):
    """A Hugging Face BERT-family model over raw strings with a proxy token prepended.

    ``forward(strings, proxy)`` returns ``{"cls", "proxy", "tokens", "mask"}`` (and
    ``"attentions"`` when asked): the final proxy (index 0) and class token (index 1).

    ``proxy_position`` (the paper is silent): ``"cls"`` -- the proxy shares [CLS]'s position id 0,
    every real token keeps its pretrained position -- or ``"own"``: the proxy is read as a token of
    its own in front of [CLS] (position ids 0, 1, 2, ... for proxy, [CLS], words).
    ``pooling``: the sentence representation fused as the "class token": ``"cls"`` (the [CLS]
    output, as BERT) or ``"mean"`` (the mean of the real tokens' outputs, proxy excluded: how
    sentence-transformers' all-MiniLM-L6-v2 was trained to be read)."""

    family = "bert"
    POSITIONS, POOLINGS = ("cls", "own"), ("cls", "mean")

    def __init__(self, model: nn.Module, tokenizer, max_length: int = 40, proxy_position: str = "cls",
                 pooling: str = "cls"):
        super().__init__()
        if proxy_position not in self.POSITIONS or pooling not in self.POOLINGS:
            raise ValueError(f"proxy_position must be one of {self.POSITIONS} and pooling one of {self.POOLINGS}; "
                             f"got {proxy_position!r}, {pooling!r}.")
        self.model, self.tokenizer, self.max_length = model, tokenizer, max_length
        self.proxy_position, self.pooling = proxy_position, pooling
        self.dim = int(model.config.hidden_size)

    def forward(self, strings: Sequence[str], proxy: torch.Tensor, output_attentions: bool = False) -> dict:
        if isinstance(strings, torch.Tensor):
            raise ValueError("TextTokens tokenizes raw text: pass Batch.strings['text'], not token ids.")
        device = proxy.device
        enc = self.tokenizer(list(strings), padding=True, truncation=True, max_length=self.max_length,
                             return_tensors="pt")
        ids, mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
        words = self.model.get_input_embeddings()(ids)  # (B, L, d), [CLS] first
        b, length = ids.shape
        x = torch.cat([proxy.to(words.dtype).expand(b, 1, -1), words], dim=1)  # Eq. 2
        mask = torch.cat([mask.new_ones(b, 1), mask], dim=1)
        if self.proxy_position == "cls":  # the proxy shares position 0 with [CLS]
            positions = torch.cat([torch.zeros(1, dtype=torch.long), torch.arange(length)])
        else:  # a token of its own in front of [CLS]
            positions = torch.arange(length + 1)
        out = self.model(inputs_embeds=x, attention_mask=mask, position_ids=positions.to(device).unsqueeze(0),
                         output_attentions=output_attentions)
        h = out.last_hidden_state
        if self.pooling == "cls":
            cls = h[:, 1]
        else:
            real = mask[:, 1:, None].to(h.dtype)
            cls = (h[:, 1:] * real).sum(1) / real.sum(1).clamp_min(1)
        result = {"proxy": h[:, 0], "cls": cls, "tokens": h, "mask": mask}
        if output_attentions:
            result["attentions"] = out.attentions
            result["words"] = [self.tokenizer.convert_ids_to_tokens(row[: int(m.sum())]) for row, m in
                               zip(ids.cpu(), enc["attention_mask"])]
        return result


class ImageTokens(nn.Module):
    """An open_clip ``VisionTransformer`` with a proxy token before its class token.

    Accepts images ``(B, C, H, W)`` (one channel is repeated to RGB) or frame stacks
    ``(B, F, 3, H, W)`` (tokens averaged over frames).

    ``proxy_read``: where the proxy's output is read (the paper is silent): ``"final_norm"`` (after
    the tower's final LayerNorm ``ln_post``, like the class token) or ``"before_norm"`` (the last
    block's output, free of the frozen norm's scale and shift; the class token is still read after
    ``ln_post``, the representation the gate fuses). ``isolate_proxy`` (a diagnostic, off): the proxy
    attends to itself only, so its output cannot depend on the image -- a broken proxy for the
    positive controls."""

    family = "open_clip"
    READS = ("final_norm", "before_norm")

    def __init__(self, visual: nn.Module, proxy_read: str = "final_norm"):
        super().__init__()
        if proxy_read not in self.READS:
            raise ValueError(f"proxy_read must be one of {self.READS}, got {proxy_read!r}.")
        visual.proj = None  # CMPT fuses the width-d class token, not CLIP's projected embedding
        self.visual, self.proxy_read = visual, proxy_read
        self.dim = int(visual.class_embedding.shape[-1])
        self.isolate_proxy = False

    def forward(self, images: torch.Tensor, proxy: torch.Tensor, output_attentions: bool = False) -> dict:
        frames = images.dim() == 5
        if frames:
            b, f = images.shape[:2]
            images = images.flatten(0, 1)
        if images.dim() != 4:
            raise ValueError(f"ImageTokens expects (B, C, H, W) or (B, F, 3, H, W), got {tuple(images.shape)}.")
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        v = self.visual
        x = v.conv1(images.to(v.class_embedding.dtype)).flatten(2).transpose(1, 2)  # (B, N, d) patch tokens
        cls = v.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + v.positional_embedding.to(x.dtype)  # Eq. 1
        x = torch.cat([proxy.to(x.dtype).expand(x.shape[0], 1, -1), x], dim=1)  # Eq. 2
        mask = None
        if self.isolate_proxy:
            mask = torch.zeros(x.shape[1], x.shape[1], dtype=x.dtype, device=x.device)
            mask[0, 1:] = float("-inf")
        hidden = v.transformer(v.ln_pre(v.patch_dropout(x)), attn_mask=mask)
        x = v.ln_post(hidden)  # Eq. 3
        proxy_out = x[:, 0] if self.proxy_read == "final_norm" else hidden[:, 0]
        result = {"proxy": proxy_out, "cls": x[:, 1], "tokens": x}
        if frames:
            result = {"proxy": proxy_out.reshape(b, f, -1).mean(1), "cls": x[:, 1].reshape(b, f, -1).mean(1),
                      "tokens": x.reshape(b, f, *x.shape[1:])}
        return result


class AudioTokens(nn.Module):
    """A Hugging Face AST over spectrograms ``(B, T, mel)`` with a proxy token prepended. AST's
    class token is the mean of its two class-like outputs (``cls``, ``distillation``)."""

    family = "ast"

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.dim = int(model.config.hidden_size)

    def forward(self, spectrogram: torch.Tensor, proxy: torch.Tensor, output_attentions: bool = False) -> dict:
        cfg = self.model.config
        if spectrogram.dim() != 3 or tuple(spectrogram.shape[1:]) != (cfg.max_length, cfg.num_mel_bins):
            raise ValueError(f"AudioTokens expects (B, {cfg.max_length}, {cfg.num_mel_bins}) spectrograms, "
                             f"got {tuple(spectrogram.shape)}.")
        x = self.model.embeddings(spectrogram)  # [cls, distillation, patches] + positions
        x = torch.cat([proxy.to(x.dtype).expand(x.shape[0], 1, -1), x], dim=1)
        for layer in self.model.layers:
            x = layer(x, None)
        x = self.model.layernorm(x)
        return {"proxy": x[:, 0], "cls": (x[:, 1] + x[:, 2]) / 2, "tokens": x}


# ----------------------------------------------------------------------------- gate and losses
def gate_and_fuse(cls: dict, proxy: dict, present: torch.Tensor, modalities: Sequence[str]) -> torch.Tensor:
    """Eq. 5: ``cls_1 + cls_2`` when both are present; ``cls_2 + proxy_2`` when modality 1 is
    missing; ``cls_1 + proxy_1`` when modality 2 is missing. ``present`` is boolean ``(B, 2)``."""
    m1, m2 = modalities
    if present.dim() != 2 or present.shape[1] != 2:
        raise ValueError(f"present must be (B, 2) for two modalities, got {tuple(present.shape)}.")
    if not present.any(1).all():
        raise ValueError("A sample has neither modality; CMPT needs at least one present per sample.")
    p1, p2 = present[:, :1], present[:, 1:]
    slot1 = torch.where(p1, cls[m1], proxy[m2])  # the proxy of m2 approximates cls of m1
    slot2 = torch.where(p2, cls[m2], proxy[m1])
    return slot1 + slot2


def alignment_loss(cls: dict, proxy: dict, present: torch.Tensor, modalities: Sequence[str],
                   detach_target: bool = False) -> torch.Tensor:
    """Eq. 4: mean over complete samples of ``MSE(proxy_1, cls_2) + MSE(proxy_2, cls_1)``; zero
    (still differentiable) when the batch has no complete sample."""
    m1, m2 = modalities
    complete = present.all(1)
    target1, target2 = cls[m2], cls[m1]
    if detach_target:
        target1, target2 = target1.detach(), target2.detach()
    per_sample = ((proxy[m1] - target1) ** 2).mean(1) + ((proxy[m2] - target2) ** 2).mean(1)
    if not complete.any():
        return per_sample.sum() * 0.0
    return per_sample[complete].mean()


UNIFORM_DROPOUT = (1 / 3, 1 / 3, 1 / 3)


# ----------------------------------------------------------------------------- the model
class CMPTModel(TrainingHooks, nn.Module):
    """Two token encoders, one proxy token each, the gate of Eq. 5 and a linear head (Eq. 6).

    Parameters
    ----------
    encoders: ``{modality: TextTokens | ImageTokens | AudioTokens}`` in the dataset's order.
    out_dim: number of classes (or labels for ``task="multilabel"``).
    lam: lambda of Eq. 7.
    use_proxy: ``False`` gives the ablation baselines of Sec. 4.6.1: no proxy token, no alignment,
        the two class tokens summed (an absent modality's encoder sees its placeholder).
    modality_dropout: ``None`` or probabilities ``(keep both, drop modality 1, drop modality 2)``
        applied to complete samples in training (Sec. 3.5).
    dropout_unit: ``"batch"`` (one draw per iteration) or ``"sample"``.
    """

    def __init__(self, encoders: dict, out_dim: int, task: str = "classification", lam: float = LAMBDA_ALIGN,
                 use_proxy: bool = True, modality_dropout: Sequence[float] | None = None,
                 dropout_unit: str = "batch", detach_target: bool = False):
        super().__init__()
        if len(encoders) != 2:
            raise ValueError(f"CMPT is defined for two modalities (Sec. 3.1); got {list(encoders)}. "
                             "Use dataset.select_modalities([...]) to pick two.")
        dims = {m: e.dim for m, e in encoders.items()}
        if len(set(dims.values())) != 1:
            raise ValueError(f"Additive fusion (Eq. 5) needs equal token widths; got {dims}.")
        if lam < 0:
            raise ValueError(f"lambda (Eq. 7) must be >= 0, got {lam}.")
        if task not in ("classification", "multilabel"):
            raise ValueError(f"CMPT supports classification and multilabel tasks, got {task!r}.")
        if modality_dropout is not None:
            probs = torch.as_tensor(modality_dropout, dtype=torch.float)
            if probs.shape != (3,) or (probs < 0).any() or abs(float(probs.sum()) - 1) > 1e-6:
                raise ValueError("modality_dropout must be three probabilities (keep both, drop modality 1, "
                                 f"drop modality 2) summing to 1, got {modality_dropout}.")
            self.register_buffer("dropout_probs", probs, persistent=False)
        else:
            self.dropout_probs = None
        if dropout_unit not in ("batch", "sample"):
            raise ValueError(f"dropout_unit must be 'batch' or 'sample', got {dropout_unit!r}.")
        self.modalities = tuple(encoders)
        self.encoders = nn.ModuleDict(encoders)
        self.dim = next(iter(dims.values()))
        # Proxy tokens start like ViT class tokens: small random values (std 0.02).
        self.proxy_tokens = nn.ParameterDict({m: nn.Parameter(torch.randn(self.dim) * 0.02) for m in encoders})
        if not use_proxy:
            self.proxy_tokens.requires_grad_(False)
        self.head = nn.Linear(self.dim, out_dim)
        self.task, self.lam, self.use_proxy = task, lam, use_proxy
        self.dropout_unit, self.detach_target = dropout_unit, detach_target
        #: Diagnostic ablation: True replaces the final proxy tokens by zeros before the gate (the
        #: placeholder a model without proxies would see), to measure what the proxies carry.
        self.zero_proxy = False

    def _check(self, batch) -> None:
        if tuple(batch.modalities) != self.modalities:
            raise ValueError(f"The model was built for {self.modalities}, the batch has {batch.modalities}.")

    def encode(self, batch, output_attentions: bool = False) -> dict:
        """Final class and proxy tokens per modality. With proxies, a modality absent from the whole
        batch is not encoded (the gate never reads it)."""
        cls, proxy, extras = {}, {}, {}
        for j, m in enumerate(self.modalities):
            if self.use_proxy and not output_attentions and not batch.present[:, j].any():
                continue
            x = batch.strings[m] if m == "text" else batch.inputs[m]
            if m == "text" and m not in batch.strings:
                raise ValueError("The text encoder needs raw strings in Batch.strings['text'].")
            out = self.encoders[m](x, self.proxy_tokens[m], output_attentions=output_attentions)
            cls[m], proxy[m], extras[m] = out["cls"], out["proxy"], out
        for m in self.modalities:  # filled only for skipped modalities, never read by the gate
            other = next(k for k in cls if k != m) if m not in cls else None
            if other is not None:
                cls[m] = proxy[m] = torch.zeros_like(cls[other])
        return {"cls": cls, "proxy": proxy, "outputs": extras}

    def forward(self, batch, output_attentions: bool = False) -> dict:
        self._check(batch)
        enc = self.encode(batch, output_attentions)
        if self.zero_proxy:
            enc["proxy"] = {m: torch.zeros_like(v) for m, v in enc["proxy"].items()}
        if self.use_proxy:
            fused = gate_and_fuse(enc["cls"], enc["proxy"], batch.present, self.modalities)
        else:
            fused = enc["cls"][self.modalities[0]] + enc["cls"][self.modalities[1]]
        out = {"logits": self.head(fused), "features": {"fused": fused, **enc["cls"]},
               "cls": enc["cls"], "proxy": enc["proxy"]}
        if output_attentions:
            out["outputs"] = enc["outputs"]
        return out

    def drop(self, batch, generator: torch.Generator | None = None):
        """Sec. 3.5: keep both or drop one modality of each complete sample (placeholders written)."""
        if self.dropout_probs is None:
            return batch
        n = len(batch)
        draws = 1 if self.dropout_unit == "batch" else n
        choice = torch.multinomial(self.dropout_probs.cpu(), draws, replacement=True, generator=generator)
        choice = choice.expand(n) if draws == 1 else choice
        choice = choice.to(batch.present.device)
        present = batch.present.clone()
        complete = present.all(1)
        present[complete & (choice == 1), 0] = False
        present[complete & (choice == 2), 1] = False
        return batch.with_presence(present)

    def training_step(self, batch, step: int = 0) -> dict:
        """Eq. 7: task loss + lambda * alignment loss (after modality dropout)."""
        self._check(batch)
        batch = self.drop(batch)
        out = self(batch)
        task = task_loss(self.task, out["logits"], batch)
        if not self.use_proxy or self.lam == 0:
            return {"loss": task, "task": task.detach()}
        align = alignment_loss(out["cls"], out["proxy"], batch.present, self.modalities, self.detach_target)
        return {"loss": task + self.lam * align, "task": task.detach(), "align": align.detach()}


# ----------------------------------------------------------------------------- accounting
def parameter_report(model: CMPTModel) -> dict:
    """``{component: {"total", "learnable"}}`` for each frozen backbone, its LoRA adapters, the
    proxy tokens and the head, plus ``"all"``."""
    rows: dict = {}

    def add(key, p):
        row = rows.setdefault(key, {"total": 0, "learnable": 0})
        row["total"] += p.numel()
        row["learnable"] += p.numel() if p.requires_grad else 0

    for name, p in model.named_parameters():
        parts = name.split(".")
        if parts[0] == "encoders":
            add(f"{'lora' if 'lora_' in name else 'backbone'}/{parts[1]}", p)
        elif parts[0] == "proxy_tokens":
            add("proxy tokens", p)
        else:
            add(parts[0], p)
    rows["all"] = {k: sum(r[k] for r in rows.values()) for k in ("total", "learnable")}
    return rows


__all__ = [
    "CMPTModel", "TextTokens", "ImageTokens", "AudioTokens", "SplitAttention", "split_attention", "add_lora", "gate_and_fuse", "alignment_loss",
    "parameter_report", "LORA_TARGETS", "LAMBDA_ALIGN", "UNIFORM_DROPOUT",
]
