"""Hostile paths: nothing gitmodel writes goes through a symlink or outside its root, and a
registry log cannot name files outside the model's declared paths.

Each attack is refused with one ``gitmodel: error:`` line and a hint, exit 1, nothing
written outside and nothing half-written inside.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import git_model, git_out, run_git, sha256_file
from test_registry import built, work

from gitmodel import materialize
from gitmodel.pointer import try_parse

__all__ = ["built", "work"]  # fixtures shared with test_registry

BIG = 3 << 20


def refused(proc_args: tuple[str, ...], cwd: Path, *needles: str) -> str:
    """Run ``git model ARGS``; it must fail with one error line naming ``needles``."""
    proc = git_model(*proc_args, cwd=cwd, check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("gitmodel: error: ")]
    assert len(errors) == 1, err
    assert all(n in errors[0] for n in needles), err
    assert any(line.startswith("hint: ") for line in err.splitlines()), err
    return errors[0]


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir())


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` (but .git) with its sha256: what must not change."""
    return {
        str(p.relative_to(root)): sha256_file(p)
        for p in root.rglob("*")
        if p.is_file() and not p.is_symlink() and ".git" not in p.relative_to(root).parts
    }


# -- a committed symlink where the model's folder was --------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    path = tmp_path / "somewhere"
    path.mkdir()
    return path


def commit_models_symlink(work: Path, outside: Path) -> None:
    """The latest commit turns the ``models`` folder into a symlink to ``outside``."""
    run_git("rm", "-rq", "models", cwd=work)
    (work / "models").symlink_to(outside, target_is_directory=True)
    run_git("add", "models", cwd=work)
    run_git("commit", "-qm", "models moved", cwd=work)


def test_checkout_of_a_version_never_writes_through_a_committed_symlink(
    work: Path, outside: Path
) -> None:
    commit_models_symlink(work, outside)
    before = snapshot(work)
    refused(("checkout", "clf@v1"), work, f"{work / 'models'} is a symlink")
    assert files_under(outside) == []
    assert snapshot(work) == before


def test_checkout_to_a_folder_never_writes_through_a_symlink_in_it(
    work: Path, outside: Path, tmp_path: Path
) -> None:
    out = tmp_path / "deploy"
    out.mkdir()
    (out / "models").symlink_to(outside, target_is_directory=True)
    refused(("checkout", "clf@v1", "--to", str(out)), work, f"{out / 'models'} is a symlink")
    assert files_under(outside) == []
    # a symlink in place of one of the files is refused too, its target untouched
    (out / "models").unlink()
    (out / "models" / "clf").mkdir(parents=True)
    victim = outside / "victim.json"
    victim.write_text("theirs")
    (out / "models" / "clf" / "config.json").symlink_to(victim)
    refused(("checkout", "clf@v1", "--to", str(out)), work, "is a symlink")
    assert victim.read_text() == "theirs"
    assert files_under(out) == ["models/clf/config.json"]  # nothing half-written


def test_checkout_into_a_symlinked_folder_the_user_named_is_fine(
    work: Path, tmp_path: Path
) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    git_model("checkout", "clf@v1", "--to", str(tmp_path / "link"), cwd=work)
    assert files_under(real) == ["models/clf/config.json", "models/clf/weights.bin"]


# -- a registry log that names files outside the model -------------------------------


def push_hostile_log(work: Path, tmp_path: Path, path: str) -> None:
    """From another clone, push a registry log whose production assignment of clf is v1
    plus a file at ``path`` (its bytes travel in the log commit), with plain plumbing."""
    attacker = tmp_path / "attacker"
    run_git("clone", "-q", "--no-checkout", str(work.parent / "origin.git"), str(attacker),
            cwd=tmp_path)  # plumbing only: its worktree is never read
    v1 = json.loads(git_model("versions", "clf", "--json", cwd=work).stdout)["versions"][0]

    def blob(data: bytes) -> str:
        return run_git("hash-object", "-w", "--stdin", cwd=attacker, input=data).stdout.decode()

    evil = {"path": path, "oid": None, "size": len(PAYLOAD), "git_blob": blob(PAYLOAD).strip()}
    assignment = {"version": 1, "commit": v1["commit"], "weight": 100,
                  "files": [*v1["files"], evil]}  # fmt: skip
    record = {"type": "promote", "model": "clf", "stage": "production", "from": [],
              "to": [assignment], "message": "", "forced": False, "bypassed": []}  # fmt: skip
    # the state the record folds to: consistent, so the log passes the fetch's check, and
    # only the record itself is hostile
    state = {"records": 1, "models": {"clf": {"past": {}, "stages": {"production": [assignment]}}}}
    listing = "".join(
        f"100644 blob {blob(data).strip()}\t{name}\n"
        for name, data in (("payload", PAYLOAD),
                           ("record.json", json.dumps(record).encode()),
                           ("state.json", json.dumps(state).encode()))
    )  # fmt: skip
    tree = run_git("mktree", cwd=attacker, input=listing.encode()).stdout.decode().strip()
    commit = git_out("commit-tree", tree, "-m", "registry: promote clf production", cwd=attacker)
    run_git("push", "-q", "origin", f"{commit.strip()}:refs/gitmodel/registry", cwd=attacker)
    git_model("fetch", cwd=work)  # the victim takes the log as it takes any other
    assert git_out("rev-parse", "refs/gitmodel/registry", cwd=work).strip() == commit.strip()


PAYLOAD = b"#!/bin/sh\necho owned > /tmp/owned\n"
ABSOLUTE = "/tmp/gitmodel-hostile-paths-evil.sh"
HOSTILE_PATHS = [
    "evil.sh",
    "../x",
    ".git/hooks/post-checkout",
    "models/clf/../../evil.sh",
    "models/clf/.GIT/config",
    ABSOLUTE,
]


@pytest.mark.parametrize("path", HOSTILE_PATHS)
@pytest.mark.parametrize("to", [False, True])
def test_a_registry_log_naming_files_outside_the_model_is_refused(
    work: Path, tmp_path: Path, path: str, to: bool
) -> None:
    push_hostile_log(work, tmp_path, path)
    hook = work / ".git" / "hooks" / "post-checkout"
    hook_text = hook.read_text()
    before = snapshot(work)
    out = tmp_path / "deploy"
    args = ("checkout", "clf@production", *(("--to", str(out)) if to else ()))
    refused(args, work, "clf v1 in production", repr(path), "models/clf")
    assert snapshot(work) == before  # nothing written, the v3 files in place untouched
    assert hook.read_text() == hook_text
    assert not (tmp_path / "x").exists() and not (tmp_path / "repos" / "x").exists()
    assert not Path(ABSOLUTE).exists()
    assert not out.exists() or files_under(out) == []
    assert git_out("status", "--porcelain", cwd=work) == ""
    # a serving system asking what production holds is refused the same way
    refused(("resolve", "clf@production"), work, "clf v1 in production", repr(path))


# -- direct checkout and pull: a folder of the index that became a symlink ------------


@pytest.fixture
def big_repo(repo: Path, tmp_path: Path) -> Path:
    """A large model file under ``models/`` (written by the hook on checkout), pushed."""
    run_git("config", "model.directCheckoutThreshold", "1m", cwd=repo)
    (repo / "models").mkdir()
    (repo / "models" / "big.bin").write_bytes(os.urandom(BIG))
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "big", cwd=repo)
    run_git("init", "-q", "--bare", str(tmp_path / "origin.git"), cwd=tmp_path)
    run_git("remote", "add", "origin", str(tmp_path / "origin.git"), cwd=repo)
    run_git("push", "-q", "origin", "main", cwd=repo)
    return repo


def swap_models_for_symlink(repo: Path, outside: Path) -> None:
    """What a checkout that failed half-way can leave: the index still lists
    ``models/big.bin`` while ``models`` in the worktree is a symlink elsewhere."""
    shutil.rmtree(repo / "models")
    (repo / "models").symlink_to(outside, target_is_directory=True)


def test_pull_never_writes_through_a_symlinked_folder(big_repo: Path, outside: Path) -> None:
    swap_models_for_symlink(big_repo, outside)
    refused(("pull",), big_repo, f"{big_repo / 'models'} is a symlink")
    assert files_under(outside) == []


def test_pull_leaves_a_pointer_behind_a_symlinked_folder_alone(
    big_repo: Path, outside: Path
) -> None:
    pointer = git_out("cat-file", "blob", "HEAD:models/big.bin", cwd=big_repo).encode()
    (outside / "big.bin").write_bytes(pointer)
    swap_models_for_symlink(big_repo, outside)
    refused(("pull",), big_repo, "is a symlink")
    assert (outside / "big.bin").read_bytes() == pointer


def test_the_post_checkout_hook_never_writes_through_a_symlinked_folder(
    big_repo: Path, outside: Path
) -> None:
    pointer = git_out("cat-file", "blob", "HEAD:models/big.bin", cwd=big_repo).encode()
    parsed = try_parse(pointer)
    assert parsed is not None
    (outside / "big.bin").write_bytes(pointer)  # the pointer Git left, through the link
    swap_models_for_symlink(big_repo, outside)
    pending = big_repo / ".git" / materialize.PENDING_FILE
    pending.write_bytes(b"%s %d models/big.bin\0" % (parsed.oid.encode(), parsed.size))
    refused(("hook", "post-checkout", "x", "y", "1"), big_repo, "is a symlink")
    assert (outside / "big.bin").read_bytes() == pointer
    assert files_under(outside) == ["big.bin"]


def test_pull_still_fills_in_files_missing_from_real_folders(big_repo: Path) -> None:
    digest = sha256_file(big_repo / "models" / "big.bin")
    shutil.rmtree(big_repo / "models")
    git_model("pull", cwd=big_repo)
    assert sha256_file(big_repo / "models" / "big.bin") == digest
    assert git_out("status", "--porcelain", cwd=big_repo) == ""


# -- migrate --from-lfs rewrites .gitattributes files ---------------------------------

LFS_LINE = "*.bin filter=lfs diff=lfs merge=lfs -text\n"


def test_migrate_from_lfs_never_rewrites_attributes_through_a_symlink(
    tmp_path: Path, outside: Path
) -> None:
    repo = tmp_path / "lfs"
    run_git("init", "-q", str(repo), cwd=tmp_path)
    (repo / ".gitattributes").write_text(LFS_LINE)
    (repo / "sub").mkdir()
    (repo / "sub" / ".gitattributes").write_text(LFS_LINE)
    run_git("add", ".", cwd=repo)
    run_git("commit", "-qm", "lfs attributes", cwd=repo)
    git_model("install", "--local", "--no-lfs", cwd=repo)  # filter=lfs is migrate's to set
    head = git_out("rev-parse", "HEAD", cwd=repo)
    shutil.rmtree(repo / "sub")
    (repo / "sub").symlink_to(outside, target_is_directory=True)
    (outside / ".gitattributes").write_text(LFS_LINE)
    refused(("migrate", "import", "--from-lfs"), repo, f"{repo / 'sub'} is a symlink")
    assert (outside / ".gitattributes").read_text() == LFS_LINE
    assert (repo / ".gitattributes").read_text() == LFS_LINE  # checked before any change
    assert git_out("rev-parse", "HEAD", cwd=repo) == head
    assert run_git("config", "filter.lfs.process", cwd=repo, check=False).returncode != 0


def plant_production(work: Path, key: str, value: str, in_file: bool = True) -> None:
    """Set ``key`` of production's assignment of clf (or of its last file) to ``value``,
    in a new state on the registry log's tip."""
    state = json.loads(git_out("show", "refs/gitmodel/registry:state.json", cwd=work))
    assignment = state["models"]["clf"]["stages"]["production"][0]
    (assignment["files"][-1] if in_file else assignment)[key] = value
    blob = run_git("hash-object", "-w", "--stdin", cwd=work, input=json.dumps(state).encode())
    tree = run_git("mktree", cwd=work, input=b"100644 blob %s\tstate.json\n" % blob.stdout.strip())
    tip = git_out("rev-parse", "refs/gitmodel/registry", cwd=work).strip()
    commit = git_out("commit-tree", tree.stdout.decode().strip(), "-p", tip, "-m", "x", cwd=work)
    run_git("update-ref", "refs/gitmodel/registry", commit.strip(), cwd=work)


def test_a_registry_log_with_a_malformed_blob_id_is_refused(work: Path, tmp_path: Path) -> None:
    push_hostile_log(work, tmp_path, "models/clf/extra.json")
    plant_production(work, "git_blob", "--output=/x")
    refused(("checkout", "clf@production"), work, "malformed assignment")


# -- a canary split copies what the stage holds into a new event: never unchecked


@pytest.mark.parametrize(
    ("path", "key", "value", "needle"),
    [
        ("evil.sh", None, None, "'evil.sh'"),  # outside the model's declared paths
        ("models/clf/../../evil.sh", None, None, "'models/clf/../../evil.sh'"),
        ("models/clf/.GIT/config", None, None, "'models/clf/.GIT/config'"),
        ("models/clf/extra.json", "oid", "../../objects/x", "malformed assignment"),
        ("models/clf/extra.json", "git_blob", "HEAD:secret", "malformed assignment"),
        ("models/clf/extra.json", "commit", "--upload-pack=x", "malformed assignment"),
    ],
)  # fmt: skip
def test_a_canary_split_never_copies_a_hostile_assignment(
    work: Path, tmp_path: Path, path: str, key: str | None, value: str | None, needle: str
) -> None:
    push_hostile_log(work, tmp_path, path)
    if key is not None and value is not None:
        plant_production(work, key, value, in_file=key != "commit")
    tip = git_out("rev-parse", "refs/gitmodel/registry", cwd=work)
    refused(("promote", "clf@v3", "production", "--weight", "10"), work, needle)
    assert git_out("rev-parse", "refs/gitmodel/registry", cwd=work) == tip  # no event
    if key is None:  # a path the model does not declare: what the hint says mends it
        git_model("promote", "clf@v3", "production", cwd=work)
        held = json.loads(git_model("stages", "clf", "--json", cwd=work).stdout)
        assert [a["version"] for a in held["models"]["clf"]["production"]] == [3]


# -- a commit whose tree holds a path Git would not check out ------------------------


def mktree(repo: Path, entries: list[str]) -> str:
    listing = "".join(f"{line}\n" for line in entries).encode()
    return run_git("mktree", cwd=repo, input=listing).stdout.decode().strip()


def test_a_version_whose_tree_holds_a_dot_git_folder_is_refused(work: Path) -> None:
    """``models/clf/.GIT/config`` matches the model's pathspec; Git itself would never
    check it out (on a case-insensitive disk it is the nested repository's config)."""
    config = run_git("hash-object", "-w", "--stdin", cwd=work, input=b"[core]\n").stdout
    dot_git = mktree(work, [f"100644 blob {config.decode().strip()}\tconfig"])

    def listing(rev: str) -> list[str]:
        return git_out("ls-tree", rev, cwd=work).splitlines()

    clf = mktree(work, [*listing("HEAD:models/clf"), f"040000 tree {dot_git}\t.GIT"])
    models = mktree(work, [f"040000 tree {clf}\tclf"])
    others = [line for line in listing("HEAD") if not line.endswith("\tmodels")]
    root = mktree(work, [*others, f"040000 tree {models}\tmodels"])
    commit = git_out("commit-tree", root, "-p", "HEAD", "-m", "clf v4", cwd=work).strip()
    run_git("update-ref", "refs/heads/main", commit, cwd=work)
    refused(("checkout", "clf@v4", "--to", str(work.parent / "out")), work,
            "clf v4 names 'models/clf/.GIT/config'")  # fmt: skip
    assert not (work.parent / "out" / "models").exists()


@pytest.mark.parametrize("path", [".GIT/x", "models/git~1", "models/../../x", "/abs"])
def test_declared_paths_follow_the_same_rules(work: Path, path: str) -> None:
    (work / ".gitmodel-registry.json").write_text(json.dumps({"models": {"m": {"paths": [path]}}}))
    refused(("checkout", "m@v1"), work, "invalid model path")


def test_declared_paths_are_literal_never_git_pathspec_magic(work: Path) -> None:
    """A declared path of ``*`` names a file called ``*``, not every file in the repository."""
    (work / ".gitmodel-registry.json").write_text(json.dumps({"models": {"m": {"paths": ["*"]}}}))
    proc = git_model("versions", "m", "--json", cwd=work, check=False)
    assert proc.returncode in (0, 1), proc.stderr.decode()
    assert b"notes" not in proc.stdout and b".gitattributes" not in proc.stdout
    assert b"models/" not in proc.stdout
