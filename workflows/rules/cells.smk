# One benchmark cell = runtime × model × workload on one SKU. A failed cell leaves cell.json with its
# reason and the workflow goes on. `bench` = 1 per host: two cells never share the machine (or a GPU).


rule run_cell:
    # Everything a cell's measurement depends on; an edit to any of them reruns exactly the cells using it.
    # The host's fingerprint is taken by the cell itself, into its provenance.
    input:
        workload=workload_input,
        runner=runner_input,
        env=env_input,
        model=model_input,
    output:
        status=f"{RESULTS}/{{sku}}/{{runtime}}/{{model}}/{{workload}}/cell.json",
    log:
        "logs/cells/{sku}/{runtime}/{model}/{workload}.log",
    # the job's CPUs: threads too, which the kubernetes executor turns into the pod's cpu request
    threads: cpus_for
    resources:
        bench=1,
        gpu=gpus_for,
        # from `cluster:` of the config (or the SKU's defaults), never from the profile: slurm --cpus-per-task and
        # --mem, the pod's memory
        cpus_per_task=cpus_for,
        mem_mb=mem_for,
        gres=gres_for,
        constraint=constraint_for,
        slurm_partition=partition_for,
        gpu_manufacturer=manufacturer_for,
        machine_type=machine_type_for,
        runtime=runtime_for,
    params:
        ib=IB,
        results=lambda wc, output: str(Path(output.status).parents[4]),
        # the cell of this (merged) config, not of the default file; a changed matrix entry reruns its cell
        spec=lambda wc: cell_of(wc).to_json(),
        # the SKU's figures and the model's entry the cell snapshots into its provenance (roofline, validity):
        # a corrected figure reruns the cells that use it
        catalogue=catalogue_of,
    conda:
        "../envs/inferboard.yaml"
    shell:
        "{params.ib} run-cell {wildcards.sku}/{wildcards.runtime}/{wildcards.model}/{wildcards.workload} "
        "--results {params.results} --cell-spec {params.spec:q} > {log} 2>&1"
