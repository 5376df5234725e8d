#!/usr/bin/env python3
"""Exports small models written by someone else's code (torchvision, torch.nn) to ONNX, as test
fixtures for lnfold-onnx: the architectures are torchvision's and torch's own classes, built at
tiny sizes with seeded random weights, so nothing is downloaded and nothing is committed.

    torch_models.py OUT_DIR

Writes OUT_DIR/NAME.VARIANT.onnx for every model below: opset14 (LayerNorm decomposed by the
exporter), opset17 (LayerNormalization) and dyn17 (opset 17, batch axis dynamic), and
OUT_DIR/NAME.VARIANT.args (compare.mjs arguments for its inputs). Exit 77 (CTest:
skipped) when torch or torchvision cannot be imported: scripts/install-torch.sh installs Debian's
python3-torch and python3-torchvision.
"""
import os
import sys
import warnings

try:
    import torch
    from torch import nn
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt
    from torchvision.models.swin_transformer import SwinTransformer
    from torchvision.models.vision_transformer import VisionTransformer
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"torch or torchvision not importable ({e}); scripts/install-torch.sh installs them")
    sys.exit(77)


class TokenEncoder(nn.Module):
    """torch.nn's pre-LN TransformerEncoder over token and position embeddings, with a final LN."""

    def __init__(self):
        super().__init__()
        self.tokens = nn.Embedding(64, 32)
        self.positions = nn.Embedding(16, 32)
        layer = nn.TransformerEncoderLayer(32, 2, 64, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(32), enable_nested_tensor=False)

    def forward(self, ids):
        pos = torch.arange(ids.shape[1]).unsqueeze(0)
        return self.encoder(self.tokens(ids) + self.positions(pos))


class LayerScaleBlock(nn.Module):
    """Pre-LN blocks whose residual branch ends in LayerScale after a biased linear:
    s += gamma * (W·LN(s) + b), as CaiT / DeiT-III / ConvNeXt-style code writes it."""

    def __init__(self, d=32, layers=2):
        super().__init__()
        self.embed = nn.Linear(16, d)
        self.norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(layers))
        self.fcs = nn.ModuleList(nn.Linear(d, d) for _ in range(layers))
        self.scales = nn.ParameterList(nn.Parameter(torch.rand(d) + 0.5) for _ in range(layers))
        self.final = nn.LayerNorm(d)

    def forward(self, x):
        s = self.embed(x)
        for norm, fc, scale in zip(self.norms, self.fcs, self.scales):
            s = s + scale * fc(norm(s))
        return self.final(s)


class AdaLNBlock(nn.Module):
    """DiT's adaLN-Zero block: shift, scale and gate from the conditioning, reshaped per sample,
    the gate multiplying the residual branch: s += gate · f(modulate(LN(s)))."""

    def __init__(self, d=32, layers=2):
        super().__init__()
        self.embed = nn.Linear(16, d)
        self.cond = nn.Linear(8, 3 * d * layers)
        self.norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(layers))
        self.fcs = nn.ModuleList(nn.Linear(d, d) for _ in range(layers))
        self.final = nn.LayerNorm(d)
        self.layers = layers

    def forward(self, x, c):
        s = self.embed(x)
        mods = self.cond(c).reshape(c.shape[0], 1, 3 * self.layers, -1)
        for i, (norm, fc) in enumerate(zip(self.norms, self.fcs)):
            shift, scale, gate = mods[:, :, 3 * i], mods[:, :, 3 * i + 1], mods[:, :, 3 * i + 2]
            s = s + gate * fc(norm(s) * (1 + scale) + shift)
        return self.final(s)


def models():
    torch.manual_seed(0)
    image = (torch.randn(1, 3, 32, 32),)
    yield "vit", VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32,
                                   mlp_dim=64, num_classes=10), image, ["image"], ""
    yield "swin", SwinTransformer(patch_size=[4, 4], embed_dim=16, depths=[2, 2], num_heads=[2, 2],
                                  window_size=[3, 3], num_classes=10), image, ["image"], ""
    yield "convnext", ConvNeXt([CNBlockConfig(16, 32, 1), CNBlockConfig(32, None, 1)], num_classes=10), \
        image, ["image"], ""
    yield "token_encoder", TokenEncoder(), (torch.randint(0, 64, (1, 16)),), ["ids"], "--int-range ids=63"
    yield "layer_scale", LayerScaleBlock(), (torch.randn(1, 8, 16),), ["x"], ""
    yield "adaln", AdaLNBlock(), (torch.randn(2, 8, 16), torch.randn(2, 8)), ["x", "c"], ""


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    warnings.filterwarnings("ignore")
    for name, model, inputs, input_names, compare_args in models():
        model.eval()
        # Weights that are not all zero or one, so that no two tensors are equal by accident.
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.05 * torch.randn_like(p))
        # opset 14 (LN decomposed), 17 (LayerNormalization), and 17 with a dynamic batch axis, whose
        # reshapes torch then computes from Shape (the form of issue 14's adaLN row)
        for variant, opset, dynamic in (("opset14", 14, False), ("opset17", 17, False), ("dyn17", 17, True)):
            axes = {n: {0: "batch"} for n in input_names} if dynamic else None
            torch.onnx.export(model, inputs, os.path.join(out, f"{name}.{variant}.onnx"), opset_version=opset,
                              do_constant_folding=True, input_names=input_names, output_names=["output"],
                              dynamic_axes=axes)
            with open(os.path.join(out, f"{name}.{variant}.args"), "w") as f:
                f.write(compare_args + "\n")
        print(f"exported {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
