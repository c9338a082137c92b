# The host's fingerprint (CPU; every GPU through NVML), kept beside the results it describes.


rule fingerprint:
    output:
        json=f"{RESULTS}/fingerprint.json",
    log:
        "logs/fingerprint.log",
    params:
        ib=IB,
    conda:
        "../envs/inferboard.yaml"
    shell:
        "{params.ib} fingerprint > {output.json} 2> {log}"
