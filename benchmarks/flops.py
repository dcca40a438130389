"""FLOPs per sample of every backbone the paper tables train, for the reproduction page's time estimate.

    python benchmarks/flops.py                # writes rmm_lib/tables/flops.json (seconds, no download)
    python benchmarks/flops.py --device cpu   # the same counts with real tensors (a few minutes)

Each backbone is built from its architecture alone (no weights), as the paper profile builds it:
open_clip ``ViT-B-16`` / ``ViT-B-32`` towers (``open_clip.create_model(name, pretrained=None)``),
``BertModel(BertConfig())``, ``ASTModel(ASTConfig())``, torchvision ``resnet18`` and MLA's
three-layer MLP for IEMOCAP features. The input is one sample of the shape the loaders produce
(one frame: a clip of 3 frames costs 3 times as much; text at the token length the method uses).

``torch.utils.flop_counter.FlopCounterMode`` counts the FLOPs of one forward pass and of the
backward pass that follows it, in two training modes:

* ``full``: every weight trainable (TRML fine-tunes CLIP, MLA trains its encoders);
* ``lora``: weights frozen, CMPT's LoRA adapters (``rmm_lib.methods.cmpt.add_lora``) trainable, so
  the backward pass runs through the activations without the frozen weights' gradients.

The counter sees matrix products, convolutions and attention (2 FLOPs per multiply-accumulate),
not element-wise work, norms or the optimiser: those are left to the utilisation assumed in
:mod:`rmm_lib.estimates`. Attention runs through PyTorch's math kernel so that it is counted, and
the default ``meta`` device computes nothing (shapes only). The page reads the JSON; the book
build never recomputes it.
"""
from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "rmm_lib" / "tables" / "flops.json"
CLIP_TOKENS = 77  # open_clip's tokenizer pads every text to the context length
CMPT_TEXT_TOKENS = (40, 256)  # CMPT Table 5: max. text length 40 (Food-101) and 256 (MM-IMDb)


def _clip(name: str, tower: str):
    import open_clip

    model = open_clip.create_model(name, pretrained=None)
    if tower == "visual":
        return model.visual, "open_clip"
    model.visual = None  # encode_text needs only the text tower

    class Text(__import__("torch").nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, ids):
            return self.m.encode_text(ids)

    return Text(model), "open_clip"


def _bert():
    from transformers import BertConfig, BertModel

    return BertModel(BertConfig(), add_pooling_layer=False), "bert"


def _ast():
    from transformers import ASTConfig, ASTModel

    return ASTModel(ASTConfig()), "ast"


def _resnet18(channels: int):
    import torch
    from torchvision.models import resnet18

    net = resnet18(num_classes=512)  # MLA's encoders map to PAPER_DIM = 512
    if channels != 3:
        net.conv1 = torch.nn.Conv2d(channels, 64, 7, 2, 3, bias=False)
    return net, None


def _mlp(dim: int):
    from torch import nn

    return nn.Sequential(nn.Linear(dim, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 512)), None


def backbones() -> dict:
    """``{key: (build, input shape, input dtype, modes, what)}``; one sample per input."""
    img = (1, 3, 224, 224)
    out = {
        "clip-vit-b-16-visual@224": (lambda: _clip("ViT-B-16", "visual"), img, "float", ("lora",),
                                     "open_clip.create_model('ViT-B-16', pretrained=None).visual, one 224x224 frame"),
        "clip-vit-b-32-visual@224": (lambda: _clip("ViT-B-32", "visual"), img, "float", ("full",),
                                     "open_clip.create_model('ViT-B-32', pretrained=None).visual, one 224x224 frame"),
        f"clip-vit-b-32-text@{CLIP_TOKENS}": (lambda: _clip("ViT-B-32", "text"), (1, CLIP_TOKENS), "long", ("full",),
                                              f"open_clip ViT-B-32 encode_text, {CLIP_TOKENS} tokens"),
        "ast@1024x128": (_ast, (1, 1024, 128), "float", ("lora",),
                         "transformers ASTModel(ASTConfig()), 1024 frames x 128 mel bins (1214 tokens)"),
        "resnet18-fbank@1024x128": (lambda: _resnet18(1), (1, 1, 1024, 128), "float", ("full",),
                                    "torchvision resnet18, 1 input channel, fbank 1024 x 128 (MLA audio)"),
        "resnet18@224": (lambda: _resnet18(3), img, "float", ("full",),
                         "torchvision resnet18, one 224x224 frame (MLA video)"),
    }
    for n in CMPT_TEXT_TOKENS:
        out[f"bert-base@{n}"] = (_bert, (1, n), "long", ("lora",), f"transformers BertModel(BertConfig()), {n} tokens")
    for dim in (512, 1024):
        out[f"mlp128@{dim}"] = (lambda dim=dim: _mlp(dim), (1, dim), "float", ("full",),
                                f"MLA A.3.2: Linear({dim}, 128)-ReLU-Linear(128, 128)-ReLU-Linear(128, 512)")
    return out


def count(build, shape, dtype: str, mode: str, device: str) -> dict:
    """FLOPs of one forward and of its backward pass for one sample, in training ``mode``."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    model, family = build()
    if mode == "lora":
        from rmm_lib.methods.cmpt import add_lora

        model = add_lora(model, family)  # freezes everything but the adapters
    else:
        model.requires_grad_(True)
    model = model.to(device).eval()  # eval: no dropout; gradients stay on (no fused inference kernels)
    torch.manual_seed(0)
    x = (torch.randint(0, 1000, shape) if dtype == "long" else torch.randn(shape)).to(device)
    with sdpa_kernel(SDPBackend.MATH):
        with FlopCounterMode(display=False) as fwd:
            out = model(x)
        out = getattr(out, "last_hidden_state", out)
        with FlopCounterMode(display=False) as bwd:
            out.float().sum().backward()
    return {"forward": int(fwd.get_total_flops()), "backward": int(bwd.get_total_flops())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="meta", help="meta (shapes only, default) or cpu")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    import open_clip
    import torch
    import torchvision
    import transformers

    torch.set_num_threads(1)
    logging.getLogger().setLevel(logging.ERROR)  # open_clip's "no pretrained weights": intended here
    entries = {}
    for key, (build, shape, dtype, modes, what) in backbones().items():
        entry = {"input": list(shape), "built": what}
        for mode in modes:
            c = count(build, shape, dtype, mode, args.device)
            entry["forward"] = c["forward"]
            entry[f"backward_{mode}"] = c["backward"]
        entries[key] = entry
        ratios = ", ".join(f"{m}: (fwd+bwd)/fwd = {(entry['forward'] + entry[f'backward_{m}']) / entry['forward']:.2f}"
                           for m in modes)
        print(f"{key:<28} forward {entry['forward'] / 1e9:9.2f} GFLOPs  {ratios}")
    record = {
        "about": "FLOPs per sample (one frame / one text / one spectrogram): forward, and the backward pass in "
                 "training mode full (all weights trainable) or lora (frozen weights + LoRA adapters). Counted by "
                 "torch.utils.flop_counter.FlopCounterMode: matmuls, convolutions, attention; 2 FLOPs per MAC.",
        "provenance": {
            "command": "python benchmarks/flops.py" + (f" --device {args.device}" if args.device != "meta" else ""),
            "device": args.device, "date": datetime.date.today().isoformat(), "python": platform.python_version(),
            "torch": torch.__version__, "torchvision": torchvision.__version__, "open_clip": open_clip.__version__,
            "transformers": transformers.__version__,
        },
        "backbones": entries,
    }
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
