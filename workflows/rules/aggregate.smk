# The leaderboard: the accepted bundles of data/submissions/ (checked again), and this machine's cells of results/
# shown apart as "local, not submitted".


rule leaderboard:
    input:
        cells=result_cells(),
        submissions=submission_files(),
        checker=checker_sources(),
    output:
        parquet=LEADERBOARD,
    log:
        "logs/leaderboard.log",
    params:
        ib=IB,
        submissions=f"--submissions {SUBMISSIONS}" if SUBMISSIONS else "",
        results=lambda wc: RESULTS,  # the folder the local cells are in (none may be finished yet)
    conda:
        "../envs/inferboard.yaml"
    shell:
        "{params.ib} leaderboard {params.submissions} --local {params.results:q} "
        "--out {output.parquet} --root . > {log} 2>&1"
