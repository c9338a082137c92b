"""The GitHub Actions workflows (.github/workflows): lint-clean, and safe with pull requests from anyone.

intake.yml runs on pull requests that add submission bundles: it must never run the pull request's code, hold a
write token or a secret, or expand attacker-controlled text inside a shell script. publish.yml deploys the site.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
INTAKE = WORKFLOWS / "intake.yml"
PUBLISH = WORKFLOWS / "publish.yml"
VENV = ".venv"  # the Makefile's default $(VENV)

PINNED_USES = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(/[^@\s]+)?@[0-9a-f]{40}$")
BASE_SHA = "${{ github.event.pull_request.base.sha }}"
INTAKE_COMMAND = '.venv/bin/inferboard intake --base "$BASE_SHA" --head "$HEAD_SHA" --report "$GITHUB_STEP_SUMMARY"'


def _lint_commands() -> dict[str, list[str]]:
    """The actionlint and zizmor lines of the Makefile's `lint:` recipe, as argv (so the test runs what make runs)."""
    recipe = re.search(r"^lint:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), flags=re.MULTILINE)
    assert recipe, "no lint: target in the Makefile"
    commands = {}
    for line in recipe.group(1).splitlines():
        argv = shlex.split(line.strip().replace("$(VENV)", VENV))
        tool = Path(argv[0]).name
        if tool in ("actionlint", "zizmor"):
            commands[tool] = argv
    assert set(commands) == {"actionlint", "zizmor"}, recipe.group(1)
    return commands


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = argv[0] if Path(argv[0]).is_absolute() else str(ROOT / argv[0])
    return subprocess.run([exe, *argv[1:]], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def _load(path: Path) -> dict[Any, Any]:
    workflow = yaml.safe_load(path.read_text())
    assert isinstance(workflow, dict), path
    return workflow


def _triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` key as True
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    assert isinstance(on, dict)
    return on


def _steps(workflow: dict[Any, Any]) -> Iterator[dict[str, Any]]:
    for job in workflow["jobs"].values():
        yield from job.get("steps", [])


def _walk(node: Any) -> Iterator[str]:
    """Every key and scalar of a parsed YAML document, as text."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)
    else:
        yield str(node)


@pytest.mark.parametrize("tool", ["actionlint", "zizmor"])
def test_workflows_pass_the_linters_of_make_lint(tool: str) -> None:
    argv = _lint_commands()[tool]
    proc = _run(argv, ROOT)
    assert proc.returncode == 0, f"{shlex.join(argv)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"


def test_zizmor_reports_an_unpinned_action_and_a_template_injection(tmp_path: Path) -> None:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "bad.yml").write_text(
        "name: bad\n"
        "on: pull_request\n"
        "permissions:\n"
        "  contents: read\n"
        "jobs:\n"
        "  greet:\n"
        "    runs-on: ubuntu-24.04\n"
        "    steps:\n"
        "      - uses: actions/checkout@v4\n"
        "        with:\n"
        "          persist-credentials: false\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n'
    )
    argv = _lint_commands()["zizmor"]
    proc = _run(argv, tmp_path)  # the same flags and the same `.github/` argument, in the temporary tree
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert "unpinned-uses" in output, output
    assert "template-injection" in output, output


def test_every_action_is_pinned_to_a_commit_with_its_version_noted() -> None:
    for path in (INTAKE, PUBLISH):
        workflow = _load(path)
        uses = [s["uses"] for s in _steps(workflow) if "uses" in s]
        uses += [job["uses"] for job in workflow["jobs"].values() if "uses" in job]
        assert uses, path
        for ref in uses:
            assert PINNED_USES.match(ref), f"{path.name}: {ref} is not pinned to a full commit SHA"
        for line in path.read_text().splitlines():
            if re.match(r"\s*(- )?uses:", line):
                assert re.search(r"@[0-9a-f]{40} # v\d+(\.\d+)*$", line), f"{path.name}: no version comment: {line}"


def test_no_workflow_runs_on_pull_request_target() -> None:
    for path in (INTAKE, PUBLISH):
        triggers = _triggers(_load(path))
        assert "pull_request_target" not in triggers, path
        assert "workflow_run" not in triggers, path


def test_no_expression_inside_a_run_script() -> None:
    for path in (INTAKE, PUBLISH):
        for step in _steps(_load(path)):
            assert "${{" not in step.get("run", ""), f"{path.name}: {step.get('name')}: pass values through env:"


def test_every_checkout_drops_its_credentials() -> None:
    for path in (INTAKE, PUBLISH):
        checkouts = [s for s in _steps(_load(path)) if s.get("uses", "").startswith("actions/checkout@")]
        assert checkouts, path
        for step in checkouts:
            assert step.get("with", {}).get("persist-credentials") is False, f"{path.name}: {step.get('name')}"


def test_intake_reads_the_pull_request_with_a_read_only_token_and_no_secret() -> None:
    workflow = _load(INTAKE)
    assert list(_triggers(workflow)) == ["pull_request"]
    assert workflow["permissions"] == {"contents": "read"}
    assert all("permissions" not in job for job in workflow["jobs"].values())  # no job widens it
    assert not [text for text in _walk(workflow) if "secrets." in text or text == "secrets"]
    assert "secrets." not in INTAKE.read_text()


def test_intake_runs_the_base_branch_checker_and_never_checks_out_the_head() -> None:
    workflow = _load(INTAKE)
    steps = list(_steps(workflow))
    checkouts = [s for s in steps if s.get("uses", "").startswith("actions/checkout@")]
    assert len(checkouts) == 1
    assert checkouts[0]["with"]["ref"] == BASE_SHA
    assert checkouts[0]["with"]["fetch-depth"] == 0
    scripts = "\n".join(s.get("run", "") for s in steps)
    assert "make install" in scripts
    assert INTAKE_COMMAND in scripts
    for verb in ("checkout", "switch", "worktree", "reset", "merge", "pull", "restore"):
        assert not re.search(rf"\bgit\s+(-\S+\s+)*{verb}\b", scripts), verb


def test_publish_grants_each_job_only_what_it_needs() -> None:
    workflow = _load(PUBLISH)
    assert set(_triggers(workflow)) == {"push", "workflow_dispatch"}
    assert workflow["permissions"] == {}
    assert workflow["concurrency"] == {"group": "pages", "cancel-in-progress": False}
    jobs = workflow["jobs"]
    assert jobs["build"]["permissions"] == {"contents": "read"}
    assert jobs["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    assert jobs["deploy"]["environment"]["name"] == "github-pages"
    assert all("timeout-minutes" in job for job in jobs.values())
