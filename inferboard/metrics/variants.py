"""Other tools' names for the same quantities, exported so results compare with theirs.

Each is an alias of one of our metrics with the other tool's definition restated:
- vLLM ``benchmark_serving``: TPOT excludes the first token, ITL is pooled chunk gaps, E2EL = E2E.
- AIPerf: ``inter_token_latency`` = (request_latency − TTFT)/(OSL − 1) (our TPOT);
  ``inter_chunk_latency`` = gaps between chunks (our ITL); ``request_latency`` = our E2E.
- guidellm: ``time_per_output_token_ms`` = request latency / output tokens (our NTPOT, first token
  included); ``inter_token_latency_ms`` = (latency − TTFT)/(output tokens − 1) (our TPOT).
"""

from __future__ import annotations

#: tool-named distribution → our distribution it equals
ALIASES: dict[str, str] = {
    "vllm_tpot_ms": "tpot_ms",
    "vllm_itl_ms": "itl_ms",
    "vllm_e2el_ms": "e2e_ms",
    "aiperf_inter_token_latency_ms": "tpot_ms",
    "aiperf_inter_chunk_latency_ms": "itl_ms",
    "aiperf_request_latency_ms": "e2e_ms",
    "guidellm_time_per_output_token_ms": "ntpot_ms",
    "guidellm_inter_token_latency_ms": "tpot_ms",
}
#: statistics exported for each alias (the full set stays under our own name)
ALIAS_STATS: tuple[str, ...] = ("mean", "p50", "p99")
