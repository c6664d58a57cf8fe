"""Shared by the op tests: the device the kernels run on, inputs, a float64 token-by-token re-derivation, the error
measure."""
import torch

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"   # where the kernels run: CUDA, or Triton's CPU interpreter
FEATURE = {"relu": torch.relu, "elu1": lambda x: torch.nn.functional.elu(x) + 1, "none": lambda x: x}


def rederived(q, k, v, g_k, g_v, feature_map="relu", eps=1e-6, normalizer="gated"):
    """Token by token, in float64, straight from the formula (no einsum, no shared code)."""
    q, k, v = (t.double() for t in (q, k, v))
    phi = FEATURE[feature_map]
    a = torch.ones_like(k) if g_k is None else torch.sigmoid(g_k.double())
    b = torch.ones_like(v) if g_v is None else torch.sigmoid(g_v.double())
    B, Nq, H, _ = q.shape
    out = torch.empty(B, Nq, H, v.shape[-1], dtype=torch.float64)
    for bi in range(B):
        for h in range(H):
            kk = a[bi, :, h] * phi(k[bi, :, h])  # (Nk, Dk)
            vv = b[bi, :, h] * v[bi, :, h]
            S = sum(torch.outer(kk[j], vv[j]) for j in range(kk.shape[0]))
            z = (phi(k[bi, :, h]) if normalizer == "ungated" else kk).sum(0)
            qq = phi(q[bi, :, h])
            out[bi, :, h] = (qq @ S) / (qq @ z + eps)[:, None]
    return out


def make_inputs(B, Nq, Nk, H, Dk, Dv, dtype=torch.float32, requires_grad=False):
    shapes = [(B, Nq, H, Dk), (B, Nk, H, Dk), (B, Nk, H, Dv), (B, Nk, H, Dk), (B, Nk, H, Dv)]
    return [torch.randn(s, dtype=dtype).requires_grad_(requires_grad) for s in shapes]


def rel_err(x, ref, floor=1e-30):
    """||x - ref|| / max(||ref||, floor); NaN never passes."""
    assert not torch.isnan(x).any(), "NaN in output"
    return ((x.double() - ref.double()).norm() / ref.double().norm().clamp_min(floor)).item()


def rederived_local(v, weight, bias, hw):
    """The depth-wise conv of v (B, N, H, Dv) over the hw map, in float64, tap by tap with zero padding."""
    B, N, H, Dv = v.shape
    k = weight.shape[-1]
    fmap = v.double().reshape(B, *hw, H * Dv)  # (B, h, w, C), channel c = head * Dv + d
    padded = torch.zeros(B, hw[0] + k - 1, hw[1] + k - 1, H * Dv, dtype=torch.float64)
    padded[:, k // 2:k // 2 + hw[0], k // 2:k // 2 + hw[1]] = fmap
    out = torch.zeros_like(fmap) if bias is None else bias.double().expand_as(fmap).clone()
    for dy in range(k):
        for dx in range(k):
            out = out + padded[:, dy:dy + hw[0], dx:dx + hw[1]] * weight[:, 0, dy, dx].double()
    return out.reshape(B, N, H, Dv)
