"""Who may approve a change request, and whose signature proves it: the allowed-signers
file a stage's ``approvals`` rule names, as committed on the registry branch and checked
(:mod:`gitmodel.signers`); log commits verified against it (:mod:`gitmodel.git.signatures`);
and the check that a record about to be written is signed by its author's listed key.
Which approvals count toward the rule is :mod:`.approvals`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from gitmodel import git, signers
from gitmodel.errors import UserError
from gitmodel.git import signatures
from gitmodel.git.signatures import BAD, GOOD, UNKNOWN_KEY, UNSIGNED
from gitmodel.registry import declare
from gitmodel.registry.declare import Approvals
from gitmodel.registry.versions import branch

RecordCheck = Callable[[str], None]  # refuses a log commit before its ref moves


class Signers:
    """The allowed-signers file a policy names, read from the registry branch and
    checked (:mod:`gitmodel.signers`), with a verifier for commits against it."""

    def __init__(self, path: str, rev: str, text: bytes) -> None:
        self.path, self.rev, self.text = path, rev, text
        self.principals = signers.principals(signers.parse(text, f"{rev}:{path}"))


@contextmanager
def verifier(
    repo: git.Repo, rule: Approvals | None
) -> Iterator[tuple[signatures.Verifier, Signers | None]]:
    """A commit verifier for ``rule`` (its committed allowed-signers file, or the
    user's own Git settings when it names none), and that file's signers."""
    found = load_signers(repo, rule.signers_file) if rule and rule.signers_file else None
    with signatures.Verifier(repo, found.text if found else None) as checking:
        yield checking, found


def load_signers(repo: git.Repo, path: str) -> Signers:
    """The allowed-signers file ``path`` as committed on the registry branch."""
    rev = branch(repo, declare.load(repo))
    try:
        text = git.file_at(repo, rev, path, signers.MAX_SIZE)
    except git.GitError as exc:
        raise UserError(str(exc), hint="commit the allowed-signers file itself (not a symbolic "
                        f"link to one), at most {signers.MAX_SIZE >> 10} KiB") from exc  # fmt: skip
    if text is None:
        raise UserError(
            f"the approvers' allowed-signers file {path} is not committed on {rev}",
            hint=f"commit it on {rev}: one line per approver, EMAIL KEYTYPE KEY",
        )
    return Signers(path, rev, text)


def approvers(repo: git.Repo, rule: Approvals) -> tuple[frozenset[str], str]:
    """The emails whose approvals ``rule`` counts (empty: anyone's), and where it names
    them (its allowed-signers file, or ``approvals.from``)."""
    if rule.signers_file is not None:
        return load_signers(repo, rule.signers_file).principals, rule.signers_file
    return frozenset(rule.emails), "the policy's approvals.from"


def signed_by_author(repo: git.Repo, rule: Approvals, what: str) -> RecordCheck:
    """A check that a freshly written log commit is signed by its author's key in the
    policy's allowed-signers file (else nothing is written, and the user learns why)."""
    found = load_signers(repo, rule.signers_file) if rule.signers_file else None

    def check(commit: str) -> None:
        email = git.read_commit(repo, commit).author_email.lower()
        with signatures.Verifier(repo, found.text if found else None) as checking:
            signature = checking.verify(commit)
        if signature.signed_by(email):
            return
        where = f"{found.rev}:{found.path}" if found else "the allowed-signers file"
        raise UserError(
            f"your {what} would not count: it is {describe(signature, found)}",
            hint=f"sign with the key listed for {email} in {where} (user.signingKey), "
            "or have your key added there",
        )

    return check


def describe(signature: signatures.Signature, found: Signers | None) -> str:
    """Why ``signature`` is not its author's own, in words that follow "it is": "not
    signed", "signed by a key that is not in …", …"""
    where = f"{found.path}" if found else "the allowed-signers file"
    if signature.status == GOOD:
        return f"signed by {signature.signer}'s key, not the approver's"
    return {
        UNSIGNED: "not signed",
        BAD: "badly signed (the signature does not match the record)",
        UNKNOWN_KEY: f"signed by a key that is not in {where}"
        + (f" ({signature.key})" if signature.key else ""),
    }.get(signature.status, signature.status)
