"""Physical limits of a model on a SKU, used to reject implausible rows.

Decode is memory-bound at small batch: each step reads every active weight once and each sequence's
KV cache, so ``decode_tokens_per_s ≤ B·g·BW / (N·b_w + B·C·k)`` with B sequences, g GPUs, memory
bandwidth BW, N active parameters of b_w bytes, C tokens of context per sequence and k KV-cache bytes
per token. The compute bound ``B·g·F / (2N + …)`` is reported too and the smaller one is the limit.
Prefill of L prompt tokens is compute-bound: ``TTFT ≥ L·(2N + 2·layers·L·d) / (g·F)`` with d the
attention width (heads × head_dim) and F the dense tensor FLOP/s of the weights' precision.
"""

from __future__ import annotations

from typing import Any

from inferboard.core.errors import InferboardError
from inferboard.hardware.sku import Sku
from inferboard.models.catalog import DTYPE_BYTES, ModelEntry


def _flops(sku: Sku, dtype: str) -> float | None:
    tflops = sku.fp8_dense_tflops if dtype in ("float8_e4m3", "mxfp4") else sku.bf16_dense_tflops
    return tflops * 1e12 if tflops else None


def roofline(model: ModelEntry, sku: Sku, *, batch: int = 1, context_tokens: int = 0, prompt_tokens: int = 1024,
             gpus: int = 1, dtype: str | None = None) -> dict[str, Any]:
    """Decode and prefill limits; raises when the SKU lacks the figures they need."""
    if sku.memory_bandwidth_tbps is None:
        raise InferboardError(f"sku {sku.id} has no sourced memory bandwidth", field="memory_bandwidth_tbps",
                              fix="add a sourced figure to hardware/skus.yaml")
    dt = dtype or model.dtype
    bw = sku.memory_bandwidth_tbps * 1e12 * gpus
    n, bytes_w, k = model.active_parameters, DTYPE_BYTES[dt], model.kv_bytes_per_token
    step_bytes = n * bytes_w + batch * context_tokens * k
    mem_tps = batch * bw / step_bytes
    flops = _flops(sku, dt)
    d = model.attention_heads * model.head_dim
    out: dict[str, Any] = {
        "model": model.id, "sku": sku.id, "batch": batch, "gpus": gpus, "dtype": dt,
        "context_tokens": context_tokens, "prompt_tokens": prompt_tokens,
        "weight_bytes": n * bytes_w, "kv_bytes_per_token": k,
        "decode_tokens_per_s_memory_bound": mem_tps, "decode_tokens_per_s_compute_bound": None,
        "prefill_ttft_ms": None,
    }
    limit = mem_tps
    if flops:
        per_token = 2 * n + 4 * model.layers * context_tokens * d  # weights + attention over the context
        comp_tps = batch * flops * gpus / per_token
        out["decode_tokens_per_s_compute_bound"] = comp_tps
        limit = min(mem_tps, comp_tps)
        L = prompt_tokens
        out["prefill_ttft_ms"] = L * (2 * n + 2 * model.layers * L * d) / (gpus * flops) * 1e3
    out["decode_tokens_per_s"] = limit
    out["decode_tokens_per_s_per_user"] = limit / batch
    out["bound"] = "memory" if limit == mem_tps else "compute"
    return out


def row_limits(row: dict[str, Any], model: ModelEntry | None, sku: Sku | None) -> dict[str, Any]:
    """Roofline fields of one summary row (nulls with a reason when not applicable)."""
    blank = {"roofline_decode_tokens_per_s": None, "roofline_efficiency_pct": None, "roofline_reason": None}
    if sku is None or sku.kind != "gpu":
        return {**blank, "roofline_reason": "no GPU SKU"}
    if model is None:
        return {**blank, "roofline_reason": "model not in workflows/models.yaml"}
    if sku.memory_bandwidth_tbps is None:
        return {**blank, "roofline_reason": f"{sku.id} has no sourced memory bandwidth"}
    rps = row.get("requests_per_s") or 0.0
    if row.get("load_kind") == "concurrency":
        batch = max(1, round(row.get("load_value") or 1))
    else:  # Little's law: requests in flight = arrival rate × time in the system
        batch = max(1, round(rps * (row.get("e2e_ms_mean") or 0.0) / 1000.0))
    ctx = 0
    if rps:
        ctx = int(((row.get("input_tokens_per_s") or 0) + (row.get("output_tokens_per_s") or 0) / 2) / rps)
    lim = roofline(model, sku, batch=batch, context_tokens=ctx, gpus=max(1, row.get("gpu_count") or 1))
    measured = row.get("output_tokens_per_s")
    eff = 100.0 * measured / lim["decode_tokens_per_s"] if measured is not None else None
    return {"roofline_decode_tokens_per_s": lim["decode_tokens_per_s"], "roofline_efficiency_pct": eff,
            "roofline_reason": None}
