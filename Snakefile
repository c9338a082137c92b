# inferboard: the benchmark matrix as a workflow. Table of contents only; logic lives in inferboard/.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "workflows/config/config.yaml"


# the schema only checks; the defaults come from the pydantic model (parse_config). Snakemake filling them in
# would write a null default into nested objects and then fail on it (e.g. matrix[].overrides.load)
validate(config, "workflows/schemas/config.schema.json", set_default=False)


include: "workflows/rules/common.smk"
include: "workflows/rules/envs.smk"
include: "workflows/rules/models.smk"
include: "workflows/rules/cells.smk"
include: "workflows/rules/aggregate.smk"
include: "workflows/rules/site.smk"


rule all:
    input:
        leaderboard=LEADERBOARD,
        cells=result_cells(),
        site=[f"{SITE_DIR}/index.html"] if SITE_DIR else [],
    default_target: True
