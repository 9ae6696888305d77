"""Git's SSH ``allowed_signers`` file (``gpg.ssh.allowedSignersFile``, see ssh-keygen(1),
ALLOWED SIGNERS): who may sign, with which key. Pure: text in, entries out, no I/O.

A registry policy names a committed allowed-signers file as the list of approvers, so its
content comes from whoever can push to the repository and is checked line by line before
Git and ssh-keygen see it. Accepted, one signer per line::

    alice@example.com ssh-ed25519 AAAAC3Nza… [comment]
    bob@example.com,bob@corp.example namespaces="git",valid-after="20260101" ssh-ed25519 AAAA…

Principals must be email addresses (an approval is matched to the email its commit
records, so patterns such as ``*@example.com`` are refused), options are limited to
``namespaces``, ``valid-after`` and ``valid-before`` (``cert-authority`` is refused), and
blank lines and ``#`` comments are skipped. Fields are split at spaces and tabs only, as
ssh-keygen splits them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gitmodel.errors import UserError

MAX_SIZE = 256 << 10
KEY_TYPES = frozenset({
    "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
})  # fmt: skip
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*")
_OPTION = re.compile(r'(namespaces|valid-after|valid-before)="([A-Za-z0-9,._@+:-]{0,200})"')
_KEY = re.compile(r"[A-Za-z0-9+/]{16,16384}={0,2}")
_COMMENT = re.compile(r"[^\x00-\x1f\x7f]{0,1000}")


@dataclass(frozen=True)
class Signer:
    """One line: the emails it names, its options and its public key."""

    principals: tuple[str, ...]
    options: tuple[tuple[str, str], ...]
    key_type: str
    key: str


def parse(text: bytes, where: str) -> list[Signer]:
    """The signers of an allowed-signers file; a user error naming ``where`` and the
    line for anything else."""
    if len(text) > MAX_SIZE:
        raise _bad(where, 0, f"is larger than {MAX_SIZE >> 10} KiB")
    try:
        lines = text.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        raise _bad(where, 0, "is not UTF-8 text") from None
    signers = []
    for number, line in enumerate(lines, 1):
        line = line.removesuffix("\r").strip(" \t")
        if line and not line.startswith("#"):
            signers.append(_signer(line, where, number))
    if not signers:
        raise _bad(where, 0, "names no signer")
    return signers


def principals(signers: list[Signer]) -> frozenset[str]:
    """Every email the file names, lowercase."""
    return frozenset(p.lower() for s in signers for p in s.principals)


def _signer(line: str, where: str, number: int) -> Signer:
    fields = _split(line, 3)
    if len(fields) < 3:
        raise _bad(where, number, "needs PRINCIPALS [OPTIONS] KEYTYPE KEY")
    names = fields[0].split(",")
    if not all(_EMAIL.fullmatch(name) for name in names):
        raise _bad(where, number, f"principal {_shown(fields[0])} is not a list of emails")
    options: tuple[tuple[str, str], ...] = ()
    rest = fields[1:]  # [OPTIONS] KEYTYPE KEY [COMMENT]
    options_first = "=" in rest[0] or rest[0].startswith("cert-authority") or rest[1] in KEY_TYPES
    if rest[0] not in KEY_TYPES and options_first:
        options = _options(rest[0], where, number)
        rest = _split(line, 4)[2:]
    if len(rest) < 2 or rest[0] not in KEY_TYPES:
        raise _bad(where, number, f"key type {_shown(rest[0])} is not one ssh-keygen signs with")
    if not _KEY.fullmatch(rest[1]):
        raise _bad(where, number, "the key is not base64")
    if len(rest) > 2 and not _COMMENT.fullmatch(rest[2]):
        raise _bad(where, number, "the comment holds control characters")
    return Signer(tuple(names), options, rest[0], rest[1])


def _split(line: str, most: int) -> list[str]:
    """Fields as ssh-keygen splits them: at spaces and tabs only, so that a line it reads
    differently (a vertical tab between two fields) is refused here, not skipped there."""
    return re.split(r"[ \t]+", line, maxsplit=most)


def _options(text: str, where: str, number: int) -> tuple[tuple[str, str], ...]:
    found = []
    pos = 0
    while pos < len(text):
        match = _OPTION.match(text, pos)
        if match is None:
            raise _bad(where, number, _option_problem(text[pos:]))
        found.append((match[1], match[2]))
        pos = match.end()
        if pos < len(text):
            if text[pos] != ",":
                raise _bad(where, number, "options are separated by commas")
            pos += 1
    return tuple(found)


def _option_problem(text: str) -> str:
    if text.startswith("cert-authority"):
        return "cert-authority is not supported: list each signer's own key"
    return f"option {_shown(text)} is not namespaces, valid-after or valid-before"


def _shown(text: str) -> str:
    return repr(text[:40] + ("…" if len(text) > 40 else ""))


def _bad(where: str, number: int, problem: str) -> UserError:
    at = f"{where}:{number}" if number else where
    return UserError(
        f"{at} {problem}" if not number else f"{at}: {problem}",
        hint="each line is EMAIL[,EMAIL…] [OPTIONS] KEYTYPE KEY, e.g. "
        "alice@example.com ssh-ed25519 AAAA… (see ssh-keygen(1), ALLOWED SIGNERS)",
    )
