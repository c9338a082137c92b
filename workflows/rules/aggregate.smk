# The leaderboard: every published cell (the CPU matrix and any other committed cells, e.g. GPU cells
# from the device check), and the local leaderboard of results/ for reruns.


rule aggregate:
    input:
        cells=published_cells() + other_published_cells(),
    output:
        parquet=LEADERBOARD,
    log:
        "logs/aggregate.log",
    params:
        ib=IB,
    conda:
        "../envs/inferboard.yaml"
    shell:
        "{params.ib} aggregate --out {output.parquet} {input.cells} > {log} 2>&1"


rule aggregate_results:
    input:
        cells=result_cells(),
    output:
        parquet=f"{RESULTS}/leaderboard.parquet",
    log:
        "logs/aggregate-results.log",
    params:
        ib=IB,
    conda:
        "../envs/inferboard.yaml"
    shell:
        "{params.ib} aggregate --out {output.parquet} {input.cells} > {log} 2>&1"
