"""kill -9 at random points of git add, git push, git model pull and git model promote;
then check nothing is lost.

Each trial starts one command in its own process group (Git, the filter process and
hooks), kills the whole group with SIGKILL after a random delay, and then checks:

- every object in the local store reads back verified (no partial object is visible);
- every object the remote lists as present downloads verified;
- after a push (to the chunked layout): every manifest on the remote decodes and
  every pack it names exists and is long enough for its chunks; ``git model fsck
  --remote`` is clean; and the push run again sends no chunk the remote already
  held in a pack with its index (it resumes; it does not start over);
- the registry log is either as before or has the whole promotion (never half of one);
- running the command again completes, the files come back byte for byte, and
  ``git model fsck`` finds nothing wrong.

Usage: python stress/crash.py [--trials 80] [--only push] [--seed N] [--workdir DIR]
(80 trials are 20 of each operation; tests/test_crash.py runs a few of the same code.)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gitmodel import manifest
from gitmodel.pointer import Pointer
from gitmodel.remote import layouts
from gitmodel.remote.store import RemoteStore
from gitmodel.store.local import LocalStore

OPERATIONS = ("add", "push", "pull", "promote")


@dataclass
class Scene:
    """A bare origin, an author repository and a clone, sharing one random payload."""

    root: Path
    env: dict[str, str]
    files: dict[str, bytes]

    @property
    def origin(self) -> Path:
        return self.root / "origin.git"

    @property
    def author(self) -> Path:
        return self.root / "author"

    @property
    def clone(self) -> Path:
        return self.root / "clone"

    def git(self, *args: str, cwd: Path) -> None:
        subprocess.run(["git", *args], cwd=cwd, env=self.env, check=True, capture_output=True)


def make_scene(root: Path, rng: random.Random, small: int = 30, large: int = 2) -> Scene:
    home = root / "home"
    home.mkdir(parents=True)
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Crash Test\n\temail = crash@example.com\n"
        "[init]\n\tdefaultBranch = main\n[model]\n\tretryDelay = 0.01\n"
    )
    env = {**os.environ, "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1"}
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_MODEL_SKIP_SMUDGE"):
        env.pop(var, None)
    files = {f"data/s{i:03d}.bin": rng.randbytes(rng.randrange(1, 200_000)) for i in range(small)}
    files |= {f"model-{i}.bin": rng.randbytes(12 << 20) for i in range(large)}
    scene = Scene(root, env, files)
    subprocess.run(["git-model", "install"], cwd=home, env=env, check=True, capture_output=True)
    scene.git("init", "-q", "--bare", str(scene.origin), cwd=root)
    scene.git("clone", "-q", str(scene.origin), str(scene.author), cwd=root)
    subprocess.run(["git-model", "track", "*.bin"], cwd=scene.author, env=env, check=True,
                   capture_output=True)  # fmt: skip
    scene.git("add", ".gitattributes", cwd=scene.author)
    scene.git("commit", "-qm", "track", cwd=scene.author)
    write_files(scene.author, files)
    return scene


def write_files(tree: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_bytes(data)


def command(scene: Scene, operation: str) -> tuple[list[str], Path]:
    if operation == "add":
        return ["git", "add", "."], scene.author
    if operation == "push":
        return ["git", "push", "-q", "origin", "main"], scene.author
    if operation == "promote":
        return ["git-model", "promote", "demo@v1", "staging", "-m", "crash trial"], scene.author
    return ["git-model", "pull"], scene.clone


def kill_after(argv: list[str], cwd: Path, env: dict[str, str], delay: float) -> bool:
    """Run ``argv``; SIGKILL its whole process group after ``delay`` s. True if it was killed."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return True


def kill_when(argv: list[str], cwd: Path, env: dict[str, str], ready: Callable[[], bool],
              timeout: float = 60.0) -> bool:  # fmt: skip
    """Run ``argv``; SIGKILL its process group as soon as ``ready()``. True if it was killed."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if ready():
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.002)
    proc.wait()
    return False


def clear_git_locks(repo: Path) -> None:
    """What Git asks a user to do after a crash: remove its stale lock files (the index's,
    and a ref's, such as a record log's that a kill inside `git update-ref` left)."""
    git_dir = repo / ".git" if (repo / ".git").is_dir() else repo  # a bare one: itself
    for lock in [*git_dir.glob("*.lock"), *(git_dir / "refs").rglob("*.lock")]:
        lock.unlink()


def check_local(repo: Path) -> int:
    """Every visible local object verifies; returns how many there are."""
    store = LocalStore(repo / ".git" / "model")
    for oid in store.oids():
        with store.open(oid) as f:
            size = f.seek(0, os.SEEK_END)
        for _ in store.read(Pointer(oid, size)):
            pass
    return len(store.oids())


def check_remote(scene: Scene) -> int:
    """Every object the remote says it has downloads verified."""
    remote = RemoteStore(f"file://{scene.origin / 'model' / 'remote'}", tries=1)
    wanted = {hashlib.sha256(d).hexdigest(): len(d) for d in scene.files.values()}
    present = remote.present(wanted)
    scratch = LocalStore(Path(tempfile.mkdtemp(dir=scene.root)))
    for oid in present:
        layouts.download(remote, scratch, Pointer(oid, wanted[oid]))
    shutil.rmtree(scratch.root)
    return len(present)


def remote_dir(scene: Scene) -> Path:
    return scene.origin / "model" / "remote"


def check_manifests(scene: Scene) -> int:
    """Every manifest on the remote is whole and names only packs that hold its chunks
    (a crash may leave packs no manifest uses, never a manifest without its packs)."""
    root = remote_dir(scene)
    sizes = {hashlib.sha256(d).hexdigest(): len(d) for d in scene.files.values()}
    count = 0
    for path in sorted((root / "manifests").glob("??/*")):
        if path.name.endswith(".tmp"):
            continue  # a write the kill interrupted before its rename: never visible
        assert path.name in sizes, f"unexpected file on the remote: {path}"
        body = path.read_bytes()
        if not manifest.is_manifest(body):  # a whole object: its bytes are under data/
            data = root / "data" / path.name[:2] / path.name[2:4] / path.name
            assert data.stat().st_size == sizes[path.name], path
            continue
        found = manifest.decode_manifest(body, path.name, sizes[path.name])
        for chunk in found.chunks:
            pack = root / "packs" / chunk.pack[:2] / chunk.pack
            assert pack.is_file(), f"{path.name} names missing pack {chunk.pack}"
            assert pack.stat().st_size >= chunk.offset + chunk.stored, f"{pack} is short"
        count += 1
    return count


Durable = dict[str, tuple[set[bytes], tuple[int, int]]]


def durable_chunks(scene: Scene) -> Durable:
    """The chunks of each pack that is on the remote with a readable index, and the
    pack file's identity (inode, mtime), so a pack written again is seen."""
    root = remote_dir(scene)
    held: Durable = {}
    for index in (root / "index").glob("*"):
        pack = root / "packs" / index.name[:2] / index.name
        try:
            entries = manifest.decode_index(index.read_bytes(), index.name)
        except (manifest.ManifestFormatError, ValueError):
            continue  # cut short by the kill: the pack is not known, so not durable
        if pack.is_file() and (stat := pack.stat()).st_size == sum(e.stored for e in entries):
            held[index.name] = ({e.id for e in entries}, (stat.st_ino, stat.st_mtime_ns))
    return held


def prepare(scene: Scene, operation: str) -> None:
    """Bring the scene to the state where ``operation`` has work to do."""
    if operation in ("push", "pull", "promote"):
        scene.git("add", ".", cwd=scene.author)
        scene.git("commit", "-qm", "payload", cwd=scene.author)
    if operation == "promote":
        subprocess.run(["git-model", "register", "demo", "data", "model-0.bin"], cwd=scene.author,
                       env=scene.env, check=True, capture_output=True)  # fmt: skip
        scene.git("add", ".", cwd=scene.author)
        scene.git("commit", "-qm", "register demo", cwd=scene.author)
    if operation == "pull":
        scene.git("push", "-q", "origin", "main", cwd=scene.author)
        env = {**scene.env, "GIT_MODEL_SKIP_SMUDGE": "1"}
        subprocess.run(["git", "clone", "-q", str(scene.origin), str(scene.clone)],
                       cwd=scene.root, env=env, check=True, capture_output=True)  # fmt: skip


def finish_and_verify(scene: Scene, operation: str) -> None:
    argv, cwd = command(scene, operation)
    before: Durable = durable_chunks(scene) if operation == "push" else {}
    subprocess.run(argv, cwd=cwd, env=scene.env, check=True, capture_output=True)
    if operation == "push":
        check_resumed(scene, before)
    if operation == "add":
        scene.git("commit", "-qm", "payload", cwd=scene.author)
        tree = scene.author
    elif operation == "promote":
        out = subprocess.run(["git-model", "stages", "demo", "--json"], cwd=scene.author,
                             env=scene.env, check=True, capture_output=True).stdout  # fmt: skip
        held = json.loads(out)["models"]["demo"]["staging"]
        assert [(a["version"], a["weight"]) for a in held] == [(1, 100)], held
        return
    elif operation == "push":
        assert check_remote(scene) == len(
            {hashlib.sha256(d).digest() for d in scene.files.values()}
        )
        return
    else:
        tree = scene.clone
    for name, data in scene.files.items():
        assert (tree / name).read_bytes() == data, f"{name} differs after {operation}"
    status = subprocess.run(["git", "status", "--porcelain"], cwd=tree, env=scene.env,
                            check=True, capture_output=True).stdout  # fmt: skip
    assert status == b"", status


def check_resumed(scene: Scene, before: Durable) -> None:
    """The push run again sent only chunks that were not yet durable on the remote."""
    had = set().union(*(ids for ids, _ in before.values()))
    after = durable_chunks(scene)
    for pack, (ids, identity) in after.items():
        if pack in before:
            assert identity == before[pack][1], f"pack {pack} was written again"
        else:
            assert not ids & had, f"pack {pack} re-sent {len(ids & had)} durable chunks"
    assert set(before) <= set(after), "a durable pack disappeared"


def check_after_push_kill(scene: Scene) -> None:
    check_manifests(scene)
    fsck = subprocess.run(["git-model", "fsck", "--remote"], cwd=scene.author, env=scene.env,
                          capture_output=True)  # fmt: skip
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr


def trial(root: Path, operation: str, rng: random.Random, max_delay: float) -> bool:
    """One crash and recovery; True when the kill landed before the command finished."""
    scene = make_scene(root, rng, large=3 if operation == "push" else 2)  # push: 2 packs
    prepare(scene, operation)
    argv, cwd = command(scene, operation)
    longest = max_delay / 4 if operation == "promote" else max_delay  # promote is quick
    killed = kill_after(argv, cwd, scene.env, rng.uniform(0.05, longest))
    clear_git_locks(cwd)
    clear_git_locks(scene.origin)  # a push killed while the remote moved its branch
    check_local(scene.author)
    check_local(cwd)
    if operation != "add":
        check_remote(scene)
    if operation == "push":
        check_after_push_kill(scene)
    finish_and_verify(scene, operation)
    fsck = subprocess.run(["git-model", "fsck"], cwd=cwd, env=scene.env, capture_output=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    return killed


def run_trials(workdir: Path, trials: int, seed: int, max_delay: float = 2.0,
               report: Callable[[str], None] = print,
               operations: tuple[str, ...] = OPERATIONS) -> int:  # fmt: skip
    rng = random.Random(seed)
    killed = 0
    for number in range(trials):
        operation = operations[number % len(operations)]
        root = workdir / f"trial-{number}"
        started = time.monotonic()
        hit = trial(root, operation, rng, max_delay)
        killed += hit
        report(
            f"trial {number + 1}/{trials}: {operation}, "
            f"{'killed' if hit else 'finished first'}, ok in {time.monotonic() - started:.1f} s"
        )
        shutil.rmtree(root)
    return killed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=80)
    parser.add_argument("--only", choices=OPERATIONS, help="run trials of one operation only")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--max-delay", type=float, default=2.0)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="gitmodel-crash-", dir=args.workdir))
    print(f"seed {args.seed}, {args.trials} trials in {workdir}")
    try:
        operations = (args.only,) if args.only else OPERATIONS
        killed = run_trials(workdir, args.trials, args.seed, args.max_delay, print, operations)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"all {args.trials} trials recovered; {killed} were killed mid-command")
    return 0


if __name__ == "__main__":
    sys.exit(main())
