"""Commit signatures, as Git itself judges them: ``git verify-commit``.

SSH signatures are checked against an allowed-signers file given for the call only
(``git -c gpg.ssh.allowedSignersFile=FILE verify-commit``), never the user's setting:
a registry policy names the committed file that decides who may approve, so against a
file only an SSH signature can be good (an OpenPGP or X.509 one is ``unknown key``: it
was judged by the user's keyring, where a key may claim anyone's email). Without a file,
GPG and X.509 signatures are checked the way the user's Git checks them (their keyring).

Each commit gets one of four statuses: ``good`` (valid, by a key the file or keyring
trusts, with ``signer`` the principal Git names), ``bad`` (the signature does not match
the commit), ``unknown key`` (valid or not, the key is not trusted: not in the file,
expired, missing from the keyring), ``unsigned``.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gitmodel.errors import UserError
from gitmodel.git.process import run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from gitmodel.git.repo import Repo

GOOD, BAD, UNKNOWN_KEY, UNSIGNED = "good", "bad", "unknown key", "unsigned"
STATUSES = (GOOD, BAD, UNKNOWN_KEY, UNSIGNED)
_COMMIT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_SSH_GOOD = re.compile(r'Good "git" signature (?:for (\S+) )?with \S+ key (\S+)')
_GPG_GOOD = re.compile(r"\[GNUPG:\] GOODSIG \S+ .*?<([^<>\s]+)>")
_GPG_FPR = re.compile(r"\[GNUPG:\] VALIDSIG (\S+)")
_BAD_MARKS = ("incorrect signature", "[GNUPG:] BADSIG", "Signature verification failed")


@dataclass(frozen=True)
class Signature:
    """Git's verdict on one commit's signature."""

    status: str  # one of STATUSES
    signer: str | None = None  # the principal(s) Git names for a good signature
    key: str | None = None  # the key's fingerprint, when Git names it
    detail: str = ""  # Git's first line about it
    kind: str = ""  # "ssh" or "gpg" (OpenPGP or X.509) when Git names a key

    def signed_by(self, email: str) -> bool:
        """Whether the signature is good and its principal names ``email``."""
        if self.status != GOOD or not self.signer:
            return False
        return email.lower() in {p.lower() for p in self.signer.split(",")}

    def to_json(self) -> dict[str, str | None]:
        return {"status": self.status, "signer": self.signer, "key": self.key}


class Verifier:
    """Verifies commits against one allowed-signers content (None: the user's own Git
    settings), written once to a private temporary file for the verifier's life."""

    def __init__(self, repo: Repo, allowed_signers: bytes | None) -> None:
        self._repo = repo
        self._file: Path | None = None
        self._cache: dict[str, Signature] = {}
        if allowed_signers is not None:
            fd, name = tempfile.mkstemp(prefix="gitmodel-allowed-signers-")
            with open(fd, "wb") as out:
                out.write(allowed_signers)
            self._file = Path(name)

    def verify(self, commit: str) -> Signature:
        """The signature status of ``commit`` (a full commit id)."""
        if not _COMMIT_ID.fullmatch(commit):
            raise UserError(f"{commit[:80]!r} is not a commit id", hint="name a full commit id")
        if commit not in self._cache:
            self._cache[commit] = self._verify(commit)
        return self._cache[commit]

    def _verify(self, commit: str) -> Signature:
        config = [] if self._file is None else ["-c", f"gpg.ssh.allowedSignersFile={self._file}"]
        proc = run([*config, "verify-commit", "--raw", "--end-of-options", commit],
                   cwd=self._repo.cwd, check=False)  # fmt: skip
        found = classify(proc.returncode, proc.stderr.decode("utf-8", "replace"))
        if self._file is not None and found.status == GOOD and found.kind != "ssh":
            # Git judged an OpenPGP or X.509 signature by the user's keyring, where anyone
            # can add a key whose user id claims any email: not a key the file lists.
            return Signature(UNKNOWN_KEY, key=found.key, detail=found.detail, kind=found.kind)
        return found

    def close(self) -> None:
        if self._file is not None:
            self._file.unlink(missing_ok=True)
            self._file = None

    def __enter__(self) -> Verifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def classify(returncode: int, err: str) -> Signature:
    """A :class:`Signature` from ``git verify-commit --raw``'s exit status and messages."""
    lines = [line.strip() for line in err.splitlines() if line.strip()]
    detail = next((line for line in lines if not line.startswith("[GNUPG:]")), "")
    if not lines:
        return Signature(UNSIGNED)
    if any(mark in err for mark in _BAD_MARKS):
        return Signature(BAD, detail=detail)
    ssh = _SSH_GOOD.search(err)
    gpg_fpr = _GPG_FPR.search(err)
    key = ssh[2] if ssh else (gpg_fpr[1] if gpg_fpr else None)
    kind = "ssh" if ssh else "gpg" if gpg_fpr or "[GNUPG:]" in err else ""
    if returncode != 0:
        return Signature(UNKNOWN_KEY, key=key, detail=_last(lines), kind=kind)
    if ssh:
        return Signature(GOOD, ssh[1], key, detail, kind)
    gpg = _GPG_GOOD.search(err)
    return Signature(GOOD, gpg[1] if gpg else None, key, detail, kind)


def _last(lines: list[str]) -> str:
    plain = [line for line in lines if not line.startswith("[GNUPG:]")]
    return plain[-1] if plain else lines[-1]
