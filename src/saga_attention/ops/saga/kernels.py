"""SAGA's fused Triton kernels, forward and backward (launched by launch.py).

Inputs are read in place through their strides, in the (B, N, H, D) layout: the 5C projection's
slices go in without copies. The feature map and the sigmoid gates are applied to tiles as they
are loaded, so gated copies of k and v never exist in memory; S and z are summed in fp32.

    forward   _state_kernel      grid (splits, B*H)  partial S, z over a chunk of keys
              (torch .sum)                           S, z: deterministic sum of the partials
              _output_kernel     grid (splits, B*H)  o = phi(q) S / (phi(q) . z + eps) [+ dwconv(v)]
    backward  _query_grad_kernel grid (splits, B*H)  dq, partial dS and dz over a chunk of queries
              (torch .sum)                           dS, dz
              _key_grad_kernel   grid (splits, B*H)  dk, dv, dg_k, dg_v
              (aten conv backward)                   the local conv's dv, weight and bias gradients

Every program walks a chunk of tokens in BLOCK_N tiles, with the state of its batch and head
loaded once.
"""
import triton
import triton.language as tl


@triton.jit
def _feature(x, FEATURE: tl.constexpr):
    if FEATURE == 0:
        x = tl.maximum(x, 0.0)
    elif FEATURE == 1:
        x = tl.where(x > 0, x + 1.0, tl.exp(x))
    return x


@triton.jit
def _feature_grad(x, FEATURE: tl.constexpr):
    if FEATURE == 0:
        d = tl.where(x > 0, 1.0, 0.0)
    elif FEATURE == 1:
        d = tl.where(x > 0, 1.0, tl.exp(x))
    else:
        d = tl.full(x.shape, 1.0, tl.float32)
    return d


@triton.jit
def _sigmoid(x):
    """1 / (1 + exp(-x)) with the fast (non-IEEE-rounded) division: the kernels are memory-bound, not this exact."""
    return tl.fdiv(tl.full(x.shape, 1.0, tl.float32), 1.0 + tl.exp(-x), ieee_rounding=False)


@triton.jit
def _dot(a, b, acc, DTYPE: tl.constexpr, PRECISION: tl.constexpr):
    """acc + a @ b, both operands cast to DTYPE; products accumulate in fp32."""
    return tl.dot(a.to(DTYPE), b.to(DTYPE), acc, input_precision=PRECISION)


@triton.jit
def _column_sums(x, weights, acc, DTYPE: tl.constexpr, PRECISION: tl.constexpr):
    """acc (BLOCK_D, 16) + sum over rows of weights[:, None] * x, in column 0 of acc.

    x (BLOCK_N, BLOCK_D), weights (BLOCK_N,). Summed on the tensor cores as x^T @ (weights e_0^T),
    which keeps registers free: a (BLOCK_N, BLOCK_D) running sum in registers made the kernels spill."""
    first = (tl.arange(0, 16) == 0).to(tl.float32)
    return _dot(tl.trans(x), weights[:, None] * first[None, :], acc, DTYPE, PRECISION)


@triton.jit
def _head_ptrs(ptr, bh, H, first_row, offs_n, offs_d, s_b, s_n, s_h, s_d, ALIGN: tl.constexpr):
    """Pointers to rows first_row + offs_n, columns offs_d of head bh % H of batch bh // H, and the
    step from one row to the next.

    s_b, s_n and s_h come divided by ALIGN (see `_alignment`): multiplied back here by the constant, they
    tell the compiler that every row starts ALIGN elements aligned, so rows load as vectors of ALIGN
    elements even where a head is not a power of two wide (heads of 20 loaded one element at a time
    ran 4.7x slower). Offsets are int64; the loops advance the pointers by the step."""
    b = (bh // H).to(tl.int64)
    h = (bh % H).to(tl.int64)
    rows = first_row.to(tl.int64) + offs_n.to(tl.int64)
    row_step = s_n * ALIGN  # a stride of 1 arrives as a constant (Triton specialises on it)
    ptrs = ptr + b * s_b * ALIGN + h * s_h * ALIGN + rows[:, None] * row_step + offs_d.to(tl.int64)[None, :] * s_d
    return ptrs, row_step


@triton.jit
def _tile_mask(rows_ok, offs_d, D, EVEN_D: tl.constexpr, ALIGN: tl.constexpr):
    """Which elements of a (BLOCK_N, BLOCK_D) tile exist. The mask is constant over runs of ALIGN columns
    (ALIGN divides D), which keeps the loads and stores vectors; with EVEN_D (D == BLOCK_D) over whole rows."""
    if EVEN_D:
        mask = rows_ok[:, None]
    else:
        mask = rows_ok[:, None] & ((offs_d // ALIGN) * ALIGN < D)[None, :]
    return mask


@triton.jit
def _load(ptrs, mask):
    """A tile in fp32; what the mask leaves out reads 0."""
    return tl.load(ptrs, mask=mask, other=0.0).to(tl.float32)


@triton.jit
def _features(x, mask, FEATURE: tl.constexpr):
    """phi(x) of a loaded tile, 0 outside the mask (elu1 maps the padding's 0 to 1)."""
    x = _feature(x, FEATURE)
    if FEATURE == 1:
        x = tl.where(mask, x, 0.0)
    return x


@triton.jit
def _state_kernel(k_ptr, v_ptr, gk_ptr, gv_ptr, s_ptr, z_ptr,
                  sk_b, sk_n, sk_h, sk_d, sv_b, sv_n, sv_h, sv_d,
                  sgk_b, sgk_n, sgk_h, sgk_d, sgv_b, sgv_n, sgv_h, sgv_d,
                  N, H, DK, DV, chunk,
                  FEATURE: tl.constexpr, HAS_GK: tl.constexpr, HAS_GV: tl.constexpr, GATED_Z: tl.constexpr,
                  PRECISION: tl.constexpr, INPUT_DOT: tl.constexpr, EVEN_DK: tl.constexpr, EVEN_DV: tl.constexpr,
                  ALIGN: tl.constexpr, BLOCK_DK: tl.constexpr, BLOCK_DV: tl.constexpr, BLOCK_N: tl.constexpr):
    split = tl.program_id(0)
    bh = tl.program_id(1)
    offs_n = tl.arange(0, BLOCK_N)
    offs_dk = tl.arange(0, BLOCK_DK)
    offs_dv = tl.arange(0, BLOCK_DV)
    start = split * chunk
    end = tl.minimum(start + chunk, N)
    k_ptrs, k_row = _head_ptrs(k_ptr, bh, H, start, offs_n, offs_dk, sk_b, sk_n, sk_h, sk_d, ALIGN)
    v_ptrs, v_row = _head_ptrs(v_ptr, bh, H, start, offs_n, offs_dv, sv_b, sv_n, sv_h, sv_d, ALIGN)
    gk_ptrs, gk_row = _head_ptrs(gk_ptr, bh, H, start, offs_n, offs_dk, sgk_b, sgk_n, sgk_h, sgk_d, ALIGN)
    gv_ptrs, gv_row = _head_ptrs(gv_ptr, bh, H, start, offs_n, offs_dv, sgv_b, sgv_n, sgv_h, sgv_d, ALIGN)
    ones = tl.full((BLOCK_N,), 1.0, tl.float32)
    state = tl.zeros((BLOCK_DK, BLOCK_DV), tl.float32)
    z = tl.zeros((BLOCK_DK, 16), tl.float32)  # column 0 holds z
    for n0 in range(start, end, BLOCK_N):
        rows_ok = n0 + offs_n < end
        mask_k = _tile_mask(rows_ok, offs_dk, DK, EVEN_DK, ALIGN)
        mask_v = _tile_mask(rows_ok, offs_dv, DV, EVEN_DV, ALIGN)
        k = _features(_load(k_ptrs, mask_k), mask_k, FEATURE)  # (BLOCK_N, BLOCK_DK)
        keys = k
        if HAS_GK:
            keys = k * _sigmoid(_load(gk_ptrs, mask_k))
        values = _load(v_ptrs, mask_v)  # (BLOCK_N, BLOCK_DV)
        if HAS_GV:
            values = values * _sigmoid(_load(gv_ptrs, mask_v))
        # |gated k| <= |k| and |gated v| <= |v|: the input dtype holds the operands
        state = _dot(tl.trans(keys), values, state, INPUT_DOT, PRECISION)
        z = _column_sums(keys if GATED_Z else k, ones, z, INPUT_DOT, PRECISION)
        k_ptrs += BLOCK_N * k_row
        v_ptrs += BLOCK_N * v_row
        gk_ptrs += BLOCK_N * gk_row
        gv_ptrs += BLOCK_N * gv_row
    partial = bh * tl.num_programs(0) + split
    s_offs = partial.to(tl.int64) * BLOCK_DK * BLOCK_DV + offs_dk[:, None] * BLOCK_DV + offs_dv[None, :]
    tl.store(s_ptr + s_offs, state)
    tl.store(z_ptr + partial.to(tl.int64) * BLOCK_DK + offs_dk, tl.sum(z, axis=1))


@triton.jit
def _load_state(s_ptr, z_ptr, bh, BLOCK_DK: tl.constexpr, BLOCK_DV: tl.constexpr):
    """The padded fp32 state of one batch and head: S (BLOCK_DK, BLOCK_DV) and z (BLOCK_DK,)."""
    offs_dk = tl.arange(0, BLOCK_DK)
    offs_dv = tl.arange(0, BLOCK_DV)
    base = bh.to(tl.int64)
    state = tl.load(s_ptr + base * BLOCK_DK * BLOCK_DV + offs_dk[:, None] * BLOCK_DV + offs_dv[None, :])
    z = tl.load(z_ptr + base * BLOCK_DK + offs_dk)
    return state, z


@triton.jit
def _local_conv(v_ptrs, w_ptr, b_ptr, bh, H, rows, rows_ok, offs_dv, DV, v_row, IMG_H, IMG_W,
                EVEN_DV: tl.constexpr, HAS_BIAS: tl.constexpr, KSIZE: tl.constexpr, ALIGN: tl.constexpr):
    """The depth-wise KSIZE x KSIZE conv of v (zero padding) at tokens `rows` of an IMG_H x IMG_W map,
    for the head's channels: (BLOCK_N, BLOCK_DV) fp32. v_ptrs points at the tile's own rows; the
    neighbours' rows are mostly in cache, read for the tiles around it."""
    channel = (bh % H) * DV + offs_dv  # the conv's channel of each column
    y = rows // IMG_W
    x = rows % IMG_W
    acc = tl.zeros((rows.shape[0], offs_dv.shape[0]), tl.float32)
    for dy in tl.static_range(KSIZE):
        for dx in tl.static_range(KSIZE):
            ny = y + (dy - KSIZE // 2)
            nx = x + (dx - KSIZE // 2)
            inside = rows_ok & (ny >= 0) & (ny < IMG_H) & (nx >= 0) & (nx < IMG_W)
            shift = (dy - KSIZE // 2) * IMG_W + (dx - KSIZE // 2)
            tap = _load(v_ptrs + shift * v_row, _tile_mask(inside, offs_dv, DV, EVEN_DV, ALIGN))
            weight = tl.load(w_ptr + channel * (KSIZE * KSIZE) + dy * KSIZE + dx, mask=offs_dv < DV, other=0.0)
            acc += tap * weight.to(tl.float32)[None, :]
    if HAS_BIAS:
        acc += tl.load(b_ptr + channel, mask=offs_dv < DV, other=0.0).to(tl.float32)[None, :]
    return acc


@triton.jit
def _output_kernel(q_ptr, s_ptr, z_ptr, o_ptr, v_ptr, w_ptr, b_ptr,
                   sq_b, sq_n, sq_h, sq_d, so_b, so_n, so_h, so_d, sv_b, sv_n, sv_h, sv_d,
                   N, H, DK, DV, chunk, eps, IMG_H, IMG_W,
                   FEATURE: tl.constexpr, PRECISION: tl.constexpr, STATE_DOT: tl.constexpr,
                   HAS_CONV: tl.constexpr, HAS_BIAS: tl.constexpr, KSIZE: tl.constexpr, PACKED_D: tl.constexpr,
                   EVEN_DK: tl.constexpr, EVEN_DV: tl.constexpr,
                   ALIGN: tl.constexpr, BLOCK_DK: tl.constexpr, BLOCK_DV: tl.constexpr, BLOCK_N: tl.constexpr):
    split = tl.program_id(0)
    bh = tl.program_id(1)
    offs_n = tl.arange(0, BLOCK_N)
    offs_dk = tl.arange(0, BLOCK_DK)
    offs_dv = tl.arange(0, BLOCK_DV)
    state, z = _load_state(s_ptr, z_ptr, bh, BLOCK_DK, BLOCK_DV)  # once per chunk of queries
    state = state.to(STATE_DOT)
    if PACKED_D > 0:  # heads of PACKED_D columns side by side, S block-diagonal: column j's z is its own head's
        same_head = (offs_dk[:, None] // PACKED_D) == (offs_dv[None, :] // PACKED_D)
        z_heads = tl.where(same_head, z[:, None], 0.0)  # (BLOCK_DK, BLOCK_DV)
    start = split * chunk
    end = tl.minimum(start + chunk, N)
    q_ptrs, q_row = _head_ptrs(q_ptr, bh, H, start, offs_n, offs_dk, sq_b, sq_n, sq_h, sq_d, ALIGN)
    o_ptrs, o_row = _head_ptrs(o_ptr, bh, H, start, offs_n, offs_dv, so_b, so_n, so_h, so_d, ALIGN)
    v_ptrs, v_row = _head_ptrs(v_ptr, bh, H, start, offs_n, offs_dv, sv_b, sv_n, sv_h, sv_d, ALIGN)
    for n0 in range(start, end, BLOCK_N):
        rows_ok = n0 + offs_n < end
        mask_q = _tile_mask(rows_ok, offs_dk, DK, EVEN_DK, ALIGN)
        q = _features(_load(q_ptrs, mask_q), mask_q, FEATURE)  # (BLOCK_N, BLOCK_DK)
        num = _dot(q, state, None, STATE_DOT, PRECISION)  # (BLOCK_N, BLOCK_DV)
        if PACKED_D > 0:
            out = num / (_dot(q, z_heads, None, tl.float32, PRECISION) + eps)
        else:
            inv_den = 1.0 / (tl.sum(q * z[None, :], axis=1) + eps)  # one division per token, not per element
            out = num * inv_den[:, None]
        if HAS_CONV:
            out += _local_conv(v_ptrs, w_ptr, b_ptr, bh, H, n0 + offs_n, rows_ok, offs_dv, DV, v_row, IMG_H, IMG_W,
                               EVEN_DV, HAS_BIAS, KSIZE, ALIGN)
        tl.store(o_ptrs, out.to(o_ptr.dtype.element_ty), mask=_tile_mask(rows_ok, offs_dv, DV, EVEN_DV, ALIGN))
        q_ptrs += BLOCK_N * q_row
        o_ptrs += BLOCK_N * o_row
        v_ptrs += BLOCK_N * v_row


@triton.jit
def _query_grad_kernel(q_ptr, do_ptr, s_ptr, z_ptr, dq_ptr, ds_ptr, dz_ptr,
                       sq_b, sq_n, sq_h, sq_d, sdo_b, sdo_n, sdo_h, sdo_d, sdq_b, sdq_n, sdq_h, sdq_d,
                       N, H, DK, DV, chunk, eps,
                       FEATURE: tl.constexpr, PRECISION: tl.constexpr, STATE_DOT: tl.constexpr,
                       EVEN_DK: tl.constexpr, EVEN_DV: tl.constexpr,
                       ALIGN: tl.constexpr, BLOCK_DK: tl.constexpr, BLOCK_DV: tl.constexpr, BLOCK_N: tl.constexpr):
    split = tl.program_id(0)
    bh = tl.program_id(1)
    offs_n = tl.arange(0, BLOCK_N)
    offs_dk = tl.arange(0, BLOCK_DK)
    offs_dv = tl.arange(0, BLOCK_DV)
    state, z = _load_state(s_ptr, z_ptr, bh, BLOCK_DK, BLOCK_DV)
    state = state.to(STATE_DOT)
    d_state = tl.zeros((BLOCK_DK, BLOCK_DV), tl.float32)
    d_z = tl.zeros((BLOCK_DK, 16), tl.float32)  # column 0 holds dz
    start = split * chunk
    end = tl.minimum(start + chunk, N)
    q_ptrs, q_row = _head_ptrs(q_ptr, bh, H, start, offs_n, offs_dk, sq_b, sq_n, sq_h, sq_d, ALIGN)
    do_ptrs, do_row = _head_ptrs(do_ptr, bh, H, start, offs_n, offs_dv, sdo_b, sdo_n, sdo_h, sdo_d, ALIGN)
    dq_ptrs, dq_row = _head_ptrs(dq_ptr, bh, H, start, offs_n, offs_dk, sdq_b, sdq_n, sdq_h, sdq_d, ALIGN)
    for n0 in range(start, end, BLOCK_N):
        rows_ok = n0 + offs_n < end
        mask_q = _tile_mask(rows_ok, offs_dk, DK, EVEN_DK, ALIGN)
        q_raw = _load(q_ptrs, mask_q)
        q = _features(q_raw, mask_q, FEATURE)  # (BLOCK_N, BLOCK_DK)
        do = _load(do_ptrs, _tile_mask(rows_ok, offs_dv, DV, EVEN_DV, ALIGN))  # (BLOCK_N, BLOCK_DV)
        inv_den = 1.0 / (tl.sum(q * z[None, :], axis=1) + eps)
        out = _dot(q, state, None, STATE_DOT, PRECISION) * inv_den[:, None]
        d_num = do * inv_den[:, None]
        d_den = -tl.sum(do * out, axis=1) * inv_den
        d_q = _dot(d_num, tl.trans(state), None, STATE_DOT, PRECISION) + d_den[:, None] * z[None, :]
        tl.store(dq_ptrs, (d_q * _feature_grad(q_raw, FEATURE)).to(dq_ptr.dtype.element_ty), mask=mask_q)
        d_state = _dot(tl.trans(q), d_num, d_state, STATE_DOT, PRECISION)
        d_z = _column_sums(q, d_den, d_z, STATE_DOT, PRECISION)
        q_ptrs += BLOCK_N * q_row
        do_ptrs += BLOCK_N * do_row
        dq_ptrs += BLOCK_N * dq_row
    partial = bh * tl.num_programs(0) + split
    tl.store(ds_ptr + partial.to(tl.int64) * BLOCK_DK * BLOCK_DV + offs_dk[:, None] * BLOCK_DV + offs_dv[None, :],
             d_state)
    tl.store(dz_ptr + partial.to(tl.int64) * BLOCK_DK + offs_dk, tl.sum(d_z, axis=1))


@triton.jit
def _key_grad_kernel(k_ptr, v_ptr, gk_ptr, gv_ptr, ds_ptr, dz_ptr, dk_ptr, dv_ptr, dgk_ptr, dgv_ptr,
                     sk_b, sk_n, sk_h, sk_d, sv_b, sv_n, sv_h, sv_d,
                     sgk_b, sgk_n, sgk_h, sgk_d, sgv_b, sgv_n, sgv_h, sgv_d,
                     sdk_b, sdk_n, sdk_h, sdk_d, sdv_b, sdv_n, sdv_h, sdv_d,
                     N, H, DK, DV, chunk,
                     FEATURE: tl.constexpr, HAS_GK: tl.constexpr, HAS_GV: tl.constexpr, GATED_Z: tl.constexpr,
                     PRECISION: tl.constexpr, STATE_DOT: tl.constexpr, EVEN_DK: tl.constexpr, EVEN_DV: tl.constexpr,
                     ALIGN: tl.constexpr, BLOCK_DK: tl.constexpr, BLOCK_DV: tl.constexpr, BLOCK_N: tl.constexpr):
    split = tl.program_id(0)
    bh = tl.program_id(1)
    offs_n = tl.arange(0, BLOCK_N)
    offs_dk = tl.arange(0, BLOCK_DK)
    offs_dv = tl.arange(0, BLOCK_DV)
    d_state, d_z = _load_state(ds_ptr, dz_ptr, bh, BLOCK_DK, BLOCK_DV)  # once per chunk of keys
    d_state = d_state.to(STATE_DOT)
    start = split * chunk
    end = tl.minimum(start + chunk, N)
    k_ptrs, k_row = _head_ptrs(k_ptr, bh, H, start, offs_n, offs_dk, sk_b, sk_n, sk_h, sk_d, ALIGN)
    v_ptrs, v_row = _head_ptrs(v_ptr, bh, H, start, offs_n, offs_dv, sv_b, sv_n, sv_h, sv_d, ALIGN)
    gk_ptrs, gk_row = _head_ptrs(gk_ptr, bh, H, start, offs_n, offs_dk, sgk_b, sgk_n, sgk_h, sgk_d, ALIGN)
    gv_ptrs, gv_row = _head_ptrs(gv_ptr, bh, H, start, offs_n, offs_dv, sgv_b, sgv_n, sgv_h, sgv_d, ALIGN)
    dk_ptrs, dk_row = _head_ptrs(dk_ptr, bh, H, start, offs_n, offs_dk, sdk_b, sdk_n, sdk_h, sdk_d, ALIGN)
    dv_ptrs, dv_row = _head_ptrs(dv_ptr, bh, H, start, offs_n, offs_dv, sdv_b, sdv_n, sdv_h, sdv_d, ALIGN)
    # the gradients of the gates are written in the layout of k and v's gradients
    dgk_ptrs, dgk_row = _head_ptrs(dgk_ptr, bh, H, start, offs_n, offs_dk, sdk_b, sdk_n, sdk_h, sdk_d, ALIGN)
    dgv_ptrs, dgv_row = _head_ptrs(dgv_ptr, bh, H, start, offs_n, offs_dv, sdv_b, sdv_n, sdv_h, sdv_d, ALIGN)
    for n0 in range(start, end, BLOCK_N):
        rows_ok = n0 + offs_n < end
        mask_k = _tile_mask(rows_ok, offs_dk, DK, EVEN_DK, ALIGN)
        mask_v = _tile_mask(rows_ok, offs_dv, DV, EVEN_DV, ALIGN)
        k_raw = _load(k_ptrs, mask_k)
        k = _features(k_raw, mask_k, FEATURE)  # (BLOCK_N, BLOCK_DK)
        v = _load(v_ptrs, mask_v)  # (BLOCK_N, BLOCK_DV)
        keys = k
        values = v
        if HAS_GK:
            a = _sigmoid(_load(gk_ptrs, mask_k))
            keys = a * k
        if HAS_GV:
            b = _sigmoid(_load(gv_ptrs, mask_v))
            values = b * v
        d_keys = _dot(values, tl.trans(d_state), None, STATE_DOT, PRECISION)  # (BLOCK_N, BLOCK_DK)
        d_values = _dot(keys, d_state, None, STATE_DOT, PRECISION)  # (BLOCK_N, BLOCK_DV)
        if GATED_Z:
            d_keys += d_z[None, :]
        d_k = d_keys
        if HAS_GK:
            d_k = d_keys * a
            tl.store(dgk_ptrs, (d_keys * k * a * (1.0 - a)).to(dgk_ptr.dtype.element_ty), mask=mask_k)
        if not GATED_Z:
            d_k += d_z[None, :]
        tl.store(dk_ptrs, (d_k * _feature_grad(k_raw, FEATURE)).to(dk_ptr.dtype.element_ty), mask=mask_k)
        if HAS_GV:
            tl.store(dgv_ptrs, (d_values * v * b * (1.0 - b)).to(dgv_ptr.dtype.element_ty), mask=mask_v)
            d_values = d_values * b
        tl.store(dv_ptrs, d_values.to(dv_ptr.dtype.element_ty), mask=mask_v)
        k_ptrs += BLOCK_N * k_row
        v_ptrs += BLOCK_N * v_row
        gk_ptrs += BLOCK_N * gk_row
        gv_ptrs += BLOCK_N * gv_row
        dk_ptrs += BLOCK_N * dk_row
        dv_ptrs += BLOCK_N * dv_row
        dgk_ptrs += BLOCK_N * dgk_row
        dgv_ptrs += BLOCK_N * dgv_row
