"""Compute an accuracy reference: greedy tokens and top-5 log-probabilities of every prompt of a prompt set.

An implementation independent of both runtimes under test: Hugging Face transformers on PyTorch, float32, on
the model folder's safetensors, one prompt at a time (no batching, no padding), with its KV cache. Run it once
per model and commit the output; the catalogue pins its SHA-256 (workflows/accuracy/README.md says how):

    <python with torch and transformers> workflows/accuracy/reference.py MODEL_DIR PROMPTS.yaml OUT.json

Standard library, torch, transformers and PyYAML only: it does not import inferboard.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

TOP_K = 5


def main(model_dir: str, prompts_file: str, out: str) -> None:
    import torch
    import transformers
    import yaml
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    torch.set_num_threads(1)  # one reduction order: two runs give the same file
    raw = Path(prompts_file).read_bytes()
    spec = yaml.safe_load(raw)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    gen = json.loads((Path(model_dir) / "generation_config.json").read_text())
    eos = gen["eos_token_id"] if isinstance(gen["eos_token_id"], list) else [gen["eos_token_id"]]
    manifest = json.loads((Path(model_dir) / "manifest.json").read_text())
    items = []
    for kind in ("completion", "chat"):
        for prompt in spec[kind]:
            if kind == "chat":
                text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                               add_generation_prompt=True)
                ids = tok(text, add_special_tokens=False)["input_ids"]
            else:
                ids = tok(prompt)["input_ids"]
            tokens, top = [], []
            past = None
            step = torch.tensor([ids])
            with torch.no_grad():
                for _ in range(spec["max_tokens"]):
                    res = model(input_ids=step, past_key_values=past, use_cache=True)
                    past = res.past_key_values
                    logp = torch.log_softmax(res.logits[0, -1].float(), dim=-1)
                    vals, idx = torch.topk(logp, TOP_K)
                    nxt = int(idx[0])
                    tokens.append(nxt)
                    top.append([[int(i), round(float(v), 6)] for v, i in zip(vals, idx, strict=True)])
                    if nxt in eos:
                        break
                    step = torch.tensor([[nxt]])
            items.append({"kind": kind, "prompt": prompt, "prompt_ids": ids, "tokens": tokens, "top": top,
                          "text": tok.decode(tokens, skip_special_tokens=True)})
    doc = {"schema_version": 1, "prompt_set": spec["name"],
           "prompt_set_sha256": "sha256:" + hashlib.sha256(raw).hexdigest(),
           "model": manifest["name"], "model_revision": manifest["revision"], "max_tokens": spec["max_tokens"],
           "top_k": TOP_K, "eos_ids": eos,
           "implementation": {"name": "transformers", "version": transformers.__version__,
                              "torch": torch.__version__, "dtype": "float32", "threads": 1},
           "prompts": items}
    Path(out).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:4])
