"""The allowed-signers parser (a committed file: hostile) and the reading of Git's verdict
on a signature."""

from __future__ import annotations

import pytest

from gitmodel import signers
from gitmodel.errors import UserError
from gitmodel.git.signatures import BAD, GOOD, UNKNOWN_KEY, UNSIGNED, classify

KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIKk9M1w5dQn8I3h4yJ2CjzYbWvJ0y8oO1j7l3u4h6Q2a"


def test_accepts_what_ssh_keygen_documents() -> None:
    text = (
        "# approvers\n\n"
        f"alice@example.com ssh-ed25519 {KEY} alice laptop\r\n"
        f'bob@example.com,Bob@Corp.example namespaces="git",valid-after="20260101" '
        f"ssh-ed25519 {KEY}\n"
    ).encode()
    found = signers.parse(text, "keys/allowed_signers")
    assert [s.principals for s in found] == [("alice@example.com",),
                                             ("bob@example.com", "Bob@Corp.example")]  # fmt: skip
    assert found[1].options == (("namespaces", "git"), ("valid-after", "20260101"))
    assert signers.principals(found) == {"alice@example.com", "bob@example.com",
                                         "bob@corp.example"}  # fmt: skip


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (b"", "names no signer"),
        (b"# only a comment\n", "names no signer"),
        (f"*@example.com ssh-ed25519 {KEY}".encode(), "is not a list of emails"),
        (f"alice ssh-ed25519 {KEY}".encode(), "is not a list of emails"),
        (f"!bob@example.com ssh-ed25519 {KEY}".encode(), "is not a list of emails"),
        (f"a@example.com cert-authority ssh-ed25519 {KEY}".encode(), "cert-authority"),
        (f'a@example.com command="rm -rf /" ssh-ed25519 {KEY}'.encode(), "is not namespaces"),
        (f'a@example.com namespaces="git"x ssh-ed25519 {KEY}'.encode(), "separated by commas"),
        (f"a@example.com ssh-dss {KEY}".encode(), "key type 'ssh-dss'"),
        (b"a@example.com ssh-ed25519 not*base64", "the key is not base64"),
        (f"a@example.com ssh-ed25519 {KEY} bad\x1b[31mcomment".encode(), "control characters"),
        (b"a@example.com ssh-ed25519", "needs PRINCIPALS"),
        (f"a@example.com\vssh-ed25519 {KEY} laptop".encode(), "is not a list of emails"),
        (f"a@example.com ssh-ed25519\x1c{KEY}".encode(), "needs PRINCIPALS"),
        (b"\xff\xfe", "is not UTF-8 text"),
        (b"#" * (signers.MAX_SIZE + 1), "is larger than 256 KiB"),
    ],
)
def test_refuses_anything_else_with_the_line(text: bytes, problem: str) -> None:
    with pytest.raises(UserError, match="keys/allowed_signers") as caught:
        signers.parse(text, "keys/allowed_signers")
    assert problem in str(caught.value)
    assert caught.value.hint and "EMAIL" in caught.value.hint


@pytest.mark.parametrize(
    ("code", "err", "status", "signer"),
    [
        (0, 'Good "git" signature for a@x.com with ED25519 key SHA256:abc\n', GOOD, "a@x.com"),
        (1, 'Good "git" signature with ED25519 key SHA256:abc\nNo principal matched.\n',
         UNKNOWN_KEY, None),
        (1, "Could not verify signature.\nSignature verification failed: incorrect signature\n",
         BAD, None),
        (1, "", UNSIGNED, None),
        (0, "[GNUPG:] NEWSIG\n[GNUPG:] GOODSIG 1234ABCD A <a@x.com>\n[GNUPG:] VALIDSIG F00D 2026\n",
         GOOD, "a@x.com"),
        (1, "[GNUPG:] BADSIG 1234ABCD A <a@x.com>\n", BAD, None),
        (1, "[GNUPG:] ERRSIG 1234ABCD 1 10 00 1700000000 9\n[GNUPG:] NO_PUBKEY 1234ABCD\n",
         UNKNOWN_KEY, None),
    ],
)  # fmt: skip
def test_reads_gits_verdict(code: int, err: str, status: str, signer: str | None) -> None:
    found = classify(code, err)
    assert (found.status, found.signer) == (status, signer)
    assert found.signed_by("A@X.com") is (status == GOOD)
