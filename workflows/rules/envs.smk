# Pinned runtime environments: a locked virtualenv / hash-checked build (local mode) or an image (container).


# A changed pin (env_pins, image_pins: the lock, the cmake source/arguments/include script, the
# Containerfile) reruns the rule, which rebuilds, and so reruns the cells on it. The cells depend on the
# runner and lock files themselves too, and `inferboard run-cell` rebuilds a stale environment before it
# starts: env records built by `make envs` (no Snakemake metadata, so no params trigger) are safe as well.


rule env:
    input:
        sources=env_files,
    output:
        env=f"{IB_HOME}/envs/{{runtime}}/env.json",
    log:
        "logs/env/{runtime}.log",
    params:
        ib=IB,
        pins=env_pins,
    conda:
        "../envs/inferboard.yaml"
    shell:
        "{params.ib} env build {wildcards.runtime} > {log} 2>&1"


rule image:
    input:
        sources=image_files,
    output:
        lock=f"{IB_HOME}/images/{{runtime}}-cpu/image.lock",
    log:
        "logs/image/{runtime}.log",
    params:
        ib=IB,
        recipe=image_pins,
    conda:
        "../envs/inferboard.yaml"
    shell:
        "{params.ib} image build {wildcards.runtime} --variant cpu > {log} 2>&1"
