"""Compiled vs eager saga_pvt_tiny on CUDA (bf16 autocast, batch 2, 256x320): logits relative error,
with and without drop path and in train or eval mode. Usage: python compile_check.py OUT.json"""
import json
import sys

import torch

import saga_attention as sa


def relative_error(drop_path: float, training: bool) -> float:
    torch.manual_seed(0)
    model = sa.create_model("saga_pvt_tiny", num_classes=10, drop_path_rate=drop_path).cuda().train(training)
    compiled = torch.compile(model, fullgraph=True)
    x = torch.randn(2, 3, 256, 320, device="cuda")
    outs = []
    for m in (model, compiled):
        torch.manual_seed(1)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            outs.append(m(x).float())
    per_sample = ((outs[1] - outs[0]).norm(dim=-1) / outs[0].norm(dim=-1)).tolist()
    print(f"drop_path={drop_path} training={training}: per-sample relative error {per_sample}", flush=True)
    return per_sample


if __name__ == "__main__":
    results = {f"drop_path={d},training={t}": relative_error(d, t) for d, t in ((0.1, True), (0.0, True), (0.1, False))}
    with open(sys.argv[1], "w") as f:
        json.dump({"torch": torch.__version__, "gpu": torch.cuda.get_device_name(), **results}, f, indent=2)
