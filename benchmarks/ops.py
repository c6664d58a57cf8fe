"""The SAGA op and its kernels: time, and on a GPU the bandwidth they reach against a copy measured in the same
run, beside the PyTorch backend and scaled_dot_product_attention, forward and forward+backward (B 4, H 4).

Bytes counted (the fewest a kernel must move): forward reads q, k, v, g_k, g_v and writes o;
forward+backward adds reading them and dO again and writing the five gradients. On a GPU also the host time
per call and, unless --no-sweep, every kernel's launch configurations; on the CPU the PyTorch backend alone.

    PYTHONPATH=src python3 benchmarks/ops.py --out runs/ops/ops.json      # GPU: about 3 minutes; CPU: 1 minute
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from common import device_argument, out_argument, the_device, write_results

import saga_attention as sa
from saga_attention.measure import DTYPES, time_ms

DEVICE = torch.device("cuda")


def median_ms(fn) -> float:
    if DEVICE.type != "cuda":
        return time_ms(fn, DEVICE, warmup=2, repeats=5)
    import triton
    return triton.testing.do_bench(fn, warmup=25, rep=100, return_mode="median")


def copy_bandwidth_gbs() -> float:
    """A device-to-device copy of 4 GiB, counting bytes read plus bytes written."""
    src = torch.randn(2**30, device=DEVICE)
    dst = torch.empty_like(src)
    ms = median_ms(lambda: dst.copy_(src))
    return 2 * src.numel() * src.element_size() / ms / 1e6


def inputs(b, n, h, d, dtype, grad=False):
    return [torch.randn(b, n, h, d, device=DEVICE, dtype=dtype, requires_grad=grad) for _ in range(5)]


def fwd_bwd(fn, tensors):
    out = fn(*tensors)
    grad = torch.randn_like(out)
    return lambda: torch.autograd.grad(fn(*tensors), tensors, grad)


def measure_torch(b, n, h, d, dtype_name):
    """The PyTorch backend alone (the CPU's run)."""
    x = inputs(b, n, h, d, DTYPES[dtype_name])
    xg = [t.requires_grad_() for t in inputs(b, n, h, d, DTYPES[dtype_name])]
    torch_fn = lambda *t: sa.saga_attention(*t, backend="torch")  # noqa: E731
    return {"B": b, "N": n, "H": h, "D": d, "dtype": dtype_name, "torch_fwd_ms": median_ms(lambda: torch_fn(*x)),
            "torch_fwd_bwd_ms": median_ms(fwd_bwd(torch_fn, xg))}


def measure(b, n, h, d, dtype_name, copy_gbs, with_sdpa):
    dtype = DTYPES[dtype_name]
    elem = torch.finfo(dtype).bits // 8
    tensor_bytes = b * n * h * d * elem
    row = {"B": b, "N": n, "H": h, "D": d, "dtype": dtype_name,
           "bytes_fwd": 6 * tensor_bytes, "bytes_fwd_bwd": (6 + 11) * tensor_bytes}
    x = inputs(b, n, h, d, dtype)
    xg = [t.requires_grad_() for t in inputs(b, n, h, d, dtype)]
    triton_fn = lambda *t: sa.saga_attention(*t, backend="triton")  # noqa: E731
    torch_fn = lambda *t: sa.saga_attention(*t, backend="torch")  # noqa: E731
    row["triton_fwd_ms"] = median_ms(lambda: triton_fn(*x))
    row["triton_fwd_bwd_ms"] = median_ms(fwd_bwd(triton_fn, xg))
    try:  # the PyTorch reference keeps fp32 copies: at a million tokens its backward needs more than 80 GB
        row["torch_fwd_ms"] = median_ms(lambda: torch_fn(*x))
        row["torch_fwd_bwd_ms"] = median_ms(fwd_bwd(torch_fn, xg))
    except torch.OutOfMemoryError:
        row["torch_fwd_ms"] = row["torch_fwd_bwd_ms"] = None
        torch.cuda.empty_cache()
    row["fwd_gbs"] = row["bytes_fwd"] / row["triton_fwd_ms"] / 1e6
    row["fwd_bwd_gbs"] = row["bytes_fwd_bwd"] / row["triton_fwd_bwd_ms"] / 1e6
    row["fwd_of_copy"] = row["fwd_gbs"] / copy_gbs
    row["fwd_bwd_of_copy"] = row["fwd_bwd_gbs"] / copy_gbs
    if with_sdpa:  # softmax attention on the same (B, N, H, D); FlashAttention takes (B, H, N, D)
        sdpa = lambda q, k, v: F.scaled_dot_product_attention(  # noqa: E731
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)).transpose(1, 2)
        row["sdpa_fwd_ms"] = median_ms(lambda: sdpa(*x[:3]))
        row["sdpa_fwd_bwd_ms"] = median_ms(fwd_bwd(sdpa, xg[:3]))
    return row


def host_us(fn, calls: int = 300) -> float:
    """Microseconds of host time per call: calls queued back to back without waiting for the GPU, on
    inputs small enough that the GPU finishes each before the host has queued the next."""
    fn()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    seconds = time.perf_counter() - start
    torch.cuda.synchronize()
    return seconds / calls * 1e6


def host_costs(d: int = 64) -> dict[str, float]:
    """Host microseconds per call of the op (eager: the autograd.Function; the custom op that torch.compile
    traces), forward and forward+backward, at 256 tokens, and of one small bf16 copy as the floor."""
    from saga_attention.ops.saga import launch as kernels

    x = inputs(1, 256, 1, d, torch.bfloat16)
    xg = [t.requires_grad_() for t in inputs(1, 256, 1, d, torch.bfloat16)]
    custom = lambda *t: kernels.saga_forward(*t, "relu", 1e-6, "gated", None, None, 0, 0)[0]  # noqa: E731
    eager = lambda *t: sa.saga_attention(*t, backend="triton")  # noqa: E731
    grad = torch.randn_like(x[0])
    return {"copy_us": host_us(lambda: x[1].copy_(x[0])),
            "fwd_us": host_us(lambda: eager(*x)), "custom_op_fwd_us": host_us(lambda: custom(*x)),
            "fwd_bwd_us": host_us(lambda: torch.autograd.grad(eager(*xg), xg, grad)),
            "custom_op_fwd_bwd_us": host_us(lambda: torch.autograd.grad(custom(*xg), xg, grad))}


def sweep_configs(b, n, h, d, dtype_name):
    """Each kernel's alternatives to the heuristic launch configuration, one kernel at a time (the
    others keep theirs), and the grid size: forward time for the forward kernels, forward+backward
    for the backward ones."""
    from saga_attention.ops.saga import launch as kernels

    rows, chosen, programs = [], kernels.launch_config, kernels._PROGRAMS_PER_SM
    x = inputs(b, n, h, d, DTYPES[dtype_name])
    xg = [t.requires_grad_() for t in inputs(b, n, h, d, DTYPES[dtype_name])]
    fn = lambda *t: sa.saga_attention(*t, backend="triton")  # noqa: E731
    trials = [(kernel, {"BLOCK_N": bn, "num_warps": w, "num_stages": s}, programs)
              for kernel in kernels.KERNELS for bn in (32, 64, 128) for w in (4, 8) for s in (2, 3)]
    trials += [(None, None, p) for p in (2, 8)]
    for kernel, config, per_sm in trials:
        kernels.launch_config = lambda name, *dims: config if name == kernel else chosen(name, *dims)  # noqa: B023
        kernels._PROGRAMS_PER_SM = per_sm
        kernels._kernel_flags.cache_clear()  # it caches launch_config's answers
        config_used = config or chosen("state", d, d, DTYPES[dtype_name])
        row = {"kernel": kernel or "all", **config_used, "programs_per_sm": per_sm, "D": d, "dtype": dtype_name}
        try:
            if kernel in (None, "state", "output"):
                row["fwd_ms"] = median_ms(lambda: fn(*x))
            if kernel in (None, "query_grad", "key_grad"):
                row["fwd_bwd_ms"] = median_ms(fwd_bwd(fn, xg))
        except Exception as err:  # a config that does not fit (registers, shared memory)
            row["error"] = str(err)[:200]
        rows.append(row)
    kernels.launch_config, kernels._PROGRAMS_PER_SM = chosen, programs
    kernels._kernel_flags.cache_clear()
    return rows


COLUMNS = ("fwd_of_copy", "fwd_bwd_of_copy", "triton_fwd_ms", "triton_fwd_bwd_ms", "torch_fwd_ms",
           "torch_fwd_bwd_ms", "sdpa_fwd_ms", "sdpa_fwd_bwd_ms")


def main() -> None:
    global DEVICE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    out_argument(parser, "runs/ops/ops.json")
    device_argument(parser)
    parser.add_argument("--no-sweep", action="store_true", help="skip the launch-configuration sweep (GPU)")
    args = parser.parse_args()
    DEVICE = the_device(args.device)
    if DEVICE.type != "cuda":
        rows = [measure_torch(4, n, 4, 64, "fp32") for n in (1024, 4096, 16384)]
        write_results(args.out, rows, DEVICE, ("N", "D", "dtype"), ("torch_fwd_ms", "torch_fwd_bwd_ms"),
                      "The SAGA op's PyTorch backend (B 4, H 4)")
        return
    from saga_attention.ops.saga import launch as kernels

    copy_gbs = copy_bandwidth_gbs()
    print(f"copy bandwidth {copy_gbs:.0f} GB/s")
    host = host_costs()
    print("host cost per call (us):", {k: round(v, 1) for k, v in host.items()})
    rows = [measure(4, n, 4, 64, "bf16", copy_gbs, with_sdpa=n <= 65536)
            for n in (1024, 4096, 16384, 65536, 262144, 1048576)]
    rows += [measure(4, 262144, 4, d, "bf16", copy_gbs, with_sdpa=False) for d in (16, 32, 128)]
    rows += [measure(4, 262144, 4, 64, name, copy_gbs, with_sdpa=False) for name in ("fp16", "fp32")]
    extra = {"copy_gbs": copy_gbs, "host_us": host,
             "heuristic_config_d64": {k: kernels.launch_config(k, 64, 64, torch.bfloat16) for k in kernels.KERNELS}}
    if not args.no_sweep:
        extra["configs"] = sweep_configs(4, 262144, 4, 64, "bf16")
    write_results(args.out, rows, DEVICE, ("N", "D", "dtype"), COLUMNS,
                  "SAGA kernels: share of the copy bandwidth, and times in ms (B 4, H 4)", extra)


if __name__ == "__main__":
    main()
