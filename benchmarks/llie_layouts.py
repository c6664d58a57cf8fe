"""Which tensors of a low-light net's inference forward are neither contiguous nor channels-last? PyTorch's
element-wise kernels take a slow strided path for such operands (issue 13's profile: the residual adds of the
first two levels). Prints, per module, the layout of its input and output maps; `--all` prints every module,
otherwise the odd ones and each block's residual operands (its input, its mixer's and feed-forward's outputs). Seconds on a GPU or a CPU.

    PYTHONPATH=src python3 benchmarks/llie_layouts.py --model saga_llie_small --res 256x384
"""
from __future__ import annotations

import argparse

import torch
from torch import Tensor, nn

import saga_attention as sa
from saga_attention.models.llie import RestorationBlock


def layout(t: Tensor) -> str:
    if t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last):
        kind = "channels-last"
    else:
        kind = "contiguous" if t.is_contiguous() else "STRIDED"
    return f"{kind} {tuple(t.shape)} strides {t.stride()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="saga_llie_small")
    parser.add_argument("--res", default="256x384", help="HxW")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--all", action="store_true", help="every module, not only the odd ones")
    args = parser.parse_args()
    dtype = torch.bfloat16 if args.device.startswith("cuda") else torch.float32
    model = sa.create_model(args.model).to(args.device, dtype).eval()

    def report(name: str, module: nn.Module, inputs: tuple, output: object) -> None:
        maps = [("in", t) for t in inputs if isinstance(t, Tensor)] + [("out", output)] * isinstance(output, Tensor)
        odd = [(side, t) for side, t in maps if t.dim() >= 3 and layout(t).startswith("STRIDED")]
        if args.all or odd or isinstance(module, RestorationBlock) or name.endswith((".mixer", ".ffn")):
            for side, t in maps:
                print(f"{name:40s} {type(module).__name__:18s} {side:3s} {layout(t)}")

    for name, module in model.named_modules():
        module.register_forward_hook(lambda m, i, o, name=name: report(name, m, i, o))
    h, w = (int(s) for s in args.res.split("x"))
    with torch.inference_mode():
        model(torch.rand(1, 3, h, w, device=args.device, dtype=dtype))


if __name__ == "__main__":
    main()
