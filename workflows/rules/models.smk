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
