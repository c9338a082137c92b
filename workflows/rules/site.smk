# The static leaderboard site (mkdocs-material), built from the leaderboard and the published cells.
# Rebuilt when the leaderboard, the site sources (site/) or the site code change.


rule site:
    input:
        leaderboard=LEADERBOARD,
        sources=site_sources(),
    output:
        index=f"{SITE_DIR}/index.html",
    log:
        "logs/site.log",
    params:
        ib=IB,
        out=lambda wildcards, output: Path(output.index).parent,
        project=lambda wildcards, output: f"{Path(output.index).parent}-src",
    conda:
        "../envs/inferboard.yaml"
    shell:
        "{params.ib} site build --data {input.leaderboard} --out {params.out} --root ."
        " --project {params.project} > {log} 2>&1"
