"""What every op shares: input checks, the backend names and whether the Triton kernels can run.

Bad input is rejected here with a ValueError that says what was expected and what came,
before it can reach a kernel.
"""
from __future__ import annotations

import importlib.util
import math
import os

import torch
from torch import Tensor

BACKENDS = ("auto", "torch", "triton")
FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
KERNEL_DTYPES = (torch.float16, torch.bfloat16, torch.float32)    # what the Triton kernels take
NORMALIZERS = ("gated", "ungated")
HAS_TRITON = importlib.util.find_spec("triton") is not None


def interpreting() -> bool:
    """True when Triton runs kernels in its CPU interpreter (TRITON_INTERPRET=1)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def kernel_unsupported_reason(x: Tensor, dtype: torch.dtype | None = None) -> str | None:
    """Why no Triton kernel can take tensors like x (on its device, in `dtype`, default x's), or None."""
    if not HAS_TRITON:
        return "triton is not installed (pip install triton)"
    if not (x.is_cuda or (x.device.type == "cpu" and interpreting())):
        return f"its kernels run on CUDA tensors (or on the CPU under TRITON_INTERPRET=1); got {x.device}"
    if (dtype or x.dtype) not in KERNEL_DTYPES:
        return f"its kernels take float16, bfloat16 or float32; got {dtype or x.dtype}"
    return None


def resolve_backend(backend: str, reason: str | None, wanted: bool) -> bool:
    """Whether to run the kernel: `wanted` (the caller's "auto" rule) and possible (`reason` is None). backend
    "triton" must be possible: a ValueError with the reason otherwise."""
    check_choice("backend", backend, BACKENDS)
    if backend == "triton" and reason is not None:
        raise ValueError(f"backend='triton' is not available here: {reason}; use backend='torch' or 'auto'")
    return backend != "torch" and (backend == "triton" or wanted) and reason is None


def _describe(t: Tensor) -> str:
    return f"shape {tuple(t.shape)}, dtype {t.dtype}, device {t.device}"


def check_attention_inputs(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    g_k: Tensor | None = None,
    g_v: Tensor | None = None,
    *,
    eps: float,
) -> None:
    """Check the (B, N, H, D) layout: q (B, Nq, H, Dk); k, g_k (B, Nk, H, Dk); v, g_v (B, Nk, H, Dv)."""
    named = {"q": q, "k": k, "v": v, "g_k": g_k, "g_v": g_v}
    tensors = {name: t for name, t in named.items() if t is not None}
    for name, t in tensors.items():
        if not isinstance(t, Tensor):
            raise ValueError(f"{name} must be a torch.Tensor of shape (B, N, H, D); got {type(t).__name__}")
        if t.dim() != 4:
            raise ValueError(f"{name} must be 4-D (B, N, H, D); got {t.dim()}-D with shape {tuple(t.shape)}")
        if t.dtype not in FLOAT_DTYPES:
            raise ValueError(f"{name} must be float16, bfloat16, float32 or float64; got {t.dtype}")
    dtypes = {t.dtype for t in tensors.values()}
    if len(dtypes) > 1:
        got = ", ".join(f"{n}={t.dtype}" for n, t in tensors.items())
        raise ValueError(f"all inputs must share one dtype; got {got}")
    devices = {t.device for t in tensors.values()}
    if len(devices) > 1:
        got = ", ".join(f"{n} on {t.device}" for n, t in tensors.items())
        raise ValueError(f"all inputs must be on one device; got {got}")

    batch, _, heads, dk = q.shape
    if k.shape[0] != batch or k.shape[2] != heads or k.shape[3] != dk:
        raise ValueError(f"k must be (B, Nk, H, Dk) = ({batch}, Nk, {heads}, {dk}) to match q; got {_describe(k)}")
    n_kv = k.shape[1]
    if n_kv < 1 or q.shape[1] < 1:
        raise ValueError(f"q and k need at least one token; got Nq={q.shape[1]}, Nk={n_kv}")
    if v.shape[:3] != k.shape[:3]:
        raise ValueError(f"v must be (B, Nk, H, Dv) = ({batch}, {n_kv}, {heads}, Dv) to match k; got {_describe(v)}")
    if g_k is not None and g_k.shape != k.shape:
        raise ValueError(f"g_k must have k's shape {tuple(k.shape)}; got {tuple(g_k.shape)}")
    if g_v is not None and g_v.shape != v.shape:
        raise ValueError(f"g_v must have v's shape {tuple(v.shape)}; got {tuple(g_v.shape)}")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps <= 0:
        raise ValueError(f"eps must be a finite number > 0; got {eps!r}")


def check_choice(name: str, value: str, choices) -> None:
    """ValueError unless value is one of choices."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}; got {value!r}")
