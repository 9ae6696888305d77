"""Fixtures: every test runs with its own HOME, git identity and config, and real git."""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitmodel.store.local import LocalStore

SCRIPTS_DIR = sysconfig.get_path("scripts")


def run(
    command: list[str],
    cwd: Path,
    check: bool = True,
    env: dict[str, str] | None = None,
    input: bytes | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run a command, capturing output; fail the test with both streams if it fails."""
    proc = subprocess.run(command, cwd=cwd, capture_output=True, env=env, input=input, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} failed ({proc.returncode}):\n"
            f"{proc.stdout.decode(errors='replace')}\n{proc.stderr.decode(errors='replace')}"
        )
    return proc


def run_git(
    *args: str,
    cwd: Path,
    check: bool = True,
    env: dict[str, str] | None = None,
    input: bytes | None = None,
) -> subprocess.CompletedProcess[bytes]:
    return run(["git", *args], cwd, check, env, input)


def git_out(*args: str, cwd: Path) -> str:
    return run_git(*args, cwd=cwd).stdout.decode()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.fixture(autouse=True)
def isolated_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private HOME with a git identity; no system or user config leaks in."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    for var in (
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_MODEL_SKIP_SMUDGE",
        "GIT_MODEL_TRACE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Author")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "author@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Committer")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "committer@example.com")
    path = os.environ.get("PATH", "")
    if SCRIPTS_DIR not in path.split(os.pathsep):
        monkeypatch.setenv("PATH", SCRIPTS_DIR + os.pathsep + path)
    (home / ".gitconfig").write_text(
        "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
    )
    return home


_templates: dict[tuple[str, ...], Path] = {}
_template_base: list[Path] = []


@pytest.fixture(scope="session", autouse=True)
def _template_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Where :func:`copy_of_template` keeps what it built, for the session."""
    _template_base.append(tmp_path_factory.mktemp("templates"))


def copy_of_template(
    name: str, build: Callable[[Path], object], dest: Path, inputs: tuple[Path, ...] = ()
) -> Path:
    """``dest`` as a copy of the folder ``build`` made once in this process, under the
    same Git configuration and environment (so the copy is what ``build(dest)`` would
    make): copying costs milliseconds, building a repository a few ``git-model`` runs.
    ``inputs``: files besides Git's configuration that ``build`` reads."""
    home = Path(os.environ["HOME"])
    key = (name, *(
        f"{var}={os.environ[var]}" for var in sorted(os.environ)
        if var.startswith("GIT_") or var == "PATH"
    ), *(
        path.read_text(errors="replace") if path.exists() else "-"
        for path in (home / ".gitconfig", home / ".config" / "git" / "config", *inputs)
    ))  # fmt: skip
    template = _templates.get(key)
    if template is None:
        template = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=_template_base[-1])) / name
        build(template)
        _templates[key] = template
    shutil.copytree(template, dest, symlinks=True, dirs_exist_ok=True)
    return dest


def install_globally(home: Path) -> None:
    """``git model install`` (global) for the user whose HOME is ``home``: a copy of the
    ``.gitconfig`` that it wrote once in this process, from the same one."""

    def build(path: Path) -> None:
        path.mkdir()
        if (home / ".gitconfig").exists():
            shutil.copy(home / ".gitconfig", path / ".gitconfig")
        git_model("install", cwd=path, env={**os.environ, "HOME": str(path)})

    copy_of_template("global-install", build, home, inputs=(home / ".gitconfig",))


def build_repo(path: Path) -> None:
    path.mkdir()
    run_git("init", "-q", cwd=path)
    git_model("install", "--local", cwd=path)
    git_model("track", "*.bin", cwd=path)
    run_git("add", ".gitattributes", cwd=path)
    run_git("commit", "-qm", "track *.bin", cwd=path)


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    """A fresh repository with gitmodel installed locally and ``*.bin`` tracked (a copy of
    one made once per process: every test's is the same)."""
    yield copy_of_template("repo", build_repo, tmp_path / "repo")


def git_model(
    *args: str,
    cwd: Path,
    check: bool = True,
    input: bytes | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run the installed ``git-model`` command."""
    return run(["git-model", *args], cwd, check, env, input)


def repo_store(repo: Path) -> LocalStore:
    """The local store of the repository at ``repo`` (as the filter opens it)."""
    common = Path(
        git_out("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=repo).strip()
    )
    return LocalStore(common / "model")


def store_oids(repo: Path) -> list[str]:
    """The oids in a repository's store, loose or packed, sorted."""
    return sorted(repo_store(repo).oids())


def corrupt_object(store: LocalStore, oid: str, data: bytes | None = None) -> None:
    """Change a stored object's bytes in place (default: flip its first byte)."""
    with store.open(oid) as f:
        original = f.read()
    data = data if data is not None else bytes([original[0] ^ 1]) + original[1:]
    path = store.object_path(oid)
    if path.exists():
        path.chmod(0o644)
        path.write_bytes(data)
        return
    location = store.packs.find(oid)
    assert location is not None and len(data) == location.size, "packed: same size only"
    pack = store.packs.root / f"{location.pack}.pack"
    pack.chmod(0o644)
    with open(pack, "r+b") as f:
        f.seek(location.offset)
        f.write(data)


PYTHON = sys.executable


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Multi-GB tests share one xdist worker (``--dist loadgroup``), so that two of them
    never fill the disk or the page cache at the same time. They and the other tests of
    tens of seconds (``long``) run first: started last, one would run on alone after
    every other test had finished."""
    for item in items:
        if item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.xdist_group("big"))
    items.sort(key=lambda item: (not item.get_closest_marker("slow"),
                                 not item.get_closest_marker("long")))  # fmt: skip


@pytest.fixture(autouse=True)
def _big_trees_go_at_teardown(request: pytest.FixtureRequest) -> Iterator[None]:
    """A multi-GB test's directory is removed even when it fails: gigabytes kept for a
    post-mortem would make every later test fail for want of disk instead."""
    if not request.node.get_closest_marker("slow"):
        yield
        return
    path: Path = request.getfixturevalue("tmp_path")
    yield
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def mounted(args: list[str], mount: Path, what: str) -> Iterator[Path]:
    """``mount ARGS MOUNT`` for the test's time, then unmounted; the test is skipped,
    saying why, where ``what`` cannot be mounted."""
    done = subprocess.run(["mount", *args, str(mount)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount {what} here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def need_disk(path: Path, nbytes: int) -> None:
    """Skip, saying why, when the file system under ``path`` has less than ``nbytes`` free."""
    free = shutil.disk_usage(path).free
    if free < nbytes:
        pytest.skip(f"needs {nbytes / (1 << 30):.1f} GiB free disk, has {free / (1 << 30):.1f}")


# -- a real S3-compatible server on loopback -------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def loopback_server(
    tmp_path_factory: pytest.TempPathFactory,
    what: str,
    command: list[str],
    env: dict[str, str] | None = None,
) -> Iterator[int]:
    """Start ``command`` (which gets ``PORT`` replaced by a free port) as a server on
    127.0.0.1; yield the port once it accepts connections, stop it afterwards."""
    port = free_port()
    log = tmp_path_factory.mktemp(what) / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(port) if arg == "PORT" else arg for arg in command],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        wait_for_port(port, proc, log, what)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real S3-compatible HTTP server (moto in server mode) on 127.0.0.1."""
    pytest.importorskip("moto.server")
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "PORT"]
    with loopback_server(tmp_path_factory, "moto", command) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)


def wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, what: str) -> None:
    """Return once 127.0.0.1:``port`` accepts connections; fail with the server's log."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{what} did not start: {log.read_text(errors='replace')}")


# -- a real GCS JSON API server on loopback --------------------------------------


@pytest.fixture(scope="session")
def gcs_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A GCS-compatible HTTP server (gcp-storage-emulator, in memory) on 127.0.0.1.
    Clients reach it with ``FSSPEC_GS_TOKEN=anon`` (see :func:`gcs_env`)."""
    pytest.importorskip("gcsfs")
    pytest.importorskip("gcp_storage_emulator")
    command = [sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1",
               "--port", "PORT", "--in-memory"]  # fmt: skip
    with loopback_server(tmp_path_factory, "gcp-storage-emulator", command) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def gcs_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Anonymous GCS access: gcsfs never looks for credentials (nor asks the metadata
    server, which is not on loopback)."""
    monkeypatch.setenv("FSSPEC_GS_TOKEN", "anon")
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)


# -- a real Azure Blob service (Azurite) on loopback, for az:// ---------------------

AZURITE = Path(__file__).parent / ".node" / "node_modules" / ".bin" / "azurite-blob"
AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (published in its documentation, not a secret)
AZURITE_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
               "K1SZFPTOtr/KBHBeksoGMGw==")
_AZURE_VARS = ("AZURE_STORAGE_ACCOUNT_NAME", "AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_SAS_TOKEN",
               "AZURE_STORAGE_CLIENT_ID", "AZURE_STORAGE_CLIENT_SECRET", "AZURE_STORAGE_TENANT_ID",
               "AZURE_STORAGE_ANON")  # fmt: skip


def azure_connection_string(endpoint: str, key: str = AZURITE_KEY) -> str:
    """The connection string of Azurite's development account at ``endpoint``."""
    return (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={key};"
            f"BlobEndpoint={endpoint}/{AZURITE_ACCOUNT};")  # fmt: skip


@pytest.fixture(scope="session")
def azurite_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Azurite's Blob service on 127.0.0.1, from ``tests/.node`` (where ``.ci/run`` puts
    it); skipped where it or Node.js is not installed."""
    pytest.importorskip("adlfs")
    if shutil.which("node") is None or not AZURITE.exists():
        pytest.skip("Azurite is not installed (.ci/run installs it into tests/.node with npm)")
    command = [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", "PORT",
               "--location", str(tmp_path_factory.mktemp("azurite-data")), "--silent",
               "--skipApiVersionCheck", "--loose", "--disableTelemetry"]  # fmt: skip
    with loopback_server(tmp_path_factory, "azurite", command) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def azure_env(azurite_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Azurite's account as the only Azure credential, through the variable users set;
    returns the connection string."""
    for var in _AZURE_VARS:
        monkeypatch.delenv(var, raising=False)
    connection_string = azure_connection_string(azurite_endpoint)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection_string)
    return connection_string


# -- an LFS host on loopback: Git over HTTP and giftless ---------------------------

HELPERS = Path(__file__).parent / "helpers"


@dataclass(frozen=True)
class LFSHost:
    """A server like GitHub's: each repository's Git at ``<url>/team/<name>.git`` and its
    LFS objects (giftless, ``basic`` transfers through the server itself) at the URL
    git-lfs derives from that, ``<url>/team/<name>.git/info/lfs``."""

    url: str  # http://127.0.0.1:PORT
    root: Path  # bare repositories in root/git, LFS objects in root/lfs, locks in root/locks
    user: str | None = None  # with a user, every request needs HTTP Basic credentials
    password: str | None = None  # every user's
    users: tuple[str, ...] = ()  # all who may sign in, ``user`` first

    def new_repo(self) -> str:
        """A new empty repository on the host (branch ``main``); its Git URL."""
        name = uuid.uuid4().hex[:12]
        bare = self.root / "git" / "team" / f"{name}.git"
        run_git("init", "-q", "--bare", "--initial-branch=main", str(bare), cwd=self.root)
        return f"{self.url}/team/{name}.git"

    def objects(self, git_url: str) -> set[str]:
        """The oids of the LFS objects the host holds for a repository."""
        name = git_url.rsplit("/", 1)[1].removesuffix(".git")
        return {path.name for path in (self.root / "lfs" / "team" / name).glob("*")}


@contextlib.contextmanager
def lfs_host_server(tmp_path_factory: pytest.TempPathFactory, users: tuple[str, ...] = (),
                    password: str | None = None,
                    locks_page_size: int | None = None) -> Iterator[LFSHost]:  # fmt: skip
    pytest.importorskip("giftless", reason="giftless is not installed (pip install -e '.[test]')")
    pytest.importorskip("waitress", reason="waitress is not installed (pip install -e '.[test]')")
    root = tmp_path_factory.mktemp("lfs-host")
    command = [sys.executable, str(HELPERS / "giftless_server.py"), "PORT", str(root)]
    env = dict(os.environ)
    if users and password is not None:
        command += [arg for user in users for arg in ("--user", user)]
        env["LFS_SERVER_PASSWORD"] = password
    if locks_page_size is not None:
        command += ["--locks-page-size", str(locks_page_size)]
    with loopback_server(tmp_path_factory, "giftless", command, env) as port:
        yield LFSHost(f"http://127.0.0.1:{port}", root, users[0] if users else None, password,
                      users)  # fmt: skip


@pytest.fixture(scope="session")
def path_without_git_lfs(tmp_path_factory: pytest.TempPathFactory) -> str:
    """PATH with gitmodel's scripts first and every folder that holds git-lfs replaced by
    one of links to everything else in it."""
    folders = [SCRIPTS_DIR]
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if folder and (Path(folder) / "git-lfs").exists():
            shadow = tmp_path_factory.mktemp("bin-without-git-lfs")
            for entry in Path(folder).iterdir():
                if not entry.name.startswith("git-lfs"):
                    (shadow / entry.name).symlink_to(entry)
            folder = str(shadow)
        folders.append(folder)
    path = os.pathsep.join(folders)
    assert shutil.which("git-lfs", path=path) is None
    return path


@pytest.fixture(scope="session")
def lfs_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LFSHost]:
    """An LFS host on 127.0.0.1 where anyone may read and write."""
    with lfs_host_server(tmp_path_factory) as host:
        yield host


@pytest.fixture(scope="session")
def lfs_host_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LFSHost]:
    """An LFS host on 127.0.0.1 that wants HTTP Basic credentials for every request, Git's
    included (a 401 with a Basic challenge otherwise)."""
    with lfs_host_server(tmp_path_factory, ("alice",), "pw-" + uuid.uuid4().hex) as host:
        yield host


@pytest.fixture(scope="session")
def lfs_host_team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LFSHost]:
    """An LFS host on 127.0.0.1 where alice and bob sign in (HTTP Basic, as on
    :func:`lfs_host_auth`), so that its locking API can tell them apart; it answers at
    most 2 locks at a time, so that listing locks follows its cursors."""
    with lfs_host_server(tmp_path_factory, ("alice", "bob"), "pw-" + uuid.uuid4().hex,
                         locks_page_size=2) as host:  # fmt: skip
        yield host


# -- a real OpenSSH server on loopback, for sftp:// ------------------------------

SSHD = "/usr/sbin/sshd"


@dataclass(frozen=True)
class SSHServer:
    port: int
    user: str
    key: Path  # the client's private key
    host_key_line: str  # the known_hosts line of the server's key

    def write_client_config(self, home: Path) -> None:
        """``~/.ssh/config`` and ``known_hosts`` under ``home``, as a user would set them."""
        ssh = home / ".ssh"
        ssh.mkdir(mode=0o700, exist_ok=True)
        (ssh / "known_hosts").write_text(self.host_key_line + "\n")
        (ssh / "config").write_text(
            f"Host 127.0.0.1\n    Port {self.port}\n    User {self.user}\n"
            f"    IdentityFile {self.key}\n    UserKnownHostsFile {ssh / 'known_hosts'}\n"
        )


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    """``sshd`` with its SFTP subsystem on 127.0.0.1, keys made for it; skipped where
    OpenSSH's server is not installed."""
    if not os.access(SSHD, os.X_OK):
        pytest.skip("sshd is not installed (apt-get install openssh-server)")
    root = tmp_path_factory.mktemp("sshd")
    for name in ("host_key", "user_key"):
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / name)], root)
    port = free_port()
    config = root / "sshd_config"
    config.write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {root / 'host_key'}\n"
        f"AuthorizedKeysFile {root / 'user_key.pub'}\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        f"PidFile {root / 'sshd.pid'}\nSubsystem sftp internal-sftp\n"
    )
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # its privilege separation dir
    log = root / "sshd.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_for_port(port, proc, log, "sshd")
        host_key = (root / "host_key.pub").read_text().split()
        yield SSHServer(port, getpass.getuser(), root / "user_key",
                        f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}")  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(timeout=10)
