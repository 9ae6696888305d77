"""Record logs as other people's input: a log commit made by hand, on a remote or here.

A teammate can push any commit on ``refs/gitmodel/*`` (``git push --no-verify``). What a
remote's log adds is verified before it is taken; what cannot be read is a one-line error
naming the commit, never a traceback; the code push it comes with still goes; and the
audit names a registry commit whose state was edited by hand.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import copy_of_template, git_model, git_out, run_git, store_oids
from hygiene_support import commit_file, make_author

from gitmodel import git
from gitmodel.lineage import store
from gitmodel.logs import records

LINEAGE = "refs/gitmodel/lineage"


def forge(repo: Path, ref: str, state: object, record: object) -> str:
    """Commit ``state.json`` and ``record.json`` (JSON values, or raw bytes) on top of
    ``ref`` by hand, as a hostile teammate would; the new commit."""

    def blob(value: object) -> str:
        data = value if isinstance(value, bytes) else json.dumps(value).encode()
        return run_git("hash-object", "-w", "--stdin", cwd=repo, input=data).stdout.decode().strip()

    tree_text = f"100644 blob {blob(record)}\trecord.json\n100644 blob {blob(state)}\tstate.json\n"
    tree = run_git("mktree", cwd=repo, input=tree_text.encode()).stdout.decode().strip()
    tip = git_out("rev-parse", ref, cwd=repo).strip()
    commit = run_git("commit-tree", tree, "-p", tip, "-m", "by hand", cwd=repo)
    new = commit.stdout.decode().strip()
    run_git("update-ref", ref, new, tip, cwd=repo)
    return new


@pytest.fixture
def team(tmp_path: Path) -> tuple[Path, Path, Path]:
    """``origin.git``, the author's clone with one annotated model file (pushed), and a
    teammate's clone that has fetched the logs and annotated the file too (not pushed):
    copies of the three made once per process, each clone's remote pointed at the copy."""
    copy_of_template("log-integrity-team", build_team, tmp_path)
    origin, author, mate = tmp_path / "origin.git", tmp_path / "author", tmp_path / "mate"
    for clone in (author, mate):
        run_git("remote", "set-url", "origin", str(origin), cwd=clone)
    return origin, author, mate


def build_team(tmp_path: Path) -> None:
    origin, author = make_author(tmp_path)
    commit_file(author, "m.bin", b"weights v1" * 100)
    git_model("annotate", "m.bin", "--metric", "acc=0.9", cwd=author)
    run_git("push", "-q", "origin", "HEAD:main", cwd=author)
    mate = tmp_path / "mate"
    run_git("clone", "-q", str(origin), str(mate), cwd=tmp_path)
    git_model("install", "--local", cwd=mate)
    git_model("fetch", cwd=mate)
    git_model("annotate", "m.bin", "--metric", "f1=0.3", cwd=mate)


def push_forged_lineage(author: Path, state: object, record: object) -> str:
    """The author forges a lineage commit and pushes it past every hook."""
    commit = forge(author, LINEAGE, state, record)
    run_git("push", "-q", "--no-verify", "origin", LINEAGE, cwd=author)
    return commit


@pytest.mark.parametrize(
    ("state", "record", "why"),
    [
        ({"records": 2, "metrics": "x"}, {"type": "note"}, "state.json is not valid"),
        (None, {"type": "annotation", "oid": "0" * 64, "metrics": "x"}, "record.json is not"),
        (None, b"{not json", "record.json is not valid"),
        (None, {"type": "note"}, "its state does not follow from the records"),
    ],
)  # fmt: skip
def test_a_damaged_remote_log_is_refused_and_the_code_push_still_goes(
    team: tuple[Path, Path, Path], state: object, record: object, why: str
) -> None:
    _, author, mate = team
    if state is None:  # the state as it was, so only the record is wrong
        state = json.loads(git_out("show", f"{LINEAGE}:state.json", cwd=author))
    forged = push_forged_lineage(author, state, record)
    before = git_out("rev-parse", LINEAGE, cwd=mate)

    fetch = git_model("fetch", cwd=mate, check=False)
    lines = fetch.stderr.decode().splitlines()
    assert fetch.returncode == 1, fetch
    assert lines[-2].startswith(f"gitmodel: error: the lineage log on origin is damaged at "
                                f"commit {forged[:12]}: "), lines  # fmt: skip
    assert why in lines[-2], lines
    assert lines[-1].startswith("hint: nothing was taken from it"), lines
    assert "Traceback" not in fetch.stderr.decode()
    assert git_out("rev-parse", LINEAGE, cwd=mate) == before  # nothing was taken

    commit_file(mate, "notes.txt", b"more code")
    push = run_git("push", "origin", "HEAD:main", cwd=mate, check=False)
    assert push.returncode == 0, push.stderr.decode()  # the code went
    assert "gitmodel: warning: model logs not pushed: the lineage log on origin is damaged" \
        in push.stderr.decode()  # fmt: skip
    shown = git_model("show", "m.bin", cwd=mate).stdout.decode()
    assert "acc" in shown and "f1" in shown  # the mate's own log still reads


@pytest.mark.parametrize(
    ("field", "raw", "why"),
    [("note", '"\\ud800"', "the field note is not UTF-8 text"),
     ("extra", "NaN", "NaN is not a JSON number")],
)  # fmt: skip
def test_a_remote_record_no_record_can_hold_is_refused_as_damaged(
    team: tuple[Path, Path, Path], field: str, raw: str, why: str
) -> None:
    """A record whose state follows from it, but whose text is a lone surrogate (a
    ``\\ud800`` escape) or whose number is not JSON: taken, it would make every later
    state impossible to write; it is named damaged at its commit instead."""
    _, author, mate = team
    record = json.loads(git_out("show", f"{LINEAGE}:record.json", cwd=author))
    state = json.loads(git_out("show", f"{LINEAGE}:state.json", cwd=author))
    record[field] = "PLACEHOLDER"
    state = store.reduce(state, record)
    body = {name: json.dumps(value).replace('"PLACEHOLDER"', raw).encode()
            for name, value in (("record", record), ("state", state))}  # fmt: skip
    forged = push_forged_lineage(author, body["state"], body["record"])
    before = git_out("rev-parse", LINEAGE, cwd=mate)
    fetch = git_model("fetch", cwd=mate, check=False)
    err = fetch.stderr.decode()
    assert fetch.returncode == 1, err
    assert f"gitmodel: error: the lineage log on origin is damaged at commit {forged[:12]}: " \
        f"its record.json is not valid ({why})" in err  # fmt: skip
    assert "Traceback" not in err
    assert git_out("rev-parse", LINEAGE, cwd=mate) == before


def test_a_mended_remote_log_is_taken_again(team: tuple[Path, Path, Path]) -> None:
    _, author, mate = team
    good = git_out("rev-parse", LINEAGE, cwd=author).strip()
    push_forged_lineage(author, {"records": 1, "metrics": "x"}, {"type": "note"})
    assert git_model("fetch", cwd=mate, check=False).returncode == 1
    run_git("push", "-q", "--no-verify", "--force", "origin", f"{good}:{LINEAGE}", cwd=author)
    run_git("update-ref", LINEAGE, good, cwd=author)
    git_model("fetch", cwd=mate)  # integrates: the mate's record replayed on the author's
    git_model("annotate", "m.bin", "--metric", "auc=0.7", cwd=author)
    run_git("push", "-q", "origin", "HEAD:main", cwd=author)
    run_git("push", "-q", "origin", "HEAD:main", cwd=mate)
    git_model("fetch", cwd=author)
    metrics = json.loads(git_out("show", f"{LINEAGE}:state.json", cwd=author))["metrics"]
    assert set(next(iter(metrics.values()))) == {"acc", "f1", "auc"}


def test_fetch_logs_only_takes_the_checked_logs_and_no_object(tmp_path: Path) -> None:
    origin, author = make_author(tmp_path)
    commit_file(author, "m.bin", b"weights v1" * 100)
    git_model("annotate", "m.bin", "--metric", "acc=0.9", cwd=author)
    run_git("push", "-q", "origin", "HEAD:main", cwd=author)
    ci = tmp_path / "ci"  # as CI clones: no hooks, no filter, no logs
    run_git("-c", "core.hooksPath=/dev/null", "clone", "-q", str(origin), str(ci), cwd=tmp_path)
    held = store_oids(ci)
    proc = git_model("fetch", "--logs-only", cwd=ci)
    assert proc.stderr == b"gitmodel: updated log(s) lineage\n"
    assert git_out("rev-parse", LINEAGE, cwd=ci) == git_out("rev-parse", LINEAGE, cwd=author)
    assert store_oids(ci) == held == []  # no model object was read
    push_forged_lineage(author, {"records": 2, "metrics": "x"}, {"type": "note"})
    proc = git_model("fetch", "--logs-only", "origin", cwd=ci, check=False)
    assert proc.returncode == 1 and b"the lineage log on origin is damaged" in proc.stderr
    proc = git_model("fetch", "--logs-only", "origin", "HEAD", cwd=ci, check=False)
    assert proc.returncode == 2 and b"--logs-only takes no REFs" in proc.stderr


def test_a_local_log_damaged_by_hand_is_a_one_line_error(tmp_path: Path) -> None:
    _, author = make_author(tmp_path)
    commit_file(author, "m.bin", b"weights v1" * 100)
    git_model("annotate", "m.bin", "--metric", "acc=0.9", cwd=author)
    forged = forge(author, LINEAGE, {"records": 2, "produced": {"x": 5}}, {"type": "note"})
    for args in (["show", "m.bin"], ["annotate", "m.bin", "--metric", "f1=1"]):
        proc = git_model(*args, cwd=author, check=False)
        lines = proc.stderr.decode().splitlines()
        assert proc.returncode == 1, proc
        assert lines == [
            f"gitmodel: error: the lineage log is damaged at commit {forged[:12]}: its "
            "state.json is not valid (produced[x] is not a list)",
            f"hint: find its last good commit with `git log {LINEAGE}`, then put the log back "
            f"there: git update-ref {LINEAGE} COMMIT",
        ]


def test_records_verify_takes_a_sound_log_and_names_the_first_bad_commit(tmp_path: Path) -> None:
    _, author = make_author(tmp_path)
    commit_file(author, "m.bin", b"weights v1" * 100)
    for value in ("0.1", "0.2", "0.3"):
        git_model("annotate", "m.bin", "--metric", f"acc={value}", cwd=author)
    repo = git.Repo.discover(author)
    tip = git.read_ref(repo, LINEAGE)
    assert tip is not None
    records.verify(repo, store.KIND, tip, None)
    assert records.damaged(repo, store.KIND) == {}
    state = json.loads(git_out("show", f"{LINEAGE}:state.json", cwd=author))
    state["metrics"] = {oid: {"acc": 0.99} for oid in state["metrics"]}  # a forged value
    forged = forge(author, LINEAGE, state, {"type": "note"})
    git_model("annotate", "m.bin", "--metric", "acc=0.4", cwd=author)  # built on the forgery
    with pytest.raises(records.DamagedLogError) as raised:
        records.verify(repo, store.KIND, git.read_ref(repo, LINEAGE) or "", tip)
    assert "does not follow from the records" in str(raised.value)
    assert set(records.damaged(repo, store.KIND)) == {forged}


REGISTRY = "refs/gitmodel/registry"


def test_the_audit_names_a_registry_state_edited_by_hand(tmp_path: Path) -> None:
    """``stages`` reads the state at the tip, so a hand-made state changes what a stage
    shows; the audit, which folds every record again, names that commit as a problem."""
    _, author = make_author(tmp_path)
    for version in (1, 2):
        commit_file(author, "m/w.bin", f"weights v{version}".encode() * 100)
    git_model("register", "clf", "m", cwd=author)
    run_git("commit", "-qm", "register clf", cwd=author)
    git_model("promote", "clf@v1", "production", "-m", "first", cwd=author)
    v1_state = json.loads(git_out("show", f"{REGISTRY}:state.json", cwd=author))
    git_model("promote", "clf@v2", "production", "-m", "second", cwd=author)
    assert git_model("stages", cwd=author).stdout.decode().split()[1:3] == ["production", "v2"]
    git_model("audit", cwd=author)  # a sound log: no problem
    later = git_model("audit", "--since", "2999-01-01", cwd=author).stderr.decode()
    assert later == "no stage change since 2999-01-01\n"

    forged = forge(author, REGISTRY, v1_state, {"type": "note"})  # production back to v1
    assert git_model("stages", cwd=author).stdout.decode().split()[1:3] == ["production", "v1"]
    proc = git_model("audit", "clf", cwd=author, check=False)
    out = proc.stdout.decode()
    assert proc.returncode == 1, proc
    assert "PROBLEM: the registry log was edited by hand here: its state does not follow " \
        "from its record and the state before it" in out  # fmt: skip
    assert out.count("PROBLEM") == 1
    assert "  - -  note  " in out  # a record that is no stage change: no "None"
    assert proc.stderr.decode().startswith("gitmodel: error: 1 stage change(s) break the policy")
    as_json = json.loads(git_model("audit", "--json", cwd=author, check=False).stdout)
    flagged = [c["event"] for c in as_json["changes"] if c["problems"]]
    assert flagged == [forged]

    unreadable = forge(author, REGISTRY, v1_state, b"not json")  # the audit still runs
    err = git_model("promote", "clf@v1", "staging", cwd=author, check=False).stderr.decode()
    assert f"error: the registry log is damaged at commit {unreadable[:12]}: its record" in err
    proc = git_model("audit", "--csv", cwd=author, check=False)
    rows = proc.stdout.decode().splitlines()
    assert proc.returncode == 1 and len(rows) == 5, proc
    assert rows[1].startswith(f"{rows[1][:25]},{unreadable},,,,-,-,")
    assert "edited by hand here: its record.json is not valid" in rows[1]


def test_a_damaged_log_is_named_in_one_clean_line(tmp_path: Path) -> None:
    """The reason quotes the hand-made file: its control characters never reach the terminal."""
    _, author = make_author(tmp_path)
    commit_file(author, "m.bin", b"weights v1" * 100)
    git_model("annotate", "m.bin", "--metric", "acc=0.9", cwd=author)
    forge(author, LINEAGE, {"records": 2, "produced": {"\x1b[2J\nx": 5}}, {"type": "note"})
    proc = git_model("show", "m.bin", cwd=author, check=False)
    lines = proc.stderr.decode().splitlines()
    assert proc.returncode == 1 and len(lines) == 2, lines
    assert lines[0].endswith("its state.json is not valid (produced[?[2J?x] is not a list)")


FORGE_UNDER_ANOTHER_NAME = """
from gitmodel import git
from gitmodel.registry import declare, stages, versions
from gitmodel.registry.stage_events import Assignment, event
repo = git.Repo.discover()
registry = declare.load(repo)
model = registry.model("clf")
v2 = versions.versions(repo, registry, model)[1]
held = stages.held(stages.log(repo).state(), "clf", "production")
record = event("promote", "clf", "production", held, [Assignment.of(v2)], "quiet")
stages.log(repo).append(record, message="promote other dev")
"""


def test_an_event_whose_commit_names_another_model_is_refused(tmp_path: Path) -> None:
    """``history clf`` skips, unread, the commits whose subject (``registry: TYPE MODEL
    STAGE``) names another model or stage: an event committed under another name would be
    missing from it while ``stages`` shows its effect. What a remote's log adds is checked
    for that, and the audit names such a commit."""
    origin, author = make_author(tmp_path)
    for version in (1, 2):
        commit_file(author, "m/w.bin", f"weights v{version}".encode() * 100)
    git_model("register", "clf", "m", cwd=author)
    run_git("commit", "-qm", "register clf", cwd=author)
    git_model("promote", "clf@v1", "production", "-m", "first", cwd=author)
    run_git("push", "-q", "origin", "HEAD:main", cwd=author)
    mate = tmp_path / "mate"
    run_git("clone", "-q", str(origin), str(mate), cwd=tmp_path)
    git_model("install", "--local", cwd=mate)
    git_model("fetch", cwd=mate)
    before = git_out("rev-parse", REGISTRY, cwd=mate)

    proc = subprocess.run([sys.executable, "-c", FORGE_UNDER_ANOTHER_NAME], cwd=author,
                          capture_output=True, check=True)  # fmt: skip
    assert proc.returncode == 0
    forged = git_out("rev-parse", REGISTRY, cwd=author).strip()
    run_git("push", "-q", "--no-verify", "origin", REGISTRY, cwd=author)
    fetch = git_model("fetch", cwd=mate, check=False)
    lines = fetch.stderr.decode().splitlines()
    assert fetch.returncode == 1, lines
    assert lines[-2] == (f"gitmodel: error: the registry log on origin is damaged at commit "
                         f"{forged[:12]}: its commit message names another event than its "
                         "record"), lines  # fmt: skip
    assert git_out("rev-parse", REGISTRY, cwd=mate) == before  # nothing was taken

    proc = git_model("audit", "--json", cwd=author, check=False)
    assert proc.returncode == 1
    [change] = [c for c in json.loads(proc.stdout)["changes"] if c["problems"]]
    assert change["event"] == forged
    assert change["problems"] == ["the registry log was edited by hand here: its commit "
                                  "message names another event than its record"]  # fmt: skip
