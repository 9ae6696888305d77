"""The CI templates in ``examples/ci/`` run as their CI would run them: the shell of each
step (GitHub Actions) or job (GitLab CI), in fresh clones checked out as those services
check them out, against a bare repository with a reviewed pull request and a merge.

Only the steps that install gitmodel or talk to the hosting service's API are left out
(``install``, ``comment``, and steps that ``uses:`` an action); the test checks that no
other step is."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from conftest import git_model, git_out, run_git
from helpers.model_files import write_safetensors
from test_log_integrity import forge

EXAMPLES = Path(__file__).parent.parent / "examples" / "ci"
SKIPPED_STEPS = {"install", "comment"}
_IF = re.compile(r"steps\.(\w+)\.outputs\.(\w+) != '(.*)'")
REGISTRY = {"models": {"clf": {"paths": ["model"], "policy": {
    "staging": {"metrics": {"accuracy": ">= 0.9"}}}}}}  # fmt: skip


def write_model(work: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    write_safetensors(work / "model" / "clf.safetensors",
                      {f"layer{i}.weight": rng.standard_normal((32, 32)).astype(np.float32)
                       for i in range(3)})  # fmt: skip


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    """A bare origin: clf v1 on main (production holds it), and two pull request branches,
    ``tune`` (accuracy 0.95) and ``bad`` (no metric)."""
    origin = tmp_path / "origin.git"
    run_git("init", "-q", "--bare", str(origin), cwd=tmp_path)
    dev = tmp_path / "dev"
    run_git("clone", "-q", str(origin), str(dev), cwd=tmp_path)
    git_model("install", "--local", cwd=dev)
    git_model("track", "*.safetensors", cwd=dev)
    (dev / "model").mkdir()
    (dev / ".gitmodel-registry.json").write_text(json.dumps(REGISTRY))
    write_model(dev, 1)
    run_git("add", ".", cwd=dev)
    run_git("commit", "-qm", "clf v1", cwd=dev)
    git_model("promote", "clf", "production", cwd=dev)
    run_git("push", "-q", "origin", "main", cwd=dev)
    for branch, seed, metric in (("tune", 2, "0.95"), ("bad", 3, None)):
        run_git("switch", "-qc", branch, "main", cwd=dev)
        write_model(dev, seed)
        run_git("commit", "-qam", f"clf: {branch}", cwd=dev)
        if metric:
            git_model("annotate", "model/clf.safetensors", "--metric", f"accuracy={metric}",
                      cwd=dev)  # fmt: skip
        run_git("push", "-q", "origin", branch, cwd=dev)  # the hook pushes the logs
    return origin


def ci_clone(origin: Path, where: Path, rev: str, branch: str | None = None) -> Path:
    """A clone as CI checks it out: ``rev`` detached with no local branches (a pull
    request's merge ref, GitLab's checkout), or ``branch`` checked out (a push)."""
    run_git("clone", "-q", "--no-checkout", str(origin), str(where), cwd=origin.parent)
    commit = git_out("rev-parse", f"origin/{rev}", cwd=where).strip()
    if branch:
        run_git("checkout", "-q", "-B", branch, commit, cwd=where)
    else:
        run_git("checkout", "-q", "--detach", commit, cwd=where)
        run_git("branch", "-D", "main", cwd=where)
    return where


def run_shell(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``script`` in bash as runners start it, without the tests' Git identity (a runner
    has none: the templates set their own)."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("GIT_AUTHOR_", "GIT_COMMITTER_"))}  # fmt: skip
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                          cwd=cwd, env={**base, **env}, capture_output=True, text=True,
                          check=False)  # fmt: skip


def run_github_job(workflow: dict[str, Any], job: str, cwd: Path, env: dict[str, str]
                   ) -> tuple[int, dict[str, str], list[str]]:  # fmt: skip
    """Run a job's ``run:`` steps in order, as the runner would; (exit status of the job,
    the step outputs, the ids of the steps that ran)."""
    outputs: dict[str, dict[str, str]] = {}
    ran = []
    base = {**{k: str(v) for k, v in workflow["env"].items()}, **env}
    for step in workflow["jobs"][job]["steps"]:
        if "uses" in step or step["id"] in SKIPPED_STEPS:
            continue
        if "if" in step:
            want = _IF.fullmatch(step["if"])
            assert want, f"the test cannot evaluate {step['if']!r}"
            if outputs.get(want[1], {}).get(want[2]) == want[3]:
                continue
        out_file = cwd.parent / f"{step['id']}.out"
        out_file.write_text("")
        proc = run_shell(step["run"], cwd, {**base, **step.get("env", {}),
                                            "GITHUB_OUTPUT": str(out_file)})  # fmt: skip
        ran.append(step["id"])
        outputs[step["id"]] = dict(line.split("=", 1) for line in out_file.read_text().split())
        if proc.returncode:
            return proc.returncode, outputs.get("review", {}), ran
    return 0, outputs.get("review", {}), ran


def test_github_actions_reviews_pull_requests_and_promotes_merges(
    origin: Path, tmp_path: Path
) -> None:
    workflow = yaml.safe_load((EXAMPLES / "github-actions.yml").read_text())
    assert {s.get("id") for j in workflow["jobs"].values() for s in j["steps"]
            if "run" in s} - SKIPPED_STEPS == {"review", "verdict", "promote"}  # fmt: skip
    summary = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_EVENT_NAME": "pull_request"}

    good = ci_clone(origin, tmp_path / "pr-tune", "tune")
    code, outputs, ran = run_github_job(workflow, "review", good, env)
    assert (code, outputs, ran) == (0, {"status": "0"}, ["review"])
    report = (good / "review.md").read_text()
    assert report.startswith("## Model review: clf HEAD \\(")
    assert "against production \\(v1\\)" in report
    assert "**Policy dry run for staging:** ✅ passes" in report
    assert "| accuracy | \\- | 0.95 |" in report and "layer0.weight" in report
    assert summary.read_text() == report
    assert "<svg" in (good / "review.html").read_text()

    bad = ci_clone(origin, tmp_path / "pr-bad", "bad")
    code, outputs, ran = run_github_job(workflow, "review", bad, env)
    assert (code, outputs, ran) == (1, {"status": "1"}, ["review", "verdict"])
    assert "has no accuracy metric" in (bad / "review.md").read_text()

    dev = tmp_path / "dev"  # the pull request is merged
    run_git("switch", "-q", "main", cwd=dev)
    run_git("merge", "-q", "--ff-only", "tune", cwd=dev)
    run_git("push", "-q", "origin", "main", cwd=dev)
    main = ci_clone(origin, tmp_path / "push-main", "main", branch="main")
    sha = git_out("rev-parse", "HEAD", cwd=main).strip()
    code, _, ran = run_github_job(workflow, "promote", main, {"GITHUB_SHA": sha})
    assert (code, ran) == (0, ["promote"])
    state = json.loads(git_out("show", "refs/gitmodel/registry:state.json", cwd=origin))
    [held] = state["models"]["clf"]["stages"]["staging"]
    assert (held["version"], held["commit"]) == (2, sha)
    by = git_out("log", "-1", "--format=%an <%ae>", "refs/gitmodel/registry", cwd=origin)
    assert by.strip() == "model-ci <model-ci@users.noreply.github.com>"


def test_gitlab_ci_reviews_merge_requests_and_promotes_merges(
    origin: Path, tmp_path: Path
) -> None:
    pipeline = yaml.safe_load((EXAMPLES / "gitlab-ci.yml").read_text())
    assert pipeline["default"]["before_script"] == ['python -m pip install "$GITMODEL_PIP"']
    variables = {k: str(v) for k, v in pipeline["variables"].items()}
    env = {**variables, "CI_DEFAULT_BRANCH": "main", "CI_PIPELINE_SOURCE": "merge_request_event"}

    def job(name: str, cwd: Path, extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
        script = "\n".join(pipeline[name]["script"])  # one shell, line by line, as the runner
        return run_shell(script, cwd, {**env, **extra})

    good = ci_clone(origin, tmp_path / "mr-tune", "tune")
    proc = job("review", good, {})
    assert proc.returncode == 0, proc.stderr
    assert "**Policy dry run for staging:** ✅ passes" in proc.stdout
    assert (good / "review.html").is_file()
    bad = ci_clone(origin, tmp_path / "mr-bad", "bad")
    proc = job("review", bad, {})
    assert proc.returncode == 1
    assert "❌ 1 rule(s) fail" in (bad / "review.md").read_text()

    dev = tmp_path / "dev"
    run_git("switch", "-q", "main", cwd=dev)
    run_git("merge", "-q", "--ff-only", "tune", cwd=dev)
    run_git("push", "-q", "origin", "main", cwd=dev)
    main = ci_clone(origin, tmp_path / "main-pipeline", "main")  # detached, as GitLab does
    sha = git_out("rev-parse", "HEAD", cwd=main).strip()
    proc = job("promote", main, {"CI_COMMIT_SHA": sha, "CI_COMMIT_BRANCH": "main"})
    assert proc.returncode == 0, proc.stderr
    git_model("fetch", "-q", cwd=dev)
    [promoted, _] = json.loads(git_model("history", "clf", "--json", cwd=dev).stdout)
    assert (promoted["stage"], promoted["message"]) == ("staging", f"merged {sha}")
    assert promoted["by"]["name"] == "model-ci"


def test_the_templates_take_no_damaged_registry_log(origin: Path, tmp_path: Path) -> None:
    """The logs come through ``git model fetch --logs-only``, which checks them: a
    registry log rewritten on the remote (a stage's holder edited by hand) fails the
    jobs, and nothing is reviewed or promoted on it."""
    workflow_text = (EXAMPLES / "github-actions.yml").read_text()
    pipeline_text = (EXAMPLES / "gitlab-ci.yml").read_text()
    for text in (workflow_text, pipeline_text):
        assert "+refs/gitmodel/" not in text and "git model fetch --logs-only" in text
    dev = tmp_path / "dev"
    tip = git_out("rev-parse", "refs/gitmodel/registry", cwd=dev).strip()
    state = json.loads(git_out("show", f"{tip}:state.json", cwd=dev))
    record = json.loads(git_out("show", f"{tip}:record.json", cwd=dev))
    bad = git_out("rev-parse", "origin/bad", cwd=dev).strip()
    state["models"]["clf"]["stages"]["production"][0]["commit"] = bad
    forged = forge(dev, "refs/gitmodel/registry", {**state, "records": 2}, record)
    run_git("push", "-q", "--no-verify", "origin", "refs/gitmodel/registry", cwd=dev)
    damaged = f"the registry log on origin is damaged at commit {forged[:12]}"

    workflow = yaml.safe_load(workflow_text)
    env = {"GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
    pr = ci_clone(origin, tmp_path / "pr-tune", "tune")
    code, _, ran = run_github_job(workflow, "review", pr, env)
    assert (code, ran) == (1, ["review"])
    assert not (pr / "review.md").exists()
    main = ci_clone(origin, tmp_path / "push-main", "main", branch="main")
    code, _, ran = run_github_job(workflow, "promote", main, {"GITHUB_SHA": "x"})
    assert (code, ran) == (1, ["promote"])
    assert git_out("rev-parse", "refs/gitmodel/registry", cwd=origin).strip() == forged

    pipeline = yaml.safe_load(pipeline_text)
    env = {**{k: str(v) for k, v in pipeline["variables"].items()}, "CI_DEFAULT_BRANCH": "main"}
    for job, where in (("review", "mr-tune"), ("promote", "main-pipeline")):
        clone = ci_clone(origin, tmp_path / where, "tune" if job == "review" else "main")
        proc = run_shell("\n".join(pipeline[job]["script"]), clone,
                         {**env, "CI_COMMIT_SHA": "x"})  # fmt: skip
        assert proc.returncode == 1 and damaged in proc.stderr, proc.stderr
        taken = run_git("show-ref", "--verify", "--quiet", "refs/gitmodel/registry",
                        cwd=clone, check=False)  # fmt: skip
        assert taken.returncode != 0  # nothing was taken
    assert git_out("rev-parse", "refs/gitmodel/registry", cwd=origin).strip() == forged
