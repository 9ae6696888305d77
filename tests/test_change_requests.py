"""Change management through real Git: two clones with their own SSH signing keys push
change requests and approvals to one bare repository; promote checks them against a
committed allowed-signers file with ``git verify-commit``; ``audit`` proves it later."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from conftest import SCRIPTS_DIR, git_model, git_out, run, run_git

from gitmodel.installation import filter_config


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    key: str  # the key file's name under keys/
    date: str | None = None  # what their clock says for every commit (default: the time)

    def env(self) -> dict[str, str]:
        dates = {"GIT_AUTHOR_DATE": self.date, "GIT_COMMITTER_DATE": self.date} if self.date else {}
        return {**os.environ, "GIT_AUTHOR_NAME": self.name, "GIT_AUTHOR_EMAIL": self.email,
                "GIT_COMMITTER_NAME": self.name, "GIT_COMMITTER_EMAIL": self.email,
                **dates}  # fmt: skip

    def at(self, seconds: int) -> Person:
        """This person on a clone whose clock reads ``seconds`` since the epoch."""
        return replace(self, date=f"@{seconds} +0000")


ALICE = Person("Alice", "alice@example.com", "alice")
BOB = Person("Bob", "bob@example.com", "bob")
CAROL = Person("Carol", "carol@example.com", "carol")  # her key is in no allowed-signers file
SIGNERS = "keys/allowed_signers"
POLICY = {
    "production": {
        "approvals": {"count": 1, "from": SIGNERS, "require_signed": True},
    },
}


def commit_files(repo: Path, message: str, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_bytes(data)
    run_git("add", "-A", cwd=repo)
    run_git("commit", "-qm", message, cwd=repo, env=ALICE.env())


def make_repository(repos: Path, keys: Path) -> None:
    """origin.git, and Alice's clone ``a`` with clf v1..v3 and a production policy that
    wants one approval signed by a key in the committed allowed-signers file."""
    run_git("init", "-q", "--bare", "origin.git", cwd=repos)
    run_git("clone", "-q", "origin.git", "a", cwd=repos)
    work = repos / "a"
    git_model("install", "--local", cwd=work)
    attributes = b"*.bin filter=model diff=model merge=model -text\n"
    commit_files(work, "track", {".gitattributes": attributes})
    signers = "".join(
        f"{p.email} {(keys / (p.key + '.pub')).read_text().strip()}\n" for p in (ALICE, BOB)
    )
    registry = {"models": {"clf": {"paths": ["models/clf"], "policy": POLICY}}}
    for n in (1, 2, 3):
        files = {"models/clf/weights.bin": os.urandom(3000 + n)}
        if n == 1:
            declared = json.dumps(registry, indent=2).encode()
            files |= {SIGNERS: signers.encode(), ".gitmodel-registry.json": declared}
        commit_files(work, f"clf v{n}", files)
    run_git("push", "-q", "-u", "origin", "main", cwd=work)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("changes")
    home = base / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    keys = base / "keys"
    keys.mkdir()
    for person in (ALICE, BOB, CAROL):
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", person.email,
             "-f", str(keys / person.key)], cwd=keys)  # fmt: skip
    with pytest.MonkeyPatch.context() as env:
        for key, value in {"HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1"}.items():
            env.setenv(key, value)
        for key, value in ALICE.env().items():
            if key.startswith(("GIT_AUTHOR_", "GIT_COMMITTER_")):
                env.setenv(key, value)
        if SCRIPTS_DIR not in os.environ["PATH"].split(os.pathsep):
            env.setenv("PATH", SCRIPTS_DIR + os.pathsep + os.environ["PATH"])
        repos = base / "repos"
        repos.mkdir()
        make_repository(repos, keys)
        for key, value in filter_config(skip_smudge=False).items():  # as `install` does
            run_git("config", "--global", key, value, cwd=base)
        run_git("clone", "-q", "origin.git", "b", cwd=repos)  # Bob's, fresh
    return base


FORGE_REQUEST_RECORD = """
import json, sys
from gitmodel import git
from gitmodel.logs import records
from gitmodel.registry import requests
records.Log(git.Repo.discover(), requests.KIND).append(json.loads(sys.argv[1]))
"""
FORGE_PROMOTION = """
import sys
from gitmodel import git
from gitmodel.registry import declare, stages, versions
from gitmodel.registry.stage_events import Assignment, event
repo = git.Repo.discover()
registry = declare.load(repo)
v3 = versions.versions(repo, registry, registry.model("clf"))[2]
record = event("promote", "clf", "production", [], [Assignment.of(v3)], "sneaky",
               request=sys.argv[1], approved_by=["bob@example.com"])
stages.log(repo).append(record, message=stages.summary(record))
"""


@dataclass
class Team:
    root: Path
    origin: Path
    a: Path  # Alice's clone
    b: Path  # Bob's clone
    keys: Path

    def sign(self, clone: Path, person: Person, key: str | None = None) -> None:
        """Sign log commits in ``clone`` with ``key`` (default: the person's own)."""
        for name, value in [("gpg.format", "ssh"), ("commit.gpgSign", "true"),
                            ("user.signingKey", str(self.keys / (key or person.key)))]:  # fmt: skip
            run_git("config", name, value, cwd=clone)

    def model(self, clone: Path, person: Person, *args: str, check: bool = True
              ) -> subprocess.CompletedProcess[bytes]:  # fmt: skip
        return git_model(*args, cwd=clone, check=check, env=person.env())

    def refused(self, clone: Path, person: Person, *args: str) -> str:
        proc = self.model(clone, person, *args, check=False)
        err = proc.stderr.decode()
        assert proc.returncode == 1, err
        lines = err.splitlines()
        assert lines[0].startswith("gitmodel: error: "), err
        assert any(line.startswith("hint: ") for line in lines), err
        assert "Traceback" not in err
        return err

    def forge(self, clone: Path, person: Person, record: dict[str, Any]) -> None:
        """Append ``record`` to the requests log as another client could, skipping every
        check ``git model approve`` makes (signed as ``clone``'s Git signs)."""
        run([sys.executable, "-c", FORGE_REQUEST_RECORD, json.dumps(record)], cwd=clone,
            env=person.env())  # fmt: skip


@pytest.fixture
def team(built: Path, tmp_path: Path) -> Team:
    """Private copies: the bare origin, Alice's clone, and a fresh clone for Bob; each
    signs with their own key, and the filter is installed globally (as `install` does)."""
    shutil.copytree(built / "repos", tmp_path / "repos", symlinks=True)
    shutil.copytree(built / "keys", tmp_path / "keys")
    for key in (tmp_path / "keys").iterdir():
        key.chmod(0o600)
    origin, a, b = (tmp_path / "repos" / name for name in ("origin.git", "a", "b"))
    for clone in (a, b):
        run_git("remote", "set-url", "origin", str(origin), cwd=clone)
    for key, value in filter_config(skip_smudge=False).items():
        run_git("config", "--global", key, value, cwd=tmp_path)
    found = Team(tmp_path, origin, a, b, tmp_path / "keys")
    found.sign(a, ALICE)
    found.sign(b, BOB)
    return found


def request_id(proc: subprocess.CompletedProcess[bytes]) -> str:
    rid = proc.stdout.decode().strip()
    assert len(rid) == 12 and int(rid, 16) >= 0
    return rid


def approved_canary(team: Team) -> str:
    """v2 in production, Alice's request for v3 there approved by Bob in his clone, and
    its canary at 10% started by Alice: the request's id."""
    a, b = team.a, team.b
    team.model(a, ALICE, "promote", "clf@v2", "production", "--force", "-m", "baseline")
    rid = request_id(team.model(a, ALICE, "request", "clf@v3", "production", "-m", "canary"))
    team.model(a, ALICE, "push", "-q")
    team.model(b, BOB, "fetch", "-q")
    team.model(b, BOB, "approve", rid, "-m", "lgtm")
    team.model(b, BOB, "push", "-q")
    team.model(a, ALICE, "fetch", "-q")
    team.model(a, ALICE, "promote", "clf@v3", "production", "--weight", "10", "-m", "10%")
    return rid


def test_request_review_approve_promote_through_two_clones(team: Team) -> None:
    a, b = team.a, team.b
    rid = request_id(team.model(a, ALICE, "request", "clf@v3", "production", "-m", "ready"))
    team.model(a, ALICE, "push", "-q")
    team.model(b, BOB, "fetch", "-q")
    listed = json.loads(team.model(b, BOB, "requests", "--json").stdout)["requests"]
    assert [(r["id"], r["status"], r["version"], r["stage"]) for r in listed] == [
        (rid, "open", 3, "production")
    ]
    assert listed[0]["requested_by"] == {"name": "Alice", "email": ALICE.email}
    report = team.model(b, BOB, "review", "clf@v3", "--against", "production", "--markdown")
    text = report.stdout.decode()
    assert "## Model review: clf v3 against production \\(holds nothing\\)" in text
    assert "**Policy dry run for production:** ❌ 1 rule(s) fail" in text
    assert f"request {rid} has 0 of the 1 approval\\(s\\) it needs" in text
    team.model(b, BOB, "approve", rid[:6], "-m", "metrics look right")
    team.model(b, BOB, "push", "-q")
    team.model(a, ALICE, "fetch", "-q")
    team.model(a, ALICE, "promote", "clf@v3", "production", "-m", "ship")
    [event] = json.loads(team.model(a, ALICE, "history", "clf", "--json").stdout)
    assert (event["request"], event["approved_by"], event["forced"]) == (rid, [BOB.email], False)
    assert (
        'Good "git" signature for alice@example.com'
        in run_git(
            "-c",
            f"gpg.ssh.allowedSignersFile={a / SIGNERS}",
            "verify-commit",
            event["event"],
            cwd=a,
        ).stderr.decode()
    )
    listed = json.loads(team.model(a, ALICE, "requests", "--json").stdout)["requests"]
    assert listed[0]["status"] == "promoted" and listed[0]["promoted_by"] == event["event"]
    assert [d["by"]["email"] for d in listed[0]["decisions"]] == [BOB.email]
    # a request is carried out once: promoting v3 again (after a rollback) needs another
    team.model(a, ALICE, "unassign", "clf", "production", "-m", "drain")
    err = team.refused(a, ALICE, "promote", "clf@v3", "production")
    assert "no open change request asks for v3 in production" in err


def test_promotion_without_approval_is_refused(team: Team) -> None:
    err = team.refused(team.a, ALICE, "promote", "clf@v2", "production")
    assert "approvals (1 signed approval from keys/allowed_signers)" in err
    assert "no open change request asks for v2 in production" in err
    assert "hint: open one and have it approved: git model request clf@v2 production -m WHY" in err
    rid = request_id(team.model(team.a, ALICE, "request", "clf@v2", "production", "-m", "x"))
    err = team.refused(team.a, ALICE, "promote", "clf@v2", "production")
    assert f"request {rid} has 0 of the 1 approval(s) it needs" in err
    assert (f"hint: ask a reviewer: git model approve {rid} -m WHY (`git model fetch` brings "
            "approvals made in other clones)") in err  # fmt: skip
    assert "registry" not in git_out("for-each-ref", cwd=team.a)


def test_self_approval_is_refused_by_approve_and_by_promote(team: Team) -> None:
    a = team.a
    rid = request_id(team.model(a, ALICE, "request", "clf@v2", "production", "-m", "mine"))
    err = team.refused(a, ALICE, "approve", rid, "-m", "lgtm")
    assert "you opened request" in err
    record = json.loads(git_out("cat-file", "blob", "refs/gitmodel/requests:record.json", cwd=a))
    team.forge(a, ALICE, {**record, "type": "approve", "message": "lgtm"})  # signed, by Alice
    err = team.refused(a, ALICE, "promote", "clf@v2", "production")
    assert "alice@example.com approved their own request, which does not count" in err
    assert f"request {rid} has 0 of the 1 approval(s) it needs" in err


def test_approving_a_version_the_branch_no_longer_holds_is_refused(team: Team) -> None:
    """v4 is requested, then the branch is rewritten so that v4 is another commit: an
    approval of the request would read as an approval of what v4 is now."""
    a = team.a
    commit_files(a, "clf v4", {"models/clf/weights.bin": os.urandom(3004)})
    rid = request_id(team.model(a, ALICE, "request", "clf@v4", "production", "-m", "v4"))
    run_git("reset", "-q", "--hard", "HEAD~1", cwd=a)
    commit_files(a, "clf v4, redone", {"models/clf/weights.bin": os.urandom(3005)})
    team.sign(a, BOB)
    err = team.refused(a, BOB, "approve", rid, "-m", "looks fine")
    assert f"request {rid} asks for clf@v4 at commit " in err and "but v4 is now commit " in err
    assert "hint: if the branch was rewritten, reject it and open a new request" in err
    team.model(a, BOB, "reject", rid, "-m", "stale")


def test_approval_signed_by_a_key_outside_allowed_signers_is_refused(team: Team) -> None:
    a, b = team.a, team.b
    rid = request_id(team.model(a, ALICE, "request", "clf@v2", "production", "-m", "please"))
    team.model(a, ALICE, "push", "-q")
    team.model(b, BOB, "fetch", "-q")
    team.sign(b, BOB, key=CAROL.key)  # Bob signs with a key the file does not list for him
    err = team.refused(b, BOB, "approve", rid, "-m", "lgtm")
    assert "your approve would not count: it is signed by a key that is not in" in err
    run_git("config", "commit.gpgSign", "false", cwd=b)
    err = team.refused(b, BOB, "approve", rid, "-m", "lgtm")
    assert "your Git does not sign commits" in err
    run_git("config", "commit.gpgSign", "true", cwd=b)
    record = json.loads(git_out("cat-file", "blob", "refs/gitmodel/requests:record.json", cwd=b))
    team.forge(b, BOB, {**record, "type": "approve", "message": "lgtm"})  # Carol's key
    team.model(b, BOB, "push", "-q")
    team.model(a, ALICE, "fetch", "-q")
    err = team.refused(a, ALICE, "promote", "clf@v2", "production")
    assert "the approval by bob@example.com" in err
    assert "is signed by a key that is not in keys/allowed_signers (SHA256:" in err
    # Carol is no approver at all
    run_git("clone", "-q", str(team.origin), "c", cwd=team.root)
    c = team.root / "c"
    team.sign(c, CAROL)
    err = team.refused(c, CAROL, "approve", rid, "-m", "lgtm")
    assert "carol@example.com is not an approver of this stage (keys/allowed_signers)" in err
    # Bob approves again, now with his own key: that approval counts
    team.sign(b, BOB)
    team.model(b, BOB, "approve", rid, "-m", "lgtm, signed properly")
    team.model(b, BOB, "push", "-q")
    team.model(a, ALICE, "fetch", "-q")
    team.model(a, ALICE, "promote", "clf@v2", "production")


@pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg is not installed")
def test_an_openpgp_key_claiming_an_approvers_email_does_not_count(team: Team) -> None:
    """Alice makes an OpenPGP key whose user id says bob@example.com and signs Bob's
    approval with it: her own keyring vouches for it, the allowed-signers file does not."""
    a, gnupg = team.a, team.root / "gnupg"
    gnupg.mkdir(mode=0o700)
    env = {**BOB.env(), "GNUPGHOME": str(gnupg)}
    try:
        run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key",
             f"Bob <{BOB.email}>", "ed25519", "sign", "never"], cwd=a, env=env)  # fmt: skip
        request_id(team.model(a, ALICE, "request", "clf@v2", "production", "-m", "x"))
        record = json.loads(git_out("cat-file", "blob", "refs/gitmodel/requests:record.json",
                                    cwd=a))  # fmt: skip
        run_git("config", "gpg.format", "openpgp", cwd=a)
        run_git("config", "user.signingKey", BOB.email, cwd=a)
        forged = json.dumps({**record, "type": "approve", "message": "lgtm"})
        run([sys.executable, "-c", FORGE_REQUEST_RECORD, forged], cwd=a, env=env)
        team.sign(a, ALICE)
        proc = git_model("promote", "clf@v2", "production", cwd=a, check=False,
                         env={**ALICE.env(), "GNUPGHOME": str(gnupg)})  # fmt: skip
        err = proc.stderr.decode()
        assert proc.returncode == 1 and f"the approval by {BOB.email} " in err
        assert "is signed by a key that is not in keys/allowed_signers" in err
    finally:
        run(["gpgconf", "--kill", "gpg-agent"], cwd=a, env=env, check=False)


def test_an_allowed_signers_file_committed_as_a_symlink_is_named(team: Team) -> None:
    """Git stores a symbolic link's target as its text: say so, not "line 1 is not a key"."""
    a = team.a
    (a / SIGNERS).unlink()
    (a / SIGNERS).symlink_to(team.keys / "alice.pub")
    run_git("add", "-A", cwd=a)
    run_git("commit", "-qm", "link the signers", cwd=a, env=ALICE.env())
    err = team.refused(a, ALICE, "request", "clf@v2", "production", "-m", "x")
    assert f"error: {SIGNERS} in main is a symbolic link, not a file" in err
    assert "hint: commit the allowed-signers file itself (not a symbolic link to one)" in err


def audit_json(team: Team, clone: Path, *args: str, code: int = 0) -> dict[str, Any]:
    proc = team.model(clone, ALICE, "audit", *args, "--json", check=False)
    assert proc.returncode == code, proc.stderr.decode()
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def test_audit_lists_requests_approvals_signatures_and_flags_forced_changes(team: Team) -> None:
    a, b = team.a, team.b
    team.model(a, ALICE, "promote", "clf@v1", "staging", "-m", "try it")  # no policy
    rid = request_id(team.model(a, ALICE, "request", "clf@v3", "production", "-m", "ready"))
    team.model(a, ALICE, "push", "-q")
    team.model(b, BOB, "fetch", "-q")
    team.model(b, BOB, "approve", rid, "-m", "lgtm")
    team.model(b, BOB, "push", "-q")
    team.model(a, ALICE, "fetch", "-q")
    team.model(a, ALICE, "promote", "clf@v3", "production", "-m", "ship")
    team.model(a, ALICE, "promote", "clf@v2", "production", "--force", "-m", "hotfix")

    found = audit_json(team, a)
    assert found["schema"] == "gitmodel.audit/1"
    assert found["summary"] == {"changes": 3, "forced": 1, "problems": 0}
    forced, promoted, staged = found["changes"]
    assert staged["stage"] == "staging" and staged["signature"]["status"] == "good"
    assert staged["signature_required"] is False
    assert (promoted["to"], promoted["by"]["email"]) == ("v3", ALICE.email)
    assert promoted["forced"] is False
    assert promoted["signature"] == {"status": "good", "signer": ALICE.email,
                                     "key": promoted["signature"]["key"]}  # fmt: skip
    assert promoted["request"]["id"] == rid
    assert promoted["request"]["requested_by"]["email"] == ALICE.email
    [approval] = promoted["approvals"]
    assert (approval["by"]["email"], approval["signature"]["status"]) == (BOB.email, "good")
    assert forced["forced"] is True and forced["to"] == "v2" and forced["problems"] == []
    assert "approvals" in forced["bypassed"][0]
    text = team.model(a, ALICE, "audit", "clf").stdout.decode()
    assert "FORCED: bypassed approvals" in text and f"approved by {BOB.email} (good)" in text
    rows = team.model(a, ALICE, "audit", "--csv").stdout.decode().splitlines()
    assert rows[0].startswith("at,event,model,stage,type,from,to,by_name,by_email,signature")
    assert len(rows) == 4
    alice = f"Alice,{ALICE.email}"
    assert f",production,promote,-,v3,{alice},good,{ALICE.email},true,false,," in rows[2]
    assert f",{rid},{ALICE.email},{BOB.email},,ship" in rows[2]

    # an unsigned change where signing is required: the audit fails, naming it
    run_git("config", "commit.gpgSign", "false", cwd=a)
    proc = team.model(a, ALICE, "rollback", "clf", "production", "-m", "revert hotfix")
    assert "is not signed; `git model audit` will report it" in proc.stderr.decode()
    found = audit_json(team, a, code=1)
    assert found["summary"]["problems"] == 1
    assert found["changes"][0]["signature"]["status"] == "unsigned"
    assert found["changes"][0]["problems"] == [
        "the change is not signed, and the production policy requires signed changes"
    ]
    err = team.refused(a, ALICE, "audit")
    assert "1 stage change(s) break the policy" in err
    team.model(a, ALICE, "audit", "--html", str(team.root / "audit.html"), check=False)
    page = (team.root / "audit.html").read_text()
    assert page.count('<tr class="problem">') == 1 and page.count('<tr class="forced">') == 1
    assert "4 stage change(s), 1 forced, 1 with problems" in page
    assert audit_json(team, a, "--since", "2999-01-01")["changes"] == []
    err = team.refused(a, ALICE, "audit", "--since", "yesterday-ish")
    assert "is not a date" in err


def test_a_promotion_pushed_around_promote_fails_the_audit(team: Team) -> None:
    """Someone who can push the registry log can write any event: the audit re-checks
    each promotion against the requests log and the signatures."""
    a = team.a
    rid = request_id(team.model(a, ALICE, "request", "clf@v3", "production", "-m", "x"))
    run([sys.executable, "-c", FORGE_PROMOTION, rid], cwd=a, env=ALICE.env())
    found = audit_json(team, a, code=1)
    [change] = found["changes"]
    assert change["signature"]["status"] == "good"  # Alice signed it: still not approved
    assert f"request {rid} has 0 of the 1 approval(s) it needs" in change["problems"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["approve", "../../etc", "-m", "x"], "invalid request id '../../etc'"),
        (["approve", "-m", "x", "--", "-rf"], "invalid request id '-rf'"),
        (["reject", "abc", "-m", "x"], "invalid request id 'abc'"),
        (["approve", "0123456789ab", "-m", "x"], "no request 0123456789ab"),
        (["approve", "0123", "-m", ""], "approve needs a reason"),
        (["request", "clf@v3", "production"], "request needs a reason"),
        (["request", "clf@v9", "production", "-m", "x"], "clf has no version v9"),
        (["request", "clf@v3", "Prod", "-m", "x"], "invalid stage name 'Prod'"),
        (["request", "clf@v3", "qa", "-m", "x"], "clf has no stage 'qa'"),
        (["audit", "--since", "31/01/2026"], "is not a date"),
        (["audit", "../x"], "invalid model name '../x'"),
    ],
)
def test_bad_input_is_one_line_and_a_hint(team: Team, args: list[str], message: str) -> None:
    before = git_out("for-each-ref", cwd=team.a)
    err = team.refused(team.a, ALICE, *args)
    assert message in err.splitlines()[0]
    assert git_out("for-each-ref", cwd=team.a) == before


def test_hostile_records_from_a_remote_are_skipped_not_trusted(team: Team) -> None:
    """Records anyone could push: malformed ones are ignored, a garbage state does not
    stop new records, and an allowed-signers file that is not one stops promote with the
    file and line named."""
    a = team.a
    for record in ({"type": "request", "id": "../../x", "model": "clf", "stage": "production",
                    "version": 3, "commit": "0" * 40, "message": "x"},
                   {"type": "approve", "id": "0123456789ab"}, {"what": ["ever"]}):  # fmt: skip
        team.forge(a, ALICE, record)
    assert json.loads(team.model(a, ALICE, "requests", "--json").stdout) == {"requests": []}
    rid = request_id(team.model(a, ALICE, "request", "clf@v3", "production", "-m", "x"))
    assert [r["id"] for r in json.loads(team.model(a, ALICE, "requests", "--json").stdout)[
        "requests"]] == [rid]  # fmt: skip
    (a / SIGNERS).write_text("*@example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKk9M1w5dQn8\n")
    run_git("commit", "-qam", "trust everyone", cwd=a, env=ALICE.env())
    err = team.refused(a, ALICE, "promote", "clf@v3", "production")
    assert "main:keys/allowed_signers:1: principal '*@example.com' is not a list of emails" in err


def test_a_diverged_registry_log_does_not_hold_back_the_requests_log(team: Team) -> None:
    """Bob holds a stage change he has not pushed while Alice's promotion reached origin
    first: his fetch and push say the registry log diverged, yet Alice's request still
    reaches him and his approval still reaches her."""
    a, b = team.a, team.b
    team.model(b, BOB, "promote", "clf@v2", "staging", "-m", "bob's, unpushed")
    team.model(a, ALICE, "promote", "clf@v1", "staging", "-m", "alice's")
    rid = request_id(team.model(a, ALICE, "request", "clf@v3", "production", "-m", "ready"))
    team.model(a, ALICE, "push", "-q")
    err = team.refused(b, BOB, "fetch", "-q")
    assert "the registry log has new records both here and on origin" in err
    listed = json.loads(team.model(b, BOB, "requests", "--json").stdout)["requests"]
    assert [r["id"] for r in listed] == [rid]
    team.model(b, BOB, "approve", rid, "-m", "looks right")
    team.model(a, ALICE, "request", "clf@v2", "production", "-m", "moves the requests log")
    team.model(a, ALICE, "push", "-q")
    err = team.refused(b, BOB, "push", "-q")
    assert "the registry log has new records both here and on origin" in err
    team.model(a, ALICE, "fetch", "-q")
    team.model(a, ALICE, "promote", "clf@v3", "production", "-m", "ship")


def test_an_approved_canary_is_raised_and_completed_under_its_request(team: Team) -> None:
    """The approval of v3 for production covers its rollout: the canary promotion carries
    the request out, and raising its share or completing the cut-over continues it (a
    new request is needed only for a version the stage no longer holds); the audit finds
    every step approved."""
    a = team.a
    rid = approved_canary(team)
    team.model(a, ALICE, "promote", "clf@v3", "production", "--weight", "50", "-m", "50%")
    team.model(a, ALICE, "promote", "clf@v3", "production", "-m", "all of it")
    events = json.loads(team.model(a, ALICE, "history", "clf", "--json").stdout)
    assert [(e["message"], e.get("request"), e["forced"]) for e in events] == [
        ("all of it", rid, False), ("50%", rid, False), ("10%", rid, False),
        ("baseline", None, True),
    ]  # fmt: skip
    assert audit_json(team, a)["summary"]["problems"] == 0
    # the same version brought in again after it left the stage needs a new request
    team.model(a, ALICE, "promote", "clf@v2", "production", "--force", "-m", "back")
    err = team.refused(a, ALICE, "promote", "clf@v3", "production", "--weight", "10")
    assert "no open change request asks for v3 in production" in err


def test_a_promotion_signed_by_an_unlisted_key_is_refused_before_it_is_written(
    team: Team,
) -> None:
    """Changes of a stage that requires signing are checked as requests and approvals
    are: one the audit would find signed by a key outside the allowed-signers file is
    refused, and nothing is recorded."""
    a = team.a
    team.sign(a, ALICE, key=CAROL.key)  # Alice signs with a key the file does not list
    before = git_out("for-each-ref", cwd=a)
    err = team.refused(a, ALICE, "promote", "clf@v3", "production", "--force", "-m", "hotfix")
    assert "your promotion would not count: it is signed by a key that is not in " \
        "keys/allowed_signers" in err  # fmt: skip
    assert git_out("for-each-ref", cwd=a) == before
    team.sign(a, ALICE)
    team.model(a, ALICE, "promote", "clf@v3", "production", "--force", "-m", "hotfix")
    assert audit_json(team, a)["summary"] == {"changes": 1, "forced": 1, "problems": 0}


def test_a_message_that_is_not_utf8_is_refused_not_called_a_damaged_log(team: Team) -> None:
    """`-m` bytes a Latin-1 terminal sent: the command says so, and the logs stay sound."""
    latin1 = "caf\udce9"  # how Python receives the byte 0xe9 on a UTF-8 system
    for args in (["request", "clf@v3", "production", "-m", latin1],
                 ["promote", "clf@v3", "production", "--force", "-m", latin1]):  # fmt: skip
        err = team.refused(team.a, ALICE, *args)
        assert f"the {args[0]} message is not UTF-8 text" in err
        assert "damaged" not in err
    assert "refs/gitmodel" not in git_out("for-each-ref", cwd=team.a)


def listed_requests(team: Team, clone: Path) -> dict[str, dict[str, Any]]:
    found = json.loads(team.model(clone, ALICE, "requests", "--json").stdout)["requests"]
    return {r["id"]: r for r in found}


def test_a_direct_promotion_carries_out_or_supersedes_open_requests(team: Team) -> None:
    """staging needs no approval, so a version is promoted there directly: the request for
    that very change reads as carried out, one for an older version as superseded, and
    neither is put to reviewers again; a request opened afterwards stays open."""
    a, b = team.a, team.b
    for_v2 = request_id(team.model(a, ALICE, "request", "clf@v2", "staging", "-m", "v2"))
    for_v1 = request_id(team.model(a, ALICE, "request", "clf@v1", "staging", "-m", "v1"))
    before = listed_requests(team, a)
    assert (before[for_v2]["status"], before[for_v1]["status"]) == ("open", "open")
    team.model(a, ALICE, "promote", "clf@v2", "staging", "-m", "no review needed")
    [event] = json.loads(team.model(a, ALICE, "history", "clf", "--json").stdout)
    assert "request" not in event
    for_v3 = request_id(team.model(a, ALICE, "request", "clf@v3", "staging", "-m", "v3"))
    team.model(a, ALICE, "push", "-q")
    team.model(b, BOB, "fetch", "-q")
    found = listed_requests(team, b)
    assert (found[for_v2]["status"], found[for_v2]["promoted_by"]) == ("promoted", event["event"])
    assert found[for_v1]["status"] == "superseded" and found[for_v1]["promoted_by"] is None
    assert found[for_v1]["superseded_by"] == {"event": event["event"], "version": 2}
    assert (found[for_v3]["status"], found[for_v3]["superseded_by"]) == ("open", None)
    text = team.model(b, BOB, "requests").stdout.decode()
    assert f"{for_v1}  superseded clf@v1 -> staging" in text
    assert f"superseded by v2 in staging, registry event {event['event'][:10]}" in text
    err = team.refused(b, BOB, "approve", for_v2, "-m", "lgtm")
    assert f"request {for_v2} was carried out already (registry event {event['event'][:10]})" in err
    err = team.refused(b, BOB, "approve", for_v1, "-m", "lgtm")
    assert f"request {for_v1} is superseded: staging of clf was given v2" in err
    assert "hint: nothing to review; if v1 should still enter staging, open a new request" in err
    team.model(b, BOB, "approve", for_v3, "-m", "lgtm")
    # the outcome comes from the registry's records: a requests state.json edited to say
    # "open" changes nothing
    record = json.loads(git_out("cat-file", "blob", "refs/gitmodel/requests:record.json", cwd=b))
    team.forge(b, BOB, {**record, "type": "approve", "message": "again"})
    assert listed_requests(team, b)[for_v2]["status"] == "promoted"
    # a request for the same change, opened later, is a new one
    team.model(a, ALICE, "unassign", "clf", "staging", "-m", "drain")
    assert request_id(team.model(a, ALICE, "request", "clf@v2", "staging", "-m", "again"))


DAY = 24 * 3600


def last_record(clone: Path) -> dict[str, Any]:
    """The newest record of ``clone``'s requests log."""
    return json.loads(git_out("cat-file", "blob", "refs/gitmodel/requests:record.json", cwd=clone))


def newest_event(team: Team, clone: Path) -> str:
    return json.loads(team.model(clone, ALICE, "history", "clf", "--json").stdout)[0]["event"]


def test_a_promotion_the_requester_had_seen_is_not_after_the_request(team: Team) -> None:
    """Alice's clock runs a day ahead, so her promotion of v2 to staging bears a later time
    than the requests Bob opens once he has fetched it: having seen it, they are after it,
    not it after them. His request for v2 stays open (not carried out), his request for v1
    open (not superseded); his own promotion of v1, made after, carries that one out."""
    a, b = team.a, team.b
    ahead = ALICE.at(int(time.time()) + DAY)
    team.model(a, ahead, "promote", "clf@v2", "staging", "-m", "v2")
    team.model(a, ahead, "push", "-q")
    team.model(b, BOB, "fetch", "-q")
    seen = git_out("rev-parse", "refs/gitmodel/registry", cwd=b).strip()
    for_v2 = request_id(team.model(b, BOB, "request", "clf@v2", "staging", "-m", "keep v2"))
    assert last_record(b)["registry_tip"] == seen
    for_v1 = request_id(team.model(b, BOB, "request", "clf@v1", "staging", "-m", "back to v1"))
    found = listed_requests(team, b)
    assert (found[for_v2]["status"], found[for_v1]["status"]) == ("open", "open")
    team.model(b, BOB, "promote", "clf@v1", "staging", "-m", "v1 again")
    found = listed_requests(team, b)
    assert (found[for_v1]["status"], found[for_v1]["promoted_by"]) == (
        "promoted", newest_event(team, b))  # fmt: skip
    assert (found[for_v2]["status"], found[for_v2]["superseded_by"]) == ("open", None)


def test_a_request_opened_in_the_same_second_as_a_promotion_it_saw_is_after_it(
    team: Team,
) -> None:
    """Same author time, known order: the promotion was on the log the request saw."""
    a = team.a
    now = ALICE.at(int(time.time()))
    team.model(a, now, "promote", "clf@v2", "staging", "-m", "v2")
    for_v2 = request_id(team.model(a, now, "request", "clf@v2", "staging", "-m", "keep v2"))
    for_v1 = request_id(team.model(a, now, "request", "clf@v1", "staging", "-m", "back to v1"))
    found = listed_requests(team, a)
    assert (found[for_v2]["status"], found[for_v1]["status"]) == ("open", "open")


def test_a_request_from_a_clock_behind_is_carried_out_by_the_promotion_after_it(
    team: Team,
) -> None:
    """Bob's clock runs a day behind. Alice's promotion of v3 to staging, which Bob fetched
    before asking for v2 there, bears a later time than his request yet does not supersede
    it; her promotion of v2, made after she fetched the request, carries it out."""
    a, b = team.a, team.b
    team.model(a, ALICE, "promote", "clf@v3", "staging", "-m", "v3")
    team.model(a, ALICE, "push", "-q")
    team.model(b, BOB, "fetch", "-q")
    behind = BOB.at(int(time.time()) - DAY)
    rid = request_id(team.model(b, behind, "request", "clf@v2", "staging", "-m", "v3 regressed"))
    team.model(b, behind, "push", "-q")
    team.model(a, ALICE, "fetch", "-q")
    assert listed_requests(team, a)[rid]["status"] == "open"
    team.model(a, ALICE, "promote", "clf@v2", "staging", "-m", "back to v2")
    found = listed_requests(team, a)[rid]
    assert (found["status"], found["promoted_by"], found["superseded_by"]) == (
        "promoted", newest_event(team, a), None)  # fmt: skip


def test_a_rejection_from_a_clock_behind_does_not_undo_the_approval_it_saw(
    team: Team,
) -> None:
    """Bob's clock runs a day behind: his rejection, made after he fetched the canary Alice
    started under his approval, bears an earlier time than that promotion. It records the
    registry tip he had seen, so the audit still finds the promotion approved when made."""
    from gitmodel import git
    from gitmodel.registry import requests

    a, b = team.a, team.b
    rid = approved_canary(team)
    canary = newest_event(team, a)
    team.model(a, ALICE, "push", "-q")
    team.model(b, BOB, "fetch", "-q")
    team.model(b, BOB.at(int(time.time()) - DAY), "reject", rid, "-m", "p99 latency doubled")
    team.model(b, BOB, "push", "-q")
    team.model(a, ALICE, "fetch", "-q")
    (rejection,) = [e.record for e in requests.entries(git.Repo.discover(a))
                    if e.record.type == "reject"]  # fmt: skip
    assert rejection.registry_tip == canary
    trail = audit_json(team, a)
    assert trail["summary"]["problems"] == 0, trail["changes"]


def forged_request(rid: str, version: int, commit: str, **extra: object) -> dict[str, Any]:
    return {"type": "request", "id": rid, "model": "clf", "stage": "staging",
            "version": version, "commit": commit, "message": "forged", **extra}  # fmt: skip


def test_a_recorded_tip_that_is_not_on_the_registry_log_falls_back_to_author_times(
    team: Team,
) -> None:
    """``registry_tip`` is anyone's input: a value that is not a commit id, or a commit
    the registry log does not hold (rewritten since, another repository's), is judged by
    author times, and the listing still works. By times, the promotion of v2 made a day
    earlier is before the requests, and the one made after them carries them out; null
    (no log seen) puts every promotion after."""
    a = team.a
    team.model(a, ALICE.at(int(time.time()) - DAY), "promote", "clf@v2", "staging", "-m", "v2")
    earlier = newest_event(team, a)
    v2 = json.loads(team.model(a, ALICE, "versions", "clf", "--json").stdout)["versions"][1]
    branch = git_out("rev-parse", "main", cwd=a).strip()
    tips: list[object] = ["0" * 40, "0" * 64, branch, earlier.upper(), earlier[:12],
                          earlier + "\n", "HEAD", "refs/gitmodel/registry", "", 42, True,
                          [earlier], {"commit": earlier}]  # fmt: skip
    for n, tip in enumerate(tips):
        team.forge(a, ALICE, forged_request(f"{n:012x}", 2, v2["commit"], registry_tip=tip))
    team.forge(a, ALICE, forged_request("a" * 12, 2, v2["commit"], registry_tip=None))
    found = listed_requests(team, a)
    assert {found[f"{n:012x}"]["status"] for n in range(len(tips))} == {"open"}
    assert found["a" * 12]["promoted_by"] == earlier
    team.model(a, ALICE, "unassign", "clf", "staging", "-m", "drain")
    team.model(a, ALICE, "promote", "clf@v2", "staging", "-m", "v2 again")
    later = newest_event(team, a)
    found = listed_requests(team, a)
    assert {found[f"{n:012x}"]["promoted_by"] for n in range(len(tips))} == {later}
    assert "Traceback" not in team.model(a, ALICE, "requests").stderr.decode()


def test_a_request_without_a_recorded_tip_is_judged_by_author_times(team: Team) -> None:
    """A request written before ``registry_tip`` existed keeps the author-time rule: a
    promotion from a clock a day ahead, though made before it, carries it out; a request
    opened now through ``request`` records its tip and stays open."""
    a = team.a
    team.model(a, ALICE.at(int(time.time()) + DAY), "promote", "clf@v2", "staging", "-m", "v2")
    ahead = newest_event(team, a)
    v2 = json.loads(team.model(a, ALICE, "versions", "clf", "--json").stdout)["versions"][1]
    team.forge(a, ALICE, forged_request("0123456789ab", 2, v2["commit"]))  # the old format
    rid = request_id(team.model(a, ALICE, "request", "clf@v2", "staging", "-m", "keep v2"))
    found = listed_requests(team, a)
    assert (found["0123456789ab"]["status"], found["0123456789ab"]["promoted_by"]) == (
        "promoted", ahead)  # fmt: skip
    assert (found[rid]["status"], found[rid]["promoted_by"]) == ("open", None)


def test_rejecting_a_request_stops_its_canary(team: Team) -> None:
    """Bob approved v3 for production and Alice started its canary; Bob then rejects the
    request in his clone: the rejection withdraws the canary (production serves v2 alone
    again), raising or completing it under the request is refused, and the audit shows
    the withdrawal with the request and who rejected it."""
    a, b = team.a, team.b
    rid = approved_canary(team)
    team.model(a, ALICE, "push", "-q")
    team.model(b, BOB, "fetch", "-q")
    served = json.loads(team.model(b, BOB, "resolve", "clf@production", "--json").stdout)
    assert [(v["version"], v["weight"]) for v in served["versions"]] == [(2, 90), (3, 10)]

    err = team.refused(b, CAROL, "reject", rid, "-m", "not mine to stop")
    assert f"carol@example.com is neither an approver of clf production ({SIGNERS})" in err
    proc = team.model(b, BOB, "reject", rid, "-m", "p99 latency doubled")
    assert f"(canary of request {rid} withdrawn)" in proc.stderr.decode()
    served = json.loads(team.model(b, BOB, "resolve", "clf@production", "--json").stdout)
    assert [(v["version"], v["weight"]) for v in served["versions"]] == [(2, 100)]
    team.model(b, BOB, "push", "-q")
    team.model(a, ALICE, "fetch", "-q")
    served = json.loads(team.model(a, ALICE, "resolve", "clf@production", "--json").stdout)
    assert [(v["version"], v["weight"]) for v in served["versions"]] == [(2, 100)]

    for args in (["--weight", "50"], []):
        err = team.refused(a, ALICE, "promote", "clf@v3", "production", *args, "-m", "more")
        assert f"request {rid} for v3 in production was rejected by {BOB.email}: p99 " \
            "latency doubled" in err  # fmt: skip
        assert "hint: address it, then open a new request: git model request clf@v3" in err
    err = team.refused(a, ALICE, "approve", rid, "-m", "try again")
    assert f"request {rid} was rejected" in err
    err = team.refused(a, ALICE, "reject", rid, "-m", "again")
    assert f"request {rid} was rejected" in err

    [withdrawn, *_] = json.loads(team.model(a, ALICE, "history", "clf", "--json").stdout)
    assert (withdrawn["type"], withdrawn["request"], withdrawn["rejected_by"]) == (
        "rollback", rid, [BOB.email])  # fmt: skip
    assert withdrawn["by"]["email"] == BOB.email
    text = team.model(a, ALICE, "history", "clf").stdout.decode()
    assert f"(canary withdrawn: request {rid} rejected by {BOB.email})" in text
    found = listed_requests(team, a)[rid]
    assert (found["status"], found["withdrawn_by"]) == ("rejected", withdrawn["event"])
    trail = audit_json(team, a)
    assert trail["summary"] == {"changes": 3, "forced": 1, "problems": 0}
    change = trail["changes"][0]
    assert (change["type"], change["from"], change["to"]) == ("rollback", "v2 90%, v3 10%", "v2")
    assert (change["request"]["id"], change["rejected_by"]) == (rid, [BOB.email])
    assert change["signature"]["status"] == "good" and change["by"]["email"] == BOB.email
    text = team.model(a, ALICE, "audit", "clf").stdout.decode()
    assert f"canary withdrawn: request {rid} rejected by {BOB.email}" in text
    rows = team.model(a, ALICE, "audit", "--csv").stdout.decode().splitlines()
    assert rows[0].endswith(",message,rejected_by") and rows[1].endswith(f",{BOB.email}")


def test_a_withdrawal_that_cites_no_rejection_fails_the_audit(team: Team) -> None:
    """Someone who can push the registry log could write a withdrawal naming a reviewer
    who never rejected the request: the audit says so."""
    a = team.a
    team.model(a, ALICE, "promote", "clf@v2", "production", "--force", "-m", "baseline")
    rid = request_id(team.model(a, ALICE, "request", "clf@v3", "production", "-m", "x"))
    forge = """
import sys
from gitmodel import git
from gitmodel.registry import stages
from gitmodel.registry.stage_events import event
repo = git.Repo.discover()
held = stages.held(stages.current_state(repo), "clf", "production")
record = event("rollback", "clf", "production", held, held, "x", request=sys.argv[1],
               rejected_by=["bob@example.com"])
stages.log(repo).append(record, message=stages.summary(record))
"""
    run([sys.executable, "-c", forge, rid], cwd=a, env=ALICE.env())
    change = audit_json(team, a, code=1)["changes"][0]
    assert change["problems"] == [
        f"the withdrawal says {BOB.email} rejected request {rid}, and no log holds such a "
        "rejection signed by them"
    ]


def test_a_rejection_whose_withdrawal_did_not_land_is_finished_by_rejecting_again(
    team: Team,
) -> None:
    """The rejection is recorded first, then the withdrawal (two logs): when the second
    did not land (a concurrent stage change, say), rejecting again writes only it."""
    a = team.a
    team.model(a, ALICE, "promote", "clf@v2", "production", "--force", "-m", "baseline")
    rid = request_id(team.model(a, ALICE, "request", "clf@v3", "production", "-m", "canary"))
    team.sign(a, BOB)
    team.model(a, BOB, "approve", rid, "-m", "lgtm")
    team.sign(a, ALICE)
    team.model(a, ALICE, "promote", "clf@v3", "production", "--weight", "20", "-m", "20%")
    record = json.loads(git_out("cat-file", "blob", "refs/gitmodel/requests:record.json", cwd=a))
    team.sign(a, BOB)
    team.forge(a, BOB, {**record, "type": "reject", "message": "too slow"})  # no withdrawal
    err = team.refused(a, ALICE, "promote", "clf@v3", "production", "--weight", "50")
    assert f"request {rid} was rejected by {BOB.email}: too slow" in err
    team.model(a, BOB, "reject", rid, "-m", "too slow")
    found = listed_requests(team, a)[rid]
    assert found["status"] == "rejected" and found["withdrawn_by"] is not None
    assert [d["type"] for d in found["decisions"]] == ["approve", "reject"]
    served = json.loads(team.model(a, ALICE, "resolve", "clf@production", "--json").stdout)
    assert [(v["version"], v["weight"]) for v in served["versions"]] == [(2, 100)]
    assert audit_json(team, a)["summary"]["problems"] == 0
