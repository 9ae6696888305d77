"""Registry: declared models, numbered versions, promote/rollback/unassign, audited history,
weighted stages, resolve, checkout, the promotion policy, and races (local and remote)."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    SCRIPTS_DIR,
    corrupt_object,
    git_model,
    git_out,
    repo_store,
    run_git,
    sha256_file,
)

import gitmodel
from gitmodel import git, registry
from gitmodel.cli import main
from gitmodel.errors import UserError
from gitmodel.installation import filter_config
from gitmodel.registry import stages

IDENTITY = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Committer",
    "GIT_COMMITTER_EMAIL": "committer@example.com",
}
RETRY_HINT = b"hint: nothing was written; run the command again"


def commit_files(repo: Path, message: str, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_bytes(data)
    run_git("add", "-A", cwd=repo)
    run_git("commit", "-qm", message, cwd=repo)


def make_versions(work: Path) -> None:
    """clf = models/clf/ (weights + plain config): v1, a code-only commit, v2, v3."""
    attributes = b"*.bin filter=model diff=model merge=model -text\n"
    commit_files(work, "track", {".gitattributes": attributes})
    commit_files(work, "clf v1", {"models/clf/weights.bin": os.urandom(2000),
                                  "models/clf/config.json": b'{"layers": 1}\n'})  # fmt: skip
    git_model("register", "clf", "models/clf", "-d", "ticket classifier", cwd=work)
    run_git("commit", "-qm", "register clf", cwd=work)
    commit_files(work, "code only", {"src/train.py": b"print('train')\n"})
    commit_files(work, "clf v2", {"models/clf/weights.bin": os.urandom(2000)})
    commit_files(work, "clf v3", {"models/clf/weights.bin": os.urandom(2001),
                                  "models/clf/config.json": b'{"layers": 2}\n'})  # fmt: skip
    run_git("push", "-q", "-u", "origin", "main", cwd=work)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare origin and a clone with three versions of clf, built once per module."""
    base = tmp_path_factory.mktemp("registry")
    home = base / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    with pytest.MonkeyPatch.context() as env:
        for key, value in {**IDENTITY, "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1"}.items():
            env.setenv(key, value)
        if SCRIPTS_DIR not in os.environ["PATH"].split(os.pathsep):
            env.setenv("PATH", SCRIPTS_DIR + os.pathsep + os.environ["PATH"])
        repos = base / "repos"
        repos.mkdir()
        run_git("init", "-q", "--bare", "origin.git", cwd=repos)
        run_git("clone", "-q", "origin.git", "work", cwd=repos)
        git_model("install", "--local", cwd=repos / "work")
        make_versions(repos / "work")
        return repos


@pytest.fixture
def work(built: Path, tmp_path: Path) -> Path:
    """A private copy of the scenario (clone + bare origin), filter installed globally."""
    shutil.copytree(built, tmp_path / "repos", symlinks=True)
    repo = tmp_path / "repos" / "work"
    run_git("remote", "set-url", "origin", str(tmp_path / "repos" / "origin.git"), cwd=repo)
    for key, value in filter_config(skip_smudge=False).items():  # global, as `install` does:
        run_git("config", "--global", key, value, cwd=tmp_path)  # clones get filter and hooks
    return repo


@pytest.fixture
def shared(built: Path) -> Path:
    """The scenario's clone itself, for tests that change nothing."""
    return built / "work"


@pytest.fixture
def origin(work: Path) -> Path:
    return work.parent / "origin.git"


@dataclass
class Cli:
    """``git model …`` run in-process through the real entry point (one Python start per
    test instead of one per command); hooks and concurrent runs still use real processes."""

    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    def run(self, repo: Path, *args: str, check: bool = True) -> tuple[int, str, str]:
        self.monkeypatch.chdir(repo)
        self.monkeypatch.setattr(sys, "argv", ["git-model", *args])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = self.capsys.readouterr()
        if check and code:
            raise AssertionError(f"git model {' '.join(args)} failed ({code}):\n{err}")
        return code, out, err

    def json(self, repo: Path, *args: str) -> Any:
        return json.loads(self.run(repo, *args, "--json")[1])

    def held(self, repo: Path, stage: str) -> list[tuple[int, int]]:
        """(version, weight) pairs ``stage`` of clf holds, from ``stages --json``."""
        out = self.json(repo, "stages", "clf")
        return [(a["version"], a["weight"]) for a in out["models"]["clf"].get(stage, [])]

    def refused(self, repo: Path, *args: str) -> str:
        code, _, err = self.run(repo, *args, check=False)
        assert code == 1, err
        assert "hint:" in err and "Traceback" not in err
        return err


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(monkeypatch, capsys)


def test_versions_are_numbered_commits_where_the_model_changed(cli: Cli, work: Path) -> None:
    found = cli.json(work, "versions", "clf")["versions"]
    assert [v["version"] for v in found] == [1, 2, 3]
    assert [v["message"] for v in found] == ["clf v1", "clf v2", "clf v3"]  # not "code only"
    head = git_out("rev-parse", "HEAD", cwd=work).strip()
    assert found[2]["commit"] == head
    files = {f["path"]: f for f in found[2]["files"]}
    assert set(files) == {"models/clf/config.json", "models/clf/weights.bin"}
    assert files["models/clf/weights.bin"]["oid"] == sha256_file(work / "models/clf/weights.bin")
    assert files["models/clf/weights.bin"]["size"] == 2001
    assert files["models/clf/config.json"]["oid"] is None  # a plain Git file of the model
    # NAME@REV names the version a revision holds: the code-only commit still holds v1
    cli.run(work, "promote", "clf@HEAD~2", "dev")
    assert cli.held(work, "dev") == [(1, 100)]
    declared = json.loads((work / ".gitmodel-registry.json").read_text())
    assert declared["models"]["clf"] == {"paths": ["models/clf"],
                                         "description": "ticket classifier"}  # fmt: skip


def test_versions_text_shows_a_hostile_subject_and_author_inert(cli: Cli, work: Path) -> None:
    """Commit subjects, authors and paths are anyone's: escape sequences stay escaped."""
    (work / "models/clf/weights.bin").write_bytes(os.urandom(2002))
    run_git("add", "-A", cwd=work)
    run_git("commit", "-qm", "clf \x1b[2Jv4", "--author=ev\x1b]0;il <e@example.com>", cwd=work)
    out = cli.run(work, "versions", "clf")[1]
    assert "\x1b" not in out
    assert "ev\\x1b]0;il: clf \\x1b[2Jv4" in out


def test_end_to_end_promote_rollback_history_survive_push_and_clone(
    cli: Cli, work: Path, origin: Path, tmp_path: Path
) -> None:
    cli.run(work, "promote", "clf@v1", "staging", "-m", "passes offline eval")
    cli.run(work, "promote", "clf@v1", "production", "-m", "ship it")
    cli.run(work, "promote", "clf@v2", "production", "-m", "better recall")
    cli.run(work, "rollback", "clf", "production", "-m", "latency regression")
    assert cli.held(work, "production") == [(1, 100)]
    assert cli.held(work, "staging") == [(1, 100)]
    events = cli.json(work, "history", "clf")
    assert [(e["type"], e["stage"], e["message"]) for e in events] == [
        ("rollback", "production", "latency regression"),
        ("promote", "production", "better recall"),
        ("promote", "production", "ship it"),
        ("promote", "staging", "passes offline eval"),
    ]
    first = events[0]
    assert first["by"] == {"name": "Test Author", "email": "author@example.com"}
    assert [a["version"] for a in first["from"]] == [2]
    assert [a["version"] for a in first["to"]] == [1]
    text = cli.run(work, "history", "clf", "--stage", "production")[1]
    assert len(text.splitlines()) == 3 and "staging" not in text
    assert "v2 -> v1  by Test Author <author@example.com>" in text
    assert '"latency regression"' in text

    run_git("push", "-q", "origin", "main", cwd=work)  # the pre-push hook pushes the log
    clone = tmp_path / "clone"
    run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path)  # post-checkout fetches it
    assert cli.json(clone, "stages") == cli.json(work, "stages")
    assert cli.json(clone, "history", "clf") == events


def test_weighted_pair_resolves_for_serving(cli: Cli, work: Path) -> None:
    cli.run(work, "promote", "clf@v2", "production")
    cli.run(work, "promote", "clf@v3", "production", "--weight", "10", "-m", "canary")
    assert cli.held(work, "production") == [(2, 90), (3, 10)]
    assert "v2 90%, v3 10%" in cli.run(work, "stages")[1]
    cli.run(work, "promote", "clf@v3", "production", "--weight", "50")
    out = cli.json(work, "resolve", "clf@production")
    v = {x["commit"]: x for x in cli.json(work, "versions", "clf")["versions"]}
    served = out["versions"]
    assert [(a["version"], a["weight"]) for a in served] == [(2, 50), (3, 50)]
    for a in served:
        assert a["files"] == [{**f, "git_blob": a["files"][i]["git_blob"]}
                              for i, f in enumerate(v[a["commit"]]["files"])]  # fmt: skip
    # the Python API: typed data from one blob read
    resolved = registry.resolve(git.Repo.discover(work), "clf", "production")
    assert [(a.version, a.weight) for a in resolved.assignments] == [(2, 50), (3, 50)]
    assert resolved.primary.version == 2
    assert gitmodel.resolve("clf", "production", repo=work).primary.version == 2
    weights = "models/clf/weights.bin"
    v2_bytes = git_out("show", f"{resolved.primary.commit}:{weights}", cwd=work)  # a pointer
    with gitmodel.open(weights, stage="production", repo=work) as f:
        served = f.read()
    assert hashlib.sha256(served).hexdigest() in v2_bytes
    assert gitmodel.path(weights, stage="production", repo=work).read_bytes() == served
    with pytest.raises(UserError, match="not part of a registered model"):
        gitmodel.open(".gitattributes", stage="production", repo=work)
    cli.run(work, "promote", "clf@v3", "production", "-m", "full cut-over")
    assert cli.held(work, "production") == [(3, 100)]


def test_show_names_the_stages_serving_a_version(cli: Cli, work: Path) -> None:
    cli.run(work, "promote", "clf@v3", "staging")
    events = len(cli.json(work, "history", "clf"))
    _, _, err = cli.run(work, "promote", "clf@v3", "staging")  # a retried step: no error
    assert "staging already holds v3; nothing to do" in err
    assert len(cli.json(work, "history", "clf")) == events
    cli.run(work, "promote", "clf@v2", "production")
    cli.run(work, "promote", "clf@v3", "production", "--weight", "10")
    card = cli.json(work, "show", "models/clf/weights.bin")
    assert card["stages"] == [
        {"model": "clf", "stage": "production", "version": 3, "weight": 10},
        {"model": "clf", "stage": "staging", "version": 3, "weight": 100},
    ]
    text = cli.run(work, "show", "models/clf/weights.bin")[1]
    assert "stage     clf@production = v3 (10%)" in text
    assert cli.json(work, "show", "models/clf/weights.bin@HEAD~1")["stages"] == [
        {"model": "clf", "stage": "production", "version": 2, "weight": 90},
    ]


def test_rollback_walks_back_and_unassign_can_be_undone(cli: Cli, work: Path) -> None:
    for version in ("v1", "v2", "v3"):
        cli.run(work, "promote", f"clf@{version}", "staging")
    cli.run(work, "rollback", "clf", "staging")
    assert cli.held(work, "staging") == [(2, 100)]
    cli.run(work, "rollback", "clf", "staging")  # twice: back to what it held before that
    assert cli.held(work, "staging") == [(1, 100)]
    cli.run(work, "rollback", "clf", "staging", "--to", "v3", "-m", "v3 was fine after all")
    assert cli.held(work, "staging") == [(3, 100)]
    cli.run(work, "unassign", "clf", "staging", "-m", "retired")
    assert cli.held(work, "staging") == []
    cli.run(work, "rollback", "clf", "staging")
    assert cli.held(work, "staging") == [(3, 100)]
    types = [e["type"] for e in cli.json(work, "history", "clf")]
    assert types == ["rollback", "unassign", "rollback", "rollback", "rollback", "promote",
                     "promote", "promote"]  # fmt: skip
    assert "dev of clf has never held a version" in cli.refused(work, "rollback", "clf", "dev")


def test_eight_concurrent_promotions_all_recorded_or_refused_with_a_hint(
    cli: Cli, work: Path
) -> None:
    cli.run(work, "promote", "clf@v1", "dev", "-m", "base")
    # eight different target states (v2 at 10..17 %): each lands, or loses the race
    procs = [
        subprocess.Popen(["git-model", "promote", "clf@v2", "dev", "--weight", str(10 + n),
                          "-m", f"p{n}"], cwd=work, stderr=subprocess.PIPE)
        for n in range(8)
    ]  # fmt: skip
    landed = set()
    for n, proc in enumerate(procs):
        _, err = proc.communicate(timeout=120)
        if proc.returncode == 0:
            landed.add(f"p{n}")
        else:
            assert proc.returncode == 1 and RETRY_HINT in err, err
    events = cli.json(work, "history", "clf", "--stage", "dev")
    assert landed and {e["message"] for e in events} == landed | {"base"}
    # no lost update: each event starts from what the previous one left
    chain = list(reversed(events))
    assert chain[0]["from"] == []
    for before, after in itertools.pairwise(chain):
        assert after["from"] == [{k: a[k] for k in ("version", "commit", "weight")}
                                 for a in before["to"]]  # fmt: skip
    assert [(a["version"], a["weight"]) for a in chain[-1]["to"]] == cli.held(work, "dev")


def test_promotion_race_through_the_shared_remote(
    cli: Cli, work: Path, origin: Path, tmp_path: Path
) -> None:
    cli.run(work, "promote", "clf@v1", "production")
    run_git("push", "-q", "origin", "main", cwd=work)
    other = tmp_path / "other"
    run_git("clone", "-q", str(origin), str(other), cwd=tmp_path)
    cli.run(work, "promote", "clf@v2", "production", "-m", "from work")
    cli.run(other, "promote", "clf@v3", "production", "-m", "from other")
    cli.run(work, "push", "-q")
    err = cli.refused(other, "push", "-q")
    assert "the registry log has new records both here and on" in err
    # nothing was overwritten on the remote: a fresh clone sees work's promotion
    third = tmp_path / "third"
    run_git("clone", "-q", str(origin), str(third), cwd=tmp_path)
    assert cli.held(third, "production") == [(2, 100)]
    # following the hint: take the remote's log, redo the change, push
    run_git("update-ref", "refs/gitmodel/registry", "refs/gitmodel-remotes/origin/registry",
            cwd=other)  # fmt: skip
    cli.run(other, "promote", "clf@v3", "production", "-m", "from other, again")
    cli.run(other, "push", "-q")
    cli.run(work, "fetch", "-q")
    assert cli.held(work, "production") == [(3, 100)]
    messages = [e["message"] for e in cli.json(work, "history", "clf")]
    assert messages == ["from other, again", "from work", ""]


def set_policy(repo: Path, policy: dict[str, object]) -> None:
    path = repo / ".gitmodel-registry.json"
    declared = json.loads(path.read_text())
    declared["models"]["clf"]["policy"] = policy
    path.write_text(json.dumps(declared))


def test_promote_and_request_take_what_a_stage_serves(cli: Cli, work: Path) -> None:
    """NAME@STAGE names the version the stage mostly serves, for promote and request as
    for checkout and review: "promote what staging holds to production"."""
    cli.run(work, "promote", "clf@v2", "staging")
    cli.run(work, "promote", "clf@v3", "staging", "--weight", "10")
    cli.run(work, "promote", "clf@staging", "production", "-m", "staging's main version")
    assert cli.held(work, "production") == [(2, 100)]
    rid = cli.run(work, "request", "clf@staging", "dev", "-m", "the same")[1].strip()
    [found] = cli.json(work, "requests")["requests"]
    assert (found["id"], found["version"], found["stage"]) == (rid, 2, "dev")
    err = cli.refused(work, "promote", "clf@dev", "production")
    assert "clf has no version in dev" in err


def test_policy_refusals_name_the_rule_and_how_to_satisfy_it(cli: Cli, work: Path) -> None:
    set_policy(work, {"production": {"after": "staging"}})
    err = cli.refused(work, "promote", "clf@v2", "production")
    assert "after staging: v2 is not in staging" in err
    assert "hint: promote it to staging first: git model promote clf@v2 staging" in err
    cli.run(work, "promote", "clf@v2", "staging")
    cli.run(work, "promote", "clf@v2", "production")

    set_policy(work, {"production": {"metrics": {"accuracy": ">= 0.9"}}})
    err = cli.refused(work, "promote", "clf@v3", "production")
    assert "accuracy >= 0.9: v3 has no accuracy metric" in err
    assert "git model annotate models/clf/weights.bin@" in err
    cli.run(work, "annotate", "models/clf/weights.bin", "--metric", "accuracy=0.85")
    assert "v3 has accuracy = 0.85" in cli.refused(work, "promote", "clf@v3", "production")
    cli.run(work, "annotate", "models/clf/weights.bin", "--metric", "accuracy=0.93")
    cli.run(work, "promote", "clf@v3", "production")


def test_a_canary_completes_after_the_stage_before_moved_on(cli: Cli, work: Path) -> None:
    """"after staging" gates a version entering production: once v2 is production's
    canary, staging taking v3 does not stop v2's share rising or its cut-over."""
    set_policy(work, {"production": {"after": "staging"}})
    cli.run(work, "promote", "clf@v1", "staging")
    cli.run(work, "promote", "clf@v1", "production")
    cli.run(work, "promote", "clf@v2", "staging")
    cli.run(work, "promote", "clf@v2", "production", "--weight", "10")
    cli.run(work, "promote", "clf@v3", "staging", "-m", "the next candidate")
    cli.run(work, "promote", "clf@v2", "production", "--weight", "50")
    cli.run(work, "promote", "clf@v2", "production")
    assert cli.held(work, "production") == [(2, 100)]
    cli.run(work, "unassign", "clf", "production")
    err = cli.refused(work, "promote", "clf@v2", "production")
    assert "after staging: v2 is not in staging" in err


def test_a_file_name_that_is_not_utf8_is_named_not_called_a_damaged_log(
    cli: Cli, work: Path
) -> None:
    """A version whose model folder holds a file named in another encoding cannot be
    recorded (a record is UTF-8 JSON): promote names the file, and writes nothing."""
    commit_files(work, "clf v4", {"models/clf/caf\udce9.bin": os.urandom(100)})
    err = cli.refused(work, "promote", "clf@v4", "dev")
    assert "clf v4 has a file whose name is not UTF-8 text: models/clf/caf\\udce9.bin" in err
    assert "damaged" not in err
    assert "registry" not in git_out("for-each-ref", cwd=work)


def test_policy_remote_and_integrity_gates(cli: Cli, work: Path) -> None:
    set_policy(work, {"production": {"on_remote": True, "verify": True}})
    cli.run(work, "promote", "clf@v3", "production")  # pushed with main: on the remote
    commit_files(work, "clf v4", {"models/clf/weights.bin": os.urandom(1500)})
    err = cli.refused(work, "promote", "clf@v4", "production")
    assert "on_remote: 1 file(s) of v4 are not on" in err and "hint: upload them" in err
    cli.run(work, "push", "-q")
    oid = sha256_file(work / "models/clf/weights.bin")
    corrupt_object(repo_store(work), oid)
    err = cli.refused(work, "promote", "clf@v4", "production")
    assert "verify: models/clf/weights.bin of v4 is corrupt" in err
    assert "not in the local store" in cli.refused(work, "promote", "clf@v4", "production")
    err = cli.refused(work, "promote", "clf@v4", "production", "--force")
    assert "--force needs a reason" in err
    cli.run(work, "promote", "clf@v4", "production", "--force", "-m", "hotfix, verified by hand")
    event = cli.json(work, "history", "clf", "-n", "1")[0]
    assert event["forced"] is True and event["message"] == "hotfix, verified by hand"
    assert event["bypassed"] == ["verify: models/clf/weights.bin of v4 is not in the local store"]


def test_checkout_writes_exactly_that_version(cli: Cli, work: Path, tmp_path: Path) -> None:
    v1 = {f["path"]: f for f in cli.json(work, "versions", "clf")["versions"][0]["files"]}
    cli.run(work, "promote", "clf@v1", "production")
    before = {p: sha256_file(work / p) for p in v1}
    store = repo_store(work)
    store.remove(store.oids())  # missing objects are fetched from the model remote
    out = tmp_path / "deploy"
    cli.run(work, "checkout", "clf@production", "--to", str(out))
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == sorted(v1)
    assert sha256_file(out / "models/clf/weights.bin") == v1["models/clf/weights.bin"]["oid"]
    assert (out / "models/clf/config.json").read_bytes() == b'{"layers": 1}\n'
    assert {p: sha256_file(work / p) for p in v1} == before  # the worktree is untouched
    assert git_out("status", "--porcelain", cwd=work) == ""
    # into the worktree: files of v1, a local edit is never overwritten
    cli.run(work, "checkout", "clf@v1")
    assert sha256_file(work / "models/clf/weights.bin") == v1["models/clf/weights.bin"]["oid"]
    (work / "models/clf/config.json").write_text("local edit\n")
    assert "not a version of the model" in cli.refused(work, "checkout", "clf@v3")
    assert (work / "models/clf/config.json").read_text() == "local edit\n"
    # a file left as its pointer (skip-smudge) is replaced by the content it points to
    pointer = git_out("cat-file", "blob", "HEAD~1:models/clf/weights.bin", cwd=work)
    (work / "models/clf/weights.bin").write_text(pointer)
    (work / "models/clf/config.json").write_text('{"layers": 1}\n')
    cli.run(work, "checkout", "clf@v2")
    assert f"sha256:{sha256_file(work / 'models/clf/weights.bin')}" in pointer


def test_show_of_a_model_name_points_at_its_versions(cli: Cli, work: Path) -> None:
    code, _, err = cli.run(work, "show", "clf", check=False)
    assert code == 1 and "error: clf is not in HEAD" in err, err
    assert "hint: clf is a registered model: `git model versions clf` lists its versions" in err


def test_checkout_of_a_version_removes_the_files_it_does_not_have(
    cli: Cli, work: Path, tmp_path: Path
) -> None:
    v1 = sorted(f["path"] for f in cli.json(work, "versions", "clf")["versions"][0]["files"])
    commit_files(work, "clf v4: a data shard more", {"models/clf/extra/part.bin": b"x" * 3000})
    (work / "models/clf/notes.txt").write_text("mine\n")  # never a file of the model
    _, _, err = cli.run(work, "checkout", "clf@v1")
    assert "wrote 2 of 2 file(s), removed 1" in err, err
    assert not (work / "models/clf/extra").exists()  # its folder emptied, so gone too
    assert (work / "models/clf/notes.txt").read_text() == "mine\n"
    run_git("checkout", "-q", "--", ".", cwd=work)
    (work / "models/clf/extra/part.bin").write_bytes(b"local edit")  # not a version: kept
    _, _, err = cli.run(work, "checkout", "clf@v1")
    assert (work / "models/clf/extra/part.bin").read_bytes() == b"local edit"
    assert "left 1 changed file(s) v1 does not have" in err, err
    out = tmp_path / "out"  # a folder written with v4, then v1, holds v1 alone
    cli.run(work, "checkout", "clf@v4", "--to", str(out))
    cli.run(work, "checkout", "clf@v1", "--to", str(out))
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == v1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("promote", "nope@v1", "dev"), "no model named 'nope'"),
        (("promote", "clf@v9", "dev"), "clf has no version v9"),
        (("promote", "clf@no-such-rev", "dev"), "unknown revision"),
        (("promote", "clf@v1", "qa"), "clf has no stage 'qa'"),
        (("promote", "clf@v1", "dev", "--weight", "0"), "not a percentage"),
        (("promote", "clf@v2", "dev", "--weight", "10"), "dev holds no version to split"),
        (("promote", "bad/name", "dev"), "invalid model name"),
        (("register", "clf", "models/clf"), "already registered"),
        (("register", "new", "../outside"), "outside the repository"),
        (("register", "new", "missing/dir"), "does not exist"),
        (("resolve", "clf"), "no stage in 'clf'"),
        (("resolve", "clf@production"), "has no version in production"),
        (("unassign", "clf", "dev"), "holds nothing"),
        (("history", "clf", "--stage", "Bad Stage"), "invalid stage name"),
        (("checkout", "clf@staging"), "has no version in staging"),
        (("history", "clff"), "no model named 'clff'"),
        (("stages", "clff"), "no model named 'clff'"),
        # bytes that are not UTF-8 (a Latin-1 terminal's é) reach us as lone surrogates
        (("promote", "clf@v1", "dev", "-m", "caf\udce9"), "the promote message is not UTF-8"),
        (("rollback", "clf", "dev", "-m", "caf\udce9"), "the rollback message is not UTF-8"),
        (("register", "new", "models/clf", "-d", "caf\udce9"), "the description is not UTF-8"),
    ],
)
def test_bad_input_is_one_line_with_a_hint(
    cli: Cli, shared: Path, args: tuple[str, ...], message: str
) -> None:
    assert message in cli.refused(shared, *args)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "cannot read .gitmodel-registry.json"),
        ('{"models": {"clf": {"paths": ["../x"]}}}', "invalid model path"),
        ('{"models": {"clf": {"paths": ["m"], "policy": {"qa": {}}}}}', "invalid policy"),
        ('{"models": {"clf": {"paths": ["m"], "policy": {"dev": {"metrics": {"a": "~1"}}}}}}',
         "invalid threshold"),
        ('{"models": {"clf": {"paths": ["m"], "stages": ["Prod"]}}}', "invalid stage name"),
        ('{"models": {"clf": {"paths": ["m"], "stages": ["v1"]}}}', "invalid stage name"),
        ('{"models": {"clf": "models/clf"}}', "must be an object"),
        ('{"models": {"clf": {"paths": []}}}', "needs \"paths\""),
        ('{"models": {"clf": {"paths": ["m"]}}, "branch": 3}', "must be a branch name"),
    ],
)  # fmt: skip
def test_a_broken_declaration_file_is_refused(
    cli: Cli, work: Path, content: str, message: str
) -> None:
    (work / ".gitmodel-registry.json").write_text(content)
    assert message in cli.refused(work, "promote", "clf", "dev")


def test_reducer_keeps_a_bounded_past_and_ignores_other_records() -> None:
    state: dict[str, object] = {}
    entry = [{"version": 1, "commit": "c" * 40, "weight": 100, "files": []}]
    for n in range(stages.PAST_LIMIT + 10):
        record = {"type": "promote", "model": "m", "stage": "dev", "from": entry if n else [],
                  "to": entry}  # fmt: skip
        state = stages.reduce(state, record)
    state = stages.reduce(state, {"type": "annotation"})
    assert state["records"] == stages.PAST_LIMIT + 11
    assert len(state["models"]["m"]["past"]["dev"]) == stages.PAST_LIMIT
