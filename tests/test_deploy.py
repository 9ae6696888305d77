"""git model deploy: releases, the atomic switch, incremental fetches, rollback, health
checks, canary pairs and kill -9, against S3 on loopback and a local bare repository."""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import copy_of_template, git_model, git_out, run_git
from reader_support import COUNT_ENV, Published, publish, random_tensor, received, safetensors_bytes

from gitmodel.registry import stages

MIB = 1 << 20
MODEL = "models/clf/model.safetensors"


def layers(changed: dict[int, int] | None = None) -> bytes:
    """Ten 1 MiB tensors; ``changed`` maps a layer to a new seed."""
    seeds = {i: i for i in range(10)} | (changed or {})
    return safetensors_bytes({f"layer.{i}": random_tensor((512, 512), s) for i, s in seeds.items()})


def registered(published: Published) -> None:
    published.commit("v1", {MODEL: layers(), "models/clf/tokenizer.bin": os.urandom(2 * MIB),
                            "models/clf/config.json": b'{"layers": 10}\n'}, push=False)  # fmt: skip
    published.model("register", "clf", "models/clf")
    published.commit("register clf", {}, push=False)
    published.model("promote", "clf@v1", "production")
    published.push()


def publish_registered(tmp_path: Path) -> Published:
    """:func:`publish` then :func:`registered`, as a copy of the two done once per process
    (the author's remote pointed at the copy's origin)."""
    copy_of_template("deploy-registered", lambda root: registered(publish(root)), tmp_path)
    published = Published(tmp_path / "origin.git", tmp_path / "author")
    run_git("remote", "set-url", "origin", str(published.origin), cwd=published.work)
    return published


def release(target: Path) -> str:
    return Path(os.readlink(target / "current")).name


def deploy(published: Published, target: Path, *args: str, check: bool = True,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:  # fmt: skip
    return git_model("deploy", "clf@production", str(target), "--from", published.url, *args,
                     cwd=published.origin.parent, check=check, env=env)  # fmt: skip


@pytest.mark.long
def test_deploy_promote_deploy_rollback_and_a_failed_check(
    tmp_path: Path, s3_endpoint: str, aws_env: None
) -> None:
    published = publish(tmp_path, s3_endpoint)
    registered(published)
    target = tmp_path / "serve"
    deploy(published, target)
    v1 = release(target)
    assert v1.startswith("v1-")
    served = target / "current" / "models" / "clf"
    assert (served / "model.safetensors").read_bytes() == layers()
    assert (served / "config.json").read_bytes() == b'{"layers": 10}\n'
    tokenizer = (served / "tokenizer.bin").stat().st_ino

    published.commit("retrain layer 3", {MODEL: layers({3: 33})}, push=False)
    published.model("promote", "clf@v2", "production")
    published.push()
    count = tmp_path / "count"
    deploy(published, target, env={**os.environ, COUNT_ENV: str(count)})
    v2 = release(target)
    assert v2.startswith("v2-")
    assert (served / "model.safetensors").read_bytes() == layers({3: 33})
    assert (served / "tokenizer.bin").stat().st_ino == tokenizer  # unchanged: the same file
    assert received(count) <= 1.1 * MIB + (64 << 10)  # one changed tensor, and the manifest
    assert (target / "releases" / v1 / MODEL).is_file()

    proc = git_model("deploy", "--rollback", str(target), cwd=tmp_path)
    assert release(target) == v1
    assert b"rolled back to v1-" in proc.stderr

    published.commit("retrain layer 5", {MODEL: layers({5: 55})}, push=False)
    published.model("promote", "clf@v3", "production")
    published.push()
    failed = deploy(published, target, "--check", "test -f models/clf/missing", check=False)
    assert failed.returncode == 1
    assert b"health check failed" in failed.stderr and b"current still serves v1-" in failed.stderr
    assert b"Traceback" not in failed.stderr
    assert release(target) == v1
    killed = deploy(published, target, "--check", "kill -9 $$", check=False)  # the OOM killer
    assert b"health check failed in v3-" in killed.stderr
    assert b"(killed by signal 9); current still serves v1-" in killed.stderr
    deploy(published, target, "--check", "test -f models/clf/model.safetensors")
    assert release(target).startswith("v3-")


def running(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie nobody reaped has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def started_check(pids: Path) -> str:
    """A health check that writes its shell's pid and its child's to ``pids``, then hangs."""
    return f"sleep 60 & echo $$ $! > {pids}.tmp && mv {pids}.tmp {pids}; wait"


def test_a_health_check_that_hangs_is_stopped_with_what_it_started(tmp_path: Path) -> None:
    published = publish_registered(tmp_path)
    target = tmp_path / "serve"
    pids = tmp_path / "pids"
    start = time.monotonic()
    proc = deploy(published, target, "--check", started_check(pids), "--check-timeout", "1",
                  check=False)  # fmt: skip
    assert time.monotonic() - start < 30
    assert proc.returncode == 1 and b"Traceback" not in proc.stderr
    assert b"health check ran out of time in v1-" in proc.stderr
    assert b"(1 s; its processes were stopped); nothing is served yet" in proc.stderr
    assert b"hint: fix the check, or give it longer: --check-timeout SECONDS" in proc.stderr
    assert not any(running(int(pid)) for pid in pids.read_text().split())
    assert not os.path.lexists(target / "current")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_deploy_ended_during_its_health_check_stops_the_check(
    tmp_path: Path, signum: int
) -> None:
    """Ended while its check runs, a deploy lets go of the folder's lock: nothing the
    check started may run on in a release the next deploy may delete."""
    published = publish_registered(tmp_path)
    target = tmp_path / "serve"
    pids = tmp_path / "pids"
    args = ["git-model", "deploy", "clf@production", str(target), "--from", published.url,
            "--check", started_check(pids)]  # fmt: skip
    proc = subprocess.Popen(args, cwd=tmp_path, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not pids.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signum)  # to the deploy alone, as a supervisor stops it
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == (143 if signum == signal.SIGTERM else 130)
    assert b"interrupted: the health check in v1-" in stderr and b"Traceback" not in stderr
    assert not any(running(int(pid)) for pid in pids.read_text().split())
    assert not os.path.lexists(target / "current")


def canary_deployed(tmp_path: Path) -> tuple[Published, Path]:
    """clf v1 and v2 on production, weighted 90/10, deployed to ``tmp_path/serve``."""
    published = publish_registered(tmp_path)
    published.commit("retrain", {MODEL: layers({1: 11})}, push=False)
    published.model("promote", "clf@v2", "production", "--weight", "10")
    published.push()
    target = tmp_path / "serve"
    deploy(published, target)
    return published, target


def test_a_canary_pair_is_two_releases_and_a_split_file(tmp_path: Path) -> None:
    published, target = canary_deployed(tmp_path)
    assert release(target).startswith("v1-")  # the main version: the larger weight
    split = json.loads((target / "canary.json").read_text())["releases"]
    assert [(s["version"], s["weight"]) for s in split] == [(1, 90), (2, 10)]
    for s in split:
        assert (target / s["release"] / MODEL).is_file()
    assert served_pair(target) == (release(target), [(s["release"], s["weight"]) for s in split])
    published.model("promote", "clf@v2", "production")  # the cut-over
    published.push()
    deploy(published, target)
    assert release(target).startswith("v2-")
    assert not (target / "canary.json").exists()
    assert served_pair(target) == (release(target), None)
    git_model("deploy", "--rollback", str(target), cwd=tmp_path)
    assert release(target).startswith("v1-")
    assert (target / "canary.json").is_file()  # the split comes back with its deployment
    assert served_pair(target)[1] == [(s["release"], s["weight"]) for s in split]


def served_pair(target: Path) -> tuple[str, list[tuple[str, int]] | None]:
    """The main release and the split as one reader sees them: ``serving`` resolved once."""
    state = os.path.realpath(target / "serving")
    main = Path(os.readlink(os.path.join(state, "current"))).name
    try:
        with open(os.path.join(state, "canary.json"), "rb") as f:
            split = [(s["release"], s["weight"]) for s in json.load(f)["releases"]]
    except FileNotFoundError:
        return main, None
    return main, split


def test_a_reader_sees_the_release_and_its_split_switch_together(tmp_path: Path) -> None:
    published, target = canary_deployed(tmp_path)
    v1, v2 = release(target), ""
    published.model("promote", "clf@v2", "production")
    published.push()
    seen: list[tuple[str, list[tuple[str, int]] | None]] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            seen.append(served_pair(target))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(3):
            deploy(published, target)  # v2 alone
            v2 = release(target)
            git_model("deploy", "--rollback", str(target), cwd=tmp_path)  # v1 90%, v2 10%
    finally:
        done.set()
        reader.join()
    pairs = {(v1, (("releases/" + v1, 90), ("releases/" + v2, 10))), (v2, None)}
    found = {(main, None if split is None else tuple(split)) for main, split in seen}
    assert found == pairs, found - pairs
    assert len(list((target / "deployments").iterdir())) == 3  # the newest ones only


def test_a_folder_in_the_older_layout_is_deployed_and_rolled_back(tmp_path: Path) -> None:
    published, target = canary_deployed(tmp_path)
    body = (target / "canary.json").read_bytes()
    for name in ("serving", "canary.json"):  # as deploys before serving/ left it
        (target / name).unlink()
    shutil.rmtree(target / "deployments")
    (target / "canary.json").write_bytes(body)
    proc = deploy(published, target)  # nothing changed: the pair is given its serving link
    assert b"already serving" in proc.stderr
    assert (target / "canary.json").is_symlink() and (target / "canary.json").read_bytes() == body
    assert served_pair(target)[0] == release(target)
    published.model("promote", "clf@v2", "production")
    published.push()
    deploy(published, target)
    assert release(target).startswith("v2-") and not (target / "canary.json").exists()
    assert (target / "canary.json").is_symlink()
    git_model("deploy", "--rollback", str(target), cwd=tmp_path)
    assert (target / "canary.json").read_bytes() == body
    assert served_pair(target)[0] == release(target)


def test_kill_9_during_a_deploy_leaves_current_intact(tmp_path: Path) -> None:
    published = publish_registered(tmp_path)
    target = tmp_path / "serve"
    deploy(published, target)
    v1 = release(target)
    published.commit("v2", {"models/clf/tokenizer.bin": os.urandom(48 * MIB)}, push=False)
    published.model("promote", "clf@v2", "production")
    published.push()
    slow = {**os.environ, "GIT_MODEL_TEST_FAULTS": "delay=0.3"}
    proc = subprocess.Popen(["git-model", "deploy", "clf@production", str(target), "--from",
                             published.url], cwd=tmp_path, env=slow,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    downloading = target / ".gitmodel" / "store" / "tmp"
    deadline = time.monotonic() + 60
    while not (downloading.is_dir() and list(downloading.iterdir())) and proc.poll() is None \
            and time.monotonic() < deadline:  # fmt: skip
        time.sleep(0.05)
    time.sleep(0.3)  # well inside the download
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list((target / "releases").glob(".tmp-*")), "killed before it began"
    assert list(downloading.iterdir()), "killed before its download began"
    assert release(target) == v1
    assert (target / "current" / MODEL).read_bytes() == layers()
    deploy(published, target)  # the next deploy clears what the killed one left
    assert release(target).startswith("v2-")
    assert not list((target / "releases").glob(".tmp-*"))
    assert not list(downloading.iterdir())  # a killed download's part, of any size


KILL_AT_RENAME = """
import os, signal, sys
_root, _at, _seen = os.environ["KILL_IN"], int(os.environ["KILL_AT_RENAME"]), 0
def _kill_at_rename(event, args):
    global _seen
    if event == "os.rename" and os.fsdecode(args[1]).startswith(_root):
        _seen += 1
        if _seen == _at:
            os.kill(os.getpid(), signal.SIGKILL)
sys.addaudithook(_kill_at_rename)
"""


def killed_at_rename(tmp_path: Path, target: Path, n: int, *args: str, cwd: Path) -> bool:
    """Run ``git model ARGS``, sent SIGKILL as it is about to make its ``n``th rename in
    ``target`` (an audit hook loaded by ``sitecustomize``); whether it was killed."""
    hook = tmp_path / "kill-hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(KILL_AT_RENAME)
    env = {**os.environ, "PYTHONPATH": str(hook), "KILL_IN": str(target),
           "KILL_AT_RENAME": str(n)}  # fmt: skip
    proc = git_model(*args, cwd=cwd, check=False, env=env)
    assert proc.returncode in (0, -signal.SIGKILL), proc.stderr
    return proc.returncode != 0


def test_a_rollback_or_deploy_killed_at_any_rename_keeps_the_history_true(tmp_path: Path) -> None:
    """Killed between switching ``serving`` and saving the history (or anywhere else), a
    rollback or deploy leaves a history whose last entry is what is served: the next
    deploy and rollback go where they should."""
    published = publish(tmp_path)
    registered(published)
    target = tmp_path / "serve"
    here = ("deploy", "clf@production", str(target))
    git_model(*here, cwd=published.work)
    v1 = release(target)
    published.commit("v2", {MODEL: layers({0: 7})}, push=False)
    published.model("promote", "clf@v2", "production")
    git_model(*here, cwd=published.work)
    v2 = release(target)
    rollback = ("deploy", "--rollback", str(target))
    n = 0
    while killed_at_rename(tmp_path, target, n := n + 1, *rollback, cwd=tmp_path):
        git_model(*here, cwd=published.work)  # the stage still holds v2
        assert release(target) == v2, n
        git_model(*rollback, cwd=tmp_path)
        assert release(target) == v1, f"a rollback killed at rename {n} left a false history"
        git_model(*here, cwd=published.work)
    assert n > 4 and release(target) == v1
    n = 0
    while True:  # a deploy of v1 after v2, killed, then a rollback: back to v2 if it switched
        published.model("promote", "clf@v2", "production")
        git_model(*here, cwd=published.work)
        published.model("promote", "clf@v1", "production")
        if not killed_at_rename(tmp_path, target, n := n + 1, *here, cwd=published.work):
            break
        switched = Path(os.readlink(target / "serving" / "current")).name == v1
        git_model(*rollback, cwd=tmp_path)
        assert release(target) == (v2 if switched else v1), f"killed at rename {n}"
    assert n > 4 and release(target) == v1


def test_deploy_from_this_repository_keeps_k_releases(tmp_path: Path) -> None:
    published = publish_registered(tmp_path)
    target = tmp_path / "serve"
    for n in range(2, 5):
        published.commit(f"v{n}", {MODEL: layers({0: 100 + n})}, push=False)
        published.model("promote", f"clf@v{n}", "production")
        git_model("deploy", "clf@production", str(target), "--keep", "2", cwd=published.work)
    names = sorted(p.name for p in (target / "releases").iterdir())
    assert [n.split("-")[0] for n in names] == ["v3", "v4"]
    assert release(target).startswith("v4-")


def test_deploy_from_a_working_clone_takes_objects_from_its_store(tmp_path: Path) -> None:
    """A clone's objects are in its own store (`<git dir>/model`), which --from reads
    (read-only, each object checked), before the model remote."""
    published = publish_registered(tmp_path)
    store = published.work / ".git" / "model"
    held = sorted((p, p.stat().st_mtime_ns) for p in store.rglob("*"))
    target = tmp_path / "serve"
    proc = git_model("deploy", "clf@production", str(target), "--from", str(published.work),
                     cwd=tmp_path, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert b"0 B fetched from the model remote" in proc.stderr
    assert (target / "current" / MODEL).read_bytes() == layers()
    assert sorted((p, p.stat().st_mtime_ns) for p in store.rglob("*")) == held


def test_a_folder_serving_one_model_refuses_another(tmp_path: Path) -> None:
    """Release names (v1-<commit>) do not name the model, and two models changed by one
    commit share them: deploying model b into a's folder must not report a's release
    as b's ("already serving"), nor serve anything but a."""
    published = publish(tmp_path)
    published.commit("two models", {"models/a/w.bin": os.urandom(5000),
                                    "models/b/w.bin": os.urandom(5000)}, push=False)  # fmt: skip
    for name in ("a", "b"):
        published.model("register", name, f"models/{name}")
    published.commit("register a and b", {}, push=False)
    for name in ("a", "b"):
        published.model("promote", name, "production")
    target = tmp_path / "serve"
    git_model("deploy", "a@production", str(target), cwd=published.work)
    served = release(target)
    proc = git_model("deploy", "b@production", str(target), cwd=published.work, check=False)
    lines = proc.stderr.decode().splitlines()
    assert proc.returncode == 1, lines
    assert lines[0] == f"gitmodel: error: {target} serves model a, not b", lines
    assert lines[1].startswith("hint: deploy b into a folder of its own"), lines
    assert release(target) == served
    assert json.loads((target / "current/.gitmodel-release.json").read_text())["model"] == "a"


def test_a_rollback_with_no_deployment_kept_before_says_what_to_do(tmp_path: Path) -> None:
    published = publish(tmp_path)
    registered(published)
    target = tmp_path / "serve"
    git_model("deploy", "clf@production", str(target), cwd=published.work)
    proc = git_model("deploy", "--rollback", str(target), cwd=tmp_path, check=False)
    lines = proc.stderr.decode().splitlines()
    assert proc.returncode == 1, lines
    assert lines == [
        f"gitmodel: error: {target} keeps no deployment before the one it serves "
        f"({release(target)}) to roll back to",
        "hint: to serve another version, deploy it: git model deploy NAME@STAGE DIR "
        "(--keep K keeps the last K deployments for rollbacks)",
    ]
    published.commit("v2", {MODEL: layers({0: 7})}, push=False)
    published.model("promote", "clf@v2", "production")
    git_model("deploy", "clf@production", str(target), "--keep", "1", cwd=published.work)
    proc = git_model("deploy", "--rollback", str(target), cwd=tmp_path, check=False)
    assert proc.returncode == 1 and b"keeps no deployment before" in proc.stderr


def test_errors_are_one_line_with_a_hint(tmp_path: Path) -> None:
    proc = git_model("deploy", "--rollback", str(tmp_path / "nothing"), cwd=tmp_path, check=False)
    assert proc.returncode == 1
    lines = proc.stderr.decode().splitlines()
    assert lines[0].startswith("gitmodel: error:") and lines[1].startswith("hint:")
    proc = git_model("deploy", "clf", str(tmp_path / "x"), "--from", "ext::sh", cwd=tmp_path,
                     check=False)  # fmt: skip
    assert proc.returncode == 1
    assert b"name the stage" in proc.stderr
    proc = git_model("deploy", "clf@v2", str(tmp_path / "x"), cwd=tmp_path, check=False)
    assert proc.stderr.decode().splitlines() == [
        "gitmodel: error: deploy serves what a stage holds, and clf@v2 names a version",
        "hint: promote v2 to a stage and deploy that (git model deploy clf@STAGE DIR), or "
        "write its files with git model checkout clf@v2 --to DIR",
    ]
    proc = git_model("deploy", "clf@production", str(tmp_path / "x"), "--from", "ext::sh -c x",
                     cwd=tmp_path, check=False)  # fmt: skip
    assert proc.returncode == 1 and b"not a repository URL" in proc.stderr
    latin1 = tmp_path / "caf\udce9.git"  # a path whose bytes are not UTF-8
    run_git("init", "-q", "--bare", str(latin1), cwd=tmp_path)
    proc = git_model("deploy", "clf@production", str(tmp_path / "x"), "--from", str(latin1),
                     cwd=tmp_path, check=False)  # fmt: skip
    lines = proc.stderr.decode().splitlines()
    assert proc.returncode == 1 and len(lines) == 2, lines
    assert "not a repository URL" in lines[0] and "it is not UTF-8 text" in lines[0]


@pytest.mark.parametrize(
    ("name", "junk"),
    [("current", "file"), ("current", "dir"), ("serving", "file"), ("serving", "dir"),
     ("canary.json", "dir"), ("deployments", "file"), ("deployments", "dir")],
)  # fmt: skip
def test_a_current_that_is_not_a_symlink_is_never_replaced(
    tmp_path: Path, junk: str, name: str
) -> None:
    published = publish_registered(tmp_path)
    target = tmp_path / "serve"
    target.mkdir()
    (target / name).mkdir() if junk == "dir" else (target / name).write_text("x")
    if name == "deployments" and junk == "dir":
        (target / name).rmdir()
        (target / name).symlink_to(tmp_path, target_is_directory=True)
    proc = deploy(published, target, check=False)
    assert proc.returncode == 1 and b"hint:" in proc.stderr and b"Traceback" not in proc.stderr
    assert not (target / name).is_symlink() or name == "deployments"
    assert not (target / "current").is_symlink() or name == "current"
    assert not any(p.name.isdigit() for p in tmp_path.iterdir())


def test_a_release_edited_or_half_deleted_by_hand_is_built_again(tmp_path: Path) -> None:
    published = publish_registered(tmp_path)
    target = tmp_path / "srv" / "clf"  # its parent made too, as by git clone
    deploy(published, target)
    served = target / "current" / "models" / "clf"
    (served / "config.json").unlink()
    proc = deploy(published, target)
    assert b"already serving" not in proc.stderr
    assert (served / "config.json").read_bytes() == b'{"layers": 10}\n'
    model = served / "model.safetensors"  # a hard link to the folder's store object
    model.chmod(0o644)
    with open(model, "r+b") as f:
        f.truncate(100)
    deploy(published, target)
    assert model.read_bytes() == layers()
    assert not list((target / "releases").glob(".tmp-*"))
    history = target / ".gitmodel" / "deploys.json"
    history.write_text("garbage")
    proc = deploy(published, target, check=False)
    assert proc.returncode == 1 and f"mv {history} {history}.bad".encode() in proc.stderr
    history.rename(f"{history}.bad")
    deploy(published, target)
    assert json.loads(history.read_text())["deployments"][0]["current"] == release(target)


def plant(published: Published, key: str, value: object) -> None:
    """Set ``key`` of the first file (config.json) of production's assignment (``twice``:
    list its last file twice; ``weight``: add two assignments of 1%) in a new event on
    the registry log, its state that event's fold (so it passes the log's own checks),
    written with plain Git as anyone who can push it could."""
    work = published.work
    state = json.loads(git_out("show", "refs/gitmodel/registry:state.json", cwd=work))
    before = state["models"]["clf"]["stages"]["production"]
    held = copy.deepcopy(before)
    files = held[0]["files"]
    if key == "weight":
        held.extend([{**held[0], "weight": 1}] * 2)
    elif key == "twice":
        files.append(files[-1])
    else:
        files[0][key] = value
    record = {"type": "promote", "model": "clf", "stage": "production", "from": before,
              "to": held, "message": "", "forced": False, "bypassed": []}  # fmt: skip
    state = stages.reduce(state, copy.deepcopy(record))

    def blob(value: object) -> str:
        data = json.dumps(value).encode()
        return run_git("hash-object", "-w", "--stdin", cwd=work, input=data).stdout.decode().strip()

    listing = f"100644 blob {blob(record)}\trecord.json\n100644 blob {blob(state)}\tstate.json\n"
    tree = run_git("mktree", cwd=work, input=listing.encode()).stdout.decode().strip()
    tip = git_out("rev-parse", "refs/gitmodel/registry", cwd=work).strip()
    commit = git_out("commit-tree", tree, "-p", tip, "-m", "registry: promote clf production",
                     cwd=work)  # fmt: skip
    run_git("update-ref", "refs/gitmodel/registry", commit.strip(), cwd=work)
    run_git("push", "-q", "--no-verify", "origin", "refs/gitmodel/registry", cwd=work)


@pytest.mark.parametrize(
    ("key", "from_url", "said"),
    [("git_blob", True, "does not hold there"), ("git_blob", False, "does not hold there"),
     ("size", True, "holds 15 bytes, not the 5"),
     ("twice", False, "names 'models/clf/tokenizer.bin' twice"),
     ("weight", True, "holds v1, v1 1%, v1 1% in the registry log")],
)  # fmt: skip
def test_a_registry_log_naming_files_unlike_its_commits_is_refused(
    tmp_path: Path, key: str, from_url: bool, said: str
) -> None:
    published = publish_registered(tmp_path)
    other = run_git("hash-object", "-w", "--stdin", cwd=published.work, input=b"x" * 5000)
    plant(published, key, other.stdout.decode().strip() if key == "git_blob" else 5)
    target = tmp_path / "serve"
    if from_url:
        proc = deploy(published, target, check=False)
    else:
        proc = git_model("deploy", "clf@production", str(target), cwd=published.work, check=False)
    assert proc.returncode == 1 and said.encode() in proc.stderr
    assert not (target / "current").exists()
    assert not target.exists() or not list((target / "releases").iterdir())


def test_deploy_from_a_url_refuses_a_registry_state_edited_by_hand(tmp_path: Path) -> None:
    """A state that does not follow from the log's records (production set to a version
    never promoted, by anyone who can push the ref) is refused, as `git model fetch`
    refuses it; only what the records say is deployed."""
    published = publish(tmp_path)
    registered(published)
    published.commit("v2, never promoted", {MODEL: layers({0: 7})})
    target = tmp_path / "serve"
    deploy(published, target)
    v1 = release(target)
    work, ref = published.work, "refs/gitmodel/registry"
    good = git_out("rev-parse", ref, cwd=work).strip()
    published.model("promote", "clf@v2", "production")  # the state wanted, never pushed
    state = git_out("rev-parse", f"{ref}:state.json", cwd=work).strip()
    record = git_out("rev-parse", f"{good}:record.json", cwd=work).strip()  # a copy
    listing = f"100644 blob {record}\trecord.json\n100644 blob {state}\tstate.json\n"
    tree = run_git("mktree", cwd=work, input=listing.encode()).stdout.decode().strip()
    forged = git_out("commit-tree", tree, "-p", good, "-m", "registry: promote clf production",
                     cwd=work).strip()  # fmt: skip
    run_git("push", "-q", "--no-verify", "origin", f"{forged}:{ref}", cwd=work)
    proc = deploy(published, target, check=False)
    assert proc.stderr.decode().splitlines() == [
        f"gitmodel: error: the registry log on {published.url} is damaged at commit "
        f"{forged[:12]}: its state does not follow from the records",
        "hint: nothing was read from it; whoever made that commit can put the log there back "
        f"on its last good commit (see `git log {ref}` in a clone)",
    ]
    assert proc.returncode == 1 and release(target) == v1
    run_git("push", "-q", "--no-verify", "--force", "origin", f"{good}:{ref}", cwd=work)
    assert b"already serving" in deploy(published, target).stderr  # mended: deployed again


def folder_listing(target: Path) -> dict[str, str]:
    """Every path under a deploy folder, and where each symlink points."""
    return {str(path.relative_to(target)): os.readlink(path) if path.is_symlink() else ""
            for path in sorted(target.rglob("*"))}  # fmt: skip


def test_deploy_from_a_url_refuses_a_registry_log_rewritten_since(tmp_path: Path) -> None:
    """The registry log force-pushed to another history, sound on its own (v2 promoted
    from scratch), is refused as `git model fetch` refuses a diverged log: the folder
    stays as it was until the reader forgets what it read."""
    published = publish(tmp_path)
    registered(published)
    published.commit("v2", {MODEL: layers({0: 7})})
    target = tmp_path / "serve"
    deploy(published, target)
    v1, before = release(target), folder_listing(target)
    work, ref = published.work, "refs/gitmodel/registry"
    run_git("update-ref", "-d", ref, cwd=work)  # the owner starts the log again
    published.model("promote", "clf@v2", "production", "-m", "a new log")
    run_git("push", "-q", "--no-verify", "--force", "origin", ref, cwd=work)
    fresh = tmp_path / "fresh"  # the new log is sound on its own: a first reader takes it
    deploy(published, fresh, env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache2")})
    assert release(fresh).startswith("v2-")

    proc = deploy(published, target, check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert err.splitlines()[0].startswith(
        f"gitmodel: error: the registry log on {published.url} was rewritten: it no longer holds "
    ), err
    assert err.splitlines()[1] == (
        "hint: if its owner rewrote it on purpose, forget what was read from it, then read "
        f"it again: git model cache forget {published.url}"
    )
    assert len(err.splitlines()) == 2
    assert (release(target), folder_listing(target)) == (v1, before)
    assert deploy(published, target, check=False).returncode == 1  # refused every time

    forgot = git_model("cache", "forget", published.url, cwd=tmp_path)
    assert forgot.stdout.decode() == f"forgot {published.url}\n"
    again = git_model("cache", "forget", published.url, cwd=tmp_path)
    assert again.stdout.decode() == f"nothing was cached for {published.url}\n"
    deploy(published, target)
    assert release(target) != v1 and release(target).startswith("v2-")


def test_checkout_of_a_stage_refuses_a_log_naming_another_blob(tmp_path: Path) -> None:
    published = publish_registered(tmp_path)
    other = run_git("hash-object", "-w", "--stdin", cwd=published.work, input=b"x" * 5000)
    plant(published, "git_blob", other.stdout.decode().strip())
    target = tmp_path / "out"
    proc = git_model("checkout", "clf@production", "--to", str(target), cwd=published.work,
                     check=False)  # fmt: skip
    assert proc.returncode == 1 and b"does not hold there" in proc.stderr
    assert not target.exists() or not list(target.rglob("*"))


def test_a_version_this_clone_has_not_fetched_says_to_fetch_it(tmp_path: Path) -> None:
    published = publish(tmp_path)
    published.commit("v1", {"models/clf/w.bin": b"1" * 2000}, push=False)
    published.model("register", "clf", "models/clf")
    published.commit("register clf", {})
    published.model("promote", "clf@v1", "production")
    published.push()
    served = tmp_path / "served"
    git_model("deploy", "clf@production", str(served), cwd=published.origin)  # the bare one
    assert (served / "current" / "models" / "clf" / "w.bin").read_bytes() == b"1" * 2000
    behind = tmp_path / "behind"
    run_git("clone", "-q", str(published.origin), str(behind), cwd=tmp_path)
    published.commit("v2", {"models/clf/w.bin": b"2" * 2000}, push=False)
    published.model("promote", "clf@v2", "production")
    published.push()
    git_model("fetch", cwd=behind)  # the registry log, not the commit it names
    proc = git_model("deploy", "clf@production", str(tmp_path / "serve"), cwd=behind, check=False)
    assert proc.returncode == 1
    assert b"which this repository does not have\nhint: fetch it: `git fetch`" in proc.stderr


def test_an_oversized_committed_declaration_is_refused(tmp_path: Path) -> None:
    published = publish(tmp_path)
    published.commit("v1", {"models/clf/w.bin": b"1" * 2000}, push=False)
    published.model("register", "clf", "models/clf")
    declaration = published.work / ".gitmodel-registry.json"
    body = json.loads(declaration.read_text()) | {"pad": "x" * (5 << 20)}
    padded = {"models/clf/w.bin": b"2" * 2000, declaration.name: json.dumps(body).encode()}
    published.commit("v2", padded, push=False)
    published.model("promote", "clf@v2", "production")
    published.push()
    proc = deploy(published, tmp_path / "serve", check=False)
    assert proc.returncode == 1 and b"is over 4 MiB: not a declaration" in proc.stderr


def test_a_committed_symlink_is_never_deployed(tmp_path: Path) -> None:
    published = publish(tmp_path)
    (published.work / "models" / "clf").mkdir(parents=True)
    (published.work / "models" / "clf" / "link").symlink_to("/etc/passwd")
    published.commit("v1", {"models/clf/w.bin": b"1" * 2000}, push=False)
    published.model("register", "clf", "models/clf")
    published.commit("register clf", {}, push=False)
    published.model("promote", "clf@v1", "production")
    published.push()
    said = b"models/clf/link is a symlink in v1"
    proc = deploy(published, tmp_path / "a", check=False)
    assert proc.returncode == 1 and said in proc.stderr
    proc = git_model("deploy", "clf@production", str(tmp_path / "b"), cwd=published.work,
                     check=False)  # fmt: skip
    assert proc.returncode == 1 and said in proc.stderr
    assert not (tmp_path / "b" / "current").exists()


def test_a_bad_model_url_is_refused_even_when_nothing_changed(tmp_path: Path) -> None:
    published = publish_registered(tmp_path)
    target = tmp_path / "serve"
    store = f"file://{published.origin}/model/remote"
    deploy(published, target, "--model-url", store)
    proc = deploy(published, target, "--model-url", store)
    assert b"already serving" in proc.stderr
    for bad in ("ftp://host/store", "--upload-pack=touch x", "relative/store"):
        proc = deploy(published, target, f"--model-url={bad}", check=False)
        assert proc.returncode == 1 and b"Traceback" not in proc.stderr
        lines = proc.stderr.decode().splitlines()
        assert len(lines) == 2 and lines[0].startswith("gitmodel: error: the model store"), bad
        assert lines[1].startswith("hint: name it as")
    assert not (tmp_path / "x").exists()


def edit_in_place(path: Path, offset: int, data: bytes) -> None:
    """Overwrite bytes of ``path`` where they are, as a hand edit would (same size)."""
    path.chmod(0o644)
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def test_a_release_file_edited_in_place_at_its_size_is_built_again(tmp_path: Path) -> None:
    published = publish_registered(tmp_path)
    target = tmp_path / "serve"
    deploy(published, target)
    served = target / "current" / "models" / "clf"
    model, config = served / "model.safetensors", served / "config.json"
    size, tokenizer = model.stat().st_size, (served / "tokenizer.bin").read_bytes()
    edit_in_place(model, size // 2, b"\xff" * 16)
    edit_in_place(config, 2, b"X")
    assert model.stat().st_size == size
    proc = deploy(published, target)
    assert b"already serving" not in proc.stderr and b"built v1-" in proc.stderr
    assert b"had a file missing or changed by hand: built again" in proc.stderr
    assert model.read_bytes() == layers()
    assert config.read_bytes() == b'{"layers": 10}\n'
    bad = list((target / ".gitmodel" / "store" / "bad").iterdir())  # kept, not lost
    assert len(bad) == 1 and bad[0].read_bytes() != layers()
    os.utime(model)  # touched, not changed: hashed again, found whole
    proc = deploy(published, target)
    assert b"already serving" in proc.stderr
    proc = deploy(published, target)
    assert b"already serving" in proc.stderr

    published.commit("retrain layer 3", {MODEL: layers({3: 33})}, push=False)
    published.model("promote", "clf@v2", "production")
    published.push()
    deploy(published, target)
    old = next((target / "releases").glob("v1-*"))
    edit_in_place(old / "models" / "clf" / "tokenizer.bin", 0, b"\0" * 8)  # shared with v2
    proc = git_model("deploy", "--rollback", str(target), cwd=tmp_path, check=False)
    assert proc.returncode == 1 and b"is gone, incomplete or edited" in proc.stderr
    assert release(target).startswith("v2-")
    proc = deploy(published, target)  # v2's tokenizer is the same inode: built again too
    assert b"built v2-" in proc.stderr
    assert (served / "tokenizer.bin").read_bytes() == tokenizer


@pytest.mark.parametrize("name", [".gitmodel", "releases"])
def test_the_folders_own_folders_as_symlinks_are_never_written_through(
    tmp_path: Path, name: str
) -> None:
    published = publish_registered(tmp_path)
    target = tmp_path / "serve"
    deploy(published, target)
    elsewhere = tmp_path / "elsewhere"
    (target / name).rename(elsewhere)
    (target / name).symlink_to(elsewhere, target_is_directory=True)
    before = sorted(p.relative_to(elsewhere) for p in elsewhere.rglob("*"))
    for args in (["deploy", "clf@production", str(target), "--from", published.url],
                 ["deploy", "--rollback", str(target)]):  # fmt: skip
        proc = git_model(*args, cwd=tmp_path, check=False)
        assert proc.returncode == 1 and b"is a symlink, not a folder of gitmodel's" in proc.stderr
        assert b"hint: move it away" in proc.stderr
    assert sorted(p.relative_to(elsewhere) for p in elsewhere.rglob("*")) == before


def test_a_store_or_lock_planted_as_a_symlink_is_never_written_through(tmp_path: Path) -> None:
    """The folder's store deletes the objects no release uses: through a link to another
    store (a clone's .git/model) it would delete that store's objects."""
    published = publish_registered(tmp_path)
    target = tmp_path / "serve"
    deploy(published, target)
    published.commit("v2", {MODEL: layers({0: 99})}, push=False)
    published.model("promote", "clf@v2", "production")
    published.push()
    state = target / ".gitmodel"
    (state / "lock").unlink()
    (state / "lock").symlink_to(tmp_path / "outside-lock")
    proc = deploy(published, target, check=False)
    assert proc.returncode == 1 and b"lock is a symlink, not a file of gitmodel's" in proc.stderr
    assert not os.path.lexists(tmp_path / "outside-lock")
    (state / "lock").unlink()
    victim = tmp_path / "clone-store"
    unpushed = victim / "objects" / "ab" / "cd" / ("abcd" + "0" * 60)
    unpushed.parent.mkdir(parents=True)
    unpushed.write_bytes(b"the only copy")
    held = sorted(victim.rglob("*"))
    store = state / "store"
    for planted, link in ((store, victim), (store / "objects", victim / "objects")):
        if planted == store:
            store.rename(tmp_path / "store-aside")
        else:
            (tmp_path / "store-aside").rename(store)
            shutil.rmtree(planted)
        planted.symlink_to(link, target_is_directory=True)
        proc = deploy(published, target, check=False)
        assert proc.returncode == 1 and f"{planted} is a symlink".encode() in proc.stderr
        assert b"hint: move it away" in proc.stderr
        assert sorted(victim.rglob("*")) == held
        assert unpushed.read_bytes() == b"the only copy" and release(target).startswith("v1-")
        planted.unlink()


def test_a_release_planted_as_a_symlink_is_refused_never_served(tmp_path: Path) -> None:
    """A link at ``releases/<name>`` to a whole copy elsewhere is not a release: deployed
    or rolled back to, ``current`` would serve files from outside the folder."""
    published = publish_registered(tmp_path)
    target = tmp_path / "serve"
    deploy(published, target)
    v1 = release(target)
    published.commit("v2", {MODEL: layers({0: 99})}, push=False)
    published.model("promote", "clf@v2", "production")
    published.push()
    deploy(published, target)
    v2 = release(target)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (target / "releases" / v1).rename(elsewhere / v1)
    (target / "releases" / v1).symlink_to(elsewhere / v1, target_is_directory=True)
    fresh = tmp_path / "fresh"  # a new folder, its release planted before the first deploy
    (fresh / "releases").mkdir(parents=True)
    (fresh / "releases" / v2).symlink_to(target / "releases" / v2, target_is_directory=True)
    before = folder_listing(elsewhere), folder_listing(target / "releases" / v2)
    for args, planted in (
        (["deploy", "--rollback", str(target)], target / "releases" / v1),
        (["deploy", "clf@production", str(fresh), "--from", published.url],
         fresh / "releases" / v2),
    ):  # fmt: skip
        proc = git_model(*args, cwd=tmp_path, check=False)
        lines = proc.stderr.decode().splitlines()
        assert proc.returncode == 1 and len(lines) == 2, lines
        assert lines[0].endswith(f"{planted} is a symlink, not a release gitmodel built")
        assert lines[1] == "hint: move it away; deploy manages that name"
    assert release(target) == v2
    assert not os.path.lexists(fresh / "current") and not os.path.lexists(fresh / "serving")
    assert (folder_listing(elsewhere), folder_listing(target / "releases" / v2)) == before


def test_the_served_release_never_goes_missing_while_it_is_repaired(tmp_path: Path) -> None:
    from gitmodel.deploy.layout import _exchange

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    if not _exchange(tmp_path / "a", tmp_path / "b"):  # the two-rename fallback has a window
        pytest.skip("this kernel or file system cannot exchange two paths in one rename")
    published = publish_registered(tmp_path)
    target = tmp_path / "serve"
    deploy(published, target)
    config = target / "current" / "models" / "clf" / "config.json"
    edit_in_place(config, 2, b"X")
    failures: list[OSError] = []
    reads = 0
    done = threading.Event()

    def read() -> None:
        nonlocal reads
        while not done.is_set():
            try:
                config.read_bytes()
                reads += 1
            except OSError as exc:
                failures.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        proc = deploy(published, target)
    finally:
        done.set()
        reader.join()
    assert b"built again" in proc.stderr
    assert reads > 0 and not failures, failures[:3]
    assert config.read_bytes() == b'{"layers": 10}\n'
    assert not list((target / "releases").glob(".tmp-*"))


def test_a_release_being_built_by_a_live_process_is_left_alone(tmp_path: Path) -> None:
    published = publish_registered(tmp_path)
    target = tmp_path / "serve"
    deploy(published, target)
    building = target / "releases" / f".tmp-v9-0123456789ab.{os.getpid()}-00c0ffee"
    building.mkdir()  # this process is alive: its half-built release is not stale
    edit_in_place(target / "current" / "models" / "clf" / "config.json", 2, b"X")
    proc = deploy(published, target, check=False)
    assert proc.returncode == 0, proc.stderr
    assert building.is_dir()
