# Pinned runtime environments: a locked virtualenv / hash-checked build (local mode) or an image (container).


rule env:
    output:
        env=f"{IB_HOME}/envs/{{runtime}}/env.json",
    log:
        "logs/env/{runtime}.log",
    params:
        ib=IB,
    conda:
        "../envs/inferboard.yaml"
    shell:
        "{params.ib} env build {wildcards.runtime} > {log} 2>&1"


rule image:
    output:
        lock=f"{IB_HOME}/images/{{runtime}}-cpu/image.lock",
    log:
        "logs/image/{runtime}.log",
    params:
        ib=IB,
    conda:
        "../envs/inferboard.yaml"
    shell:
        "{params.ib} image build {wildcards.runtime} --variant cpu > {log} 2>&1"
