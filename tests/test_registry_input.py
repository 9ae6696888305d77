"""Registry input a user or a teammate gets wrong: registry logs of the wrong JSON shapes,
broken declarations, typos of models and stages, weights and rollbacks that the policy or
the log does not allow, and text from the log that must print as one clean line. Each is
one ``gitmodel: error:`` line with a ``hint:`` line, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import git_model, git_out, run_git
from test_registry import Cli, built, cli, set_policy, shared, work

from gitmodel.errors import UserError
from gitmodel.registry import stages

__all__ = ["built", "cli", "shared", "work"]  # fixtures shared with test_registry

REF = "refs/gitmodel/registry"
REPAIR = (
    f"hint: find its last good commit with `git log {REF}`, then put the log back there: "
    f"git update-ref {REF} COMMIT"
)


def append_raw(repo: Path, record: object, state: object) -> str:
    """Append a log commit holding ``record`` and ``state`` as written by hand (a
    teammate's commit), with plain Git; the commit's id. Bytes are written as they are."""
    blobs = {
        name: run_git("hash-object", "-w", "--stdin", cwd=repo,
                      input=value if isinstance(value, bytes) else json.dumps(value).encode(),
                      ).stdout.decode().strip()
        for name, value in (("record.json", record), ("state.json", state))
    }  # fmt: skip
    listing = "".join(f"100644 blob {blob}\t{name}\n" for name, blob in blobs.items())
    tree = run_git("mktree", cwd=repo, input=listing.encode()).stdout.decode().strip()
    tip = git_out("rev-parse", "--verify", REF, cwd=repo).strip()
    commit = git_out("commit-tree", tree, "-p", tip, "-m", "registry: by hand", cwd=repo).strip()
    run_git("update-ref", REF, commit, cwd=repo)
    return commit


def tip_state(repo: Path) -> object:
    return json.loads(git_out("show", f"{REF}:state.json", cwd=repo))


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith(("gitmodel: error:", "hint:"))]


@pytest.mark.parametrize(
    ("state", "problem"),
    [
        ({"records": 3, "models": "garbage"}, '"models" is not an object'),
        ({"records": 3, "models": {"clf": []}}, "the entry of clf is not an object"),
        ({"records": 3, "models": {"-x": {}}}, "'-x' is not a model name"),
        ({"records": 3, "models": {"clf": {"stages": {"dev": "v1"}}}},
         '"stages" of clf is not an object of stages and lists'),
        ({"records": 3, "models": {"clf": {"past": {"dev": ["v1"]}}}},
         '"past" of clf is not an object of lists of lists'),
        ({"records": "3", "models": {}}, '"records" is not a number'),
        ({"records": 3, "models": {"clf": {"stages": {"dev": ["x"]}}}},
         "dev of clf holds a malformed assignment: an assignment is not an object"),
        ({"records": 3, "models": {"clf": {"stages": {"dev": [{"commit": "a" * 40}]}}}},
         "dev of clf holds a malformed assignment: the assignment of aaaaaaaaaa has no valid "
         "version and weight"),
        ({"records": 3, "models": {"clf": {"past": {"dev": [[{"version": 1, "weight": 100}]]}}}},
         "the past of dev of clf holds a malformed assignment: an assignment has no commit id"),
    ],
)  # fmt: skip
def test_a_malformed_registry_state_is_refused_naming_the_log(
    cli: Cli, work: Path, state: object, problem: str
) -> None:
    cli.run(work, "promote", "clf@v1", "dev")
    tip = append_raw(work, {"type": "promote", "model": "clf", "stage": "dev"}, state)
    expected = [
        f"gitmodel: error: the registry log is damaged at commit {tip[:12]}: its state.json is "
        f"not valid ({problem})",
        REPAIR,
    ]
    for args in (("stages",), ("resolve", "clf@dev"), ("promote", "clf@v2", "dev"),
                 ("rollback", "clf", "dev"), ("unassign", "clf", "dev")):  # fmt: skip
        assert error_lines(cli.refused(work, *args)) == expected, args


def test_history_shows_a_malformed_event_as_unreadable_and_goes_on(cli: Cli, work: Path) -> None:
    cli.run(work, "promote", "clf@v1", "dev", "-m", "first")
    good = tip_state(work)
    no_stage = append_raw(work, {"type": "promote", "model": "clf"}, good)
    bad_bypass = append_raw(work, {"type": "promote", "model": "clf", "stage": "dev",
                                   "forced": True, "bypassed": [1]}, good)  # fmt: skip
    bad_to = append_raw(work, {"type": "promote", "model": "clf", "stage": "dev",
                               "to": [{"version": 1}]}, good)  # fmt: skip
    lines = cli.run(work, "history", "clf")[1].splitlines()
    by = "  by Test Author <author@example.com>"
    assert [line[27:] for line in lines] == [
        f"unreadable event {bad_to[:10]} (an assignment has no commit id){by}",
        f"unreadable event {bad_bypass[:10]} (bypassed is not a list of rules){by}",
        f"unreadable event {no_stage[:10]} (no valid model or stage){by}",
        f'dev         promote   - -> v1{by}  "first"',
    ]
    cli.run(work, "promote", "clf@v2", "dev")  # the state is sound: the log goes on
    assert cli.held(work, "dev") == [(2, 100)]


@pytest.mark.parametrize("form", [["--json"], []], ids=["json", "text"])
def test_history_of_a_damaged_log_writes_nothing_to_stdout(
    cli: Cli, work: Path, form: list[str]
) -> None:
    """The events newer than the damage are read before it is found: none is shown,
    so a reader (or a script) never takes part of the history for all of it."""
    cli.run(work, "promote", "clf@v1", "dev")
    good = tip_state(work)
    damaged = append_raw(work, b"not json", good)
    append_raw(work, {"type": "unassign", "model": "clf", "stage": "dev"}, good)
    shown = git_model("history", "clf", *form, cwd=work, check=False)
    assert (shown.returncode, shown.stdout) == (1, b"")
    assert error_lines(shown.stderr.decode()) == [
        f"gitmodel: error: the registry log is damaged at commit {damaged[:12]}: its "
        "record.json is not valid (Expecting value: line 1 column 1 (char 0))",
        REPAIR,
    ]


def test_the_reducer_only_counts_a_malformed_event_and_refuses_a_malformed_state() -> None:
    state = stages.reduce({}, {"type": "promote", "model": "clf", "stage": "dev", "to": ["x"]})
    assert state == {"records": 1}
    event = {"type": "unassign", "model": "clf", "stage": "dev"}
    with pytest.raises(ValueError, match='"models" is not an object'):
        stages.reduce({"models": "garbage"}, event)
    with pytest.raises(UserError, match='malformed state: "models" is not an object'):
        stages.held({"models": "garbage"}, "clf", "dev")


def test_history_prints_each_event_as_one_clean_line(
    cli: Cli, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.run(work, "promote", "clf@v1", "dev")
    forged = "x\n2026-01-01 00:00:00 +0000  dev         promote   - -> v3  by Boss\x1b[31m"
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Eve\x1b[2J")
    cli.run(work, "unassign", "clf", "dev", "-m", forged)
    out = cli.run(work, "history", "clf")[1]
    assert len(out.splitlines()) == 2 and "\x1b" not in out
    assert out.splitlines()[0].endswith(
        'unassign  v1 -> -  by Eve [2J <author@example.com>  "x 2026-01-01 00:00:00 +0000 '
        'dev promote - -> v3 by Boss [31m"'
    )


@pytest.mark.parametrize(
    ("policy", "line"),
    [
        ({"staging": {"metrics": {"accuracy": ">= 1.2.3"}}},
         "invalid threshold '>= 1.2.3' for metric 'accuracy'"),
        ({"staging": {"metrics": {"loss": "< 1e"}}}, "invalid threshold '< 1e' for metric 'loss'"),
        ({"staging": {"on_remote": "false"}},
         "policy of 'clf' for stage 'staging': \"on_remote\" must be true or false"),
        ({"staging": {"verify": 1}},
         "policy of 'clf' for stage 'staging': \"verify\" must be true or false"),
        ({"staging": {"approvals": {"from": "../keys", "require_signed": True}}},
         "policy of 'clf' for stage 'staging': \"approvals\": \"from\" names '../keys', which "
         "is not a path inside the repository"),
        ({"production": {"after": "production"}},
         "policy of 'clf': \"after\" rules go round in a loop (production after production), "
         "so no version could ever be promoted there"),
        ({"production": {"after": "staging"}, "staging": {"after": "production"}},
         "policy of 'clf': \"after\" rules go round in a loop (production after staging after "
         "production), so no version could ever be promoted there"),
    ],
)  # fmt: skip
def test_a_policy_typo_is_refused(
    cli: Cli, work: Path, policy: dict[str, object], line: str
) -> None:
    set_policy(work, policy)
    assert error_lines(cli.refused(work, "promote", "clf", "dev"))[0] == f"gitmodel: error: {line}"


def test_thresholds_in_every_number_form_are_read(cli: Cli, work: Path) -> None:
    set_policy(work, {"staging": {"metrics": {"a": ">= .5", "b": "< 1e-3", "c": "== -2."}}})
    err = cli.refused(work, "promote", "clf", "staging")
    assert "a >= 0.5: v3 has no a metric; b < 0.001: v3 has no b metric; c == -2: v3" in err


def test_declared_stages_and_branch_are_checked(cli: Cli, work: Path) -> None:
    path = work / ".gitmodel-registry.json"
    declared = json.loads(path.read_text())
    declared["models"]["clf"]["stages"] = ["dev", "staging", "dev"]
    path.write_text(json.dumps(declared))
    assert error_lines(cli.refused(work, "versions", "clf")) == [
        "gitmodel: error: \"stages\" of 'clf' lists 'dev' twice",
        "hint: fix .gitmodel-registry.json (see README: Registry)",
    ]
    del declared["models"]["clf"]["stages"]
    path.write_text(json.dumps({**declared, "branch": "mian"}))
    assert error_lines(cli.refused(work, "versions", "clf")) == [
        "gitmodel: error: the registry branch 'mian' does not exist",
        'hint: fix "branch" in .gitmodel-registry.json, or create or fetch that branch '
        "(see `git branch -a`)",
    ]


def test_weight_never_hands_the_main_share_to_the_canary(cli: Cli, work: Path) -> None:
    cli.run(work, "promote", "clf@v3", "dev")
    cli.run(work, "promote", "clf@v2", "dev", "--weight", "20")
    assert error_lines(cli.refused(work, "promote", "clf@v3", "dev", "--weight", "10")) == [
        "gitmodel: error: v3 is the main version of clf dev; --weight gives the share of a new "
        "or canary version and keeps the main one",
        "hint: to change the canary's share, promote it with the new weight: "
        "git model promote clf@v2 dev --weight N (or make it main: without --weight)",
    ]
    cli.run(work, "promote", "clf@v2", "dev", "--weight", "10")  # as the hint says
    assert cli.held(work, "dev") == [(3, 90), (2, 10)]
    cli.run(work, "promote", "clf@v2", "staging")
    assert error_lines(cli.refused(work, "promote", "clf@v2", "staging", "--weight", "50")) == [
        "gitmodel: error: v2 is the main version of clf staging; --weight gives the share of a "
        "new or canary version and keeps the main one",
        "hint: to split its traffic, promote another version with a weight: "
        "git model promote clf@VERSION staging --weight N",
    ]
    assert error_lines(cli.refused(work, "promote", "clf@v1", "production", "--weight", "5")) == [
        "gitmodel: error: production holds no version to split traffic with",
        "hint: promote one without --weight first: git model promote clf@v1 production",
    ]


def test_rollback_to_puts_back_only_what_the_stage_held(cli: Cli, work: Path) -> None:
    cli.run(work, "promote", "clf@v1", "production")
    cli.run(work, "promote", "clf@v2", "production", "--weight", "10")
    cli.run(work, "promote", "clf@v3", "production")
    assert error_lines(cli.refused(work, "rollback", "clf", "staging", "--to", "v1")) == [
        "gitmodel: error: staging of clf never held v1; rollback --to only puts back a version "
        "the stage held before",
        "hint: assign a new version with git model promote clf@v1 staging (where the policy "
        "applies); see `git model history clf --stage staging`",
    ]
    cli.run(work, "rollback", "clf", "production", "--to", "v2", "-m", "the canary was fine")
    assert cli.held(work, "production") == [(2, 100)]
    cli.run(work, "rollback", "clf", "production", "--to", "v1")
    assert cli.held(work, "production") == [(1, 100)]


def test_rollback_says_why_there_is_nothing_to_put_back(
    cli: Cli, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert error_lines(cli.refused(work, "rollback", "clf", "dev")) == [
        "gitmodel: error: dev of clf has never held a version",
        "hint: promote one: git model promote clf@VERSION dev",
    ]
    cli.run(work, "promote", "clf@v1", "dev")
    assert error_lines(cli.refused(work, "rollback", "clf", "dev")) == [
        "gitmodel: error: dev of clf held nothing before v1",
        "hint: empty it with git model unassign clf dev, or assign another version with "
        "git model promote clf@VERSION dev",
    ]
    monkeypatch.setattr(stages, "PAST_LIMIT", 2)
    for version in ("v2", "v3", "v1"):
        cli.run(work, "promote", f"clf@{version}", "dev")
    cli.run(work, "rollback", "clf", "dev")
    cli.run(work, "rollback", "clf", "dev")
    assert cli.held(work, "dev") == [(2, 100)]  # v1 before it is no longer kept
    assert error_lines(cli.refused(work, "rollback", "clf", "dev")) == [
        "gitmodel: error: dev of clf held older assignments than rollback keeps (the last 2)",
        "hint: name one it held: git model rollback clf dev --to VERSION; "
        "see `git model history clf --stage dev`",
    ]


STAGES = 'hint: its stages are dev, staging, production ("stages" in .gitmodel-registry.json)'


@pytest.mark.parametrize(
    ("args", "lines"),
    [
        (("resolve", "clf@prod"), ["gitmodel: error: clf has no stage 'prod'", STAGES]),
        (("deploy", "clf@prod", "out"), ["gitmodel: error: clf has no stage 'prod'", STAGES]),
        (("history", "clf", "--stage", "prod"), ["gitmodel: error: clf has no stage 'prod'",
                                                 STAGES]),
        (("resolve", "nope@production"), ["gitmodel: error: no model named 'nope' (declared: clf)",
                                          "hint: declare it with `git model register NAME PATH…`"]),
        (("history", "nope", "--stage", "prod"),
         ["gitmodel: error: no model named 'nope' and no event of it",
          "hint: see `git model stages` for the models with events"]),
        (("audit", "nope"), ["gitmodel: error: no model named 'nope': not declared (declared: "
                             "clf) and no stage change of it in the registry log",
                             "hint: see `git model stages` for the models with stages"]),
        (("register", "--", "--force", "models/clf"),
         ["gitmodel: error: invalid model name '--force'",
          "hint: a model name starts with a letter or digit, then letters, digits, '.', '_' or "
          "'-', 100 characters at most"]),
    ],
)  # fmt: skip
def test_a_typo_of_a_model_or_stage_names_what_is_declared(
    cli: Cli, shared: Path, args: tuple[str, ...], lines: list[str]
) -> None:
    assert error_lines(cli.refused(shared, *args)) == lines


def test_request_messages(cli: Cli, work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    request_id = cli.run(work, "request", "clf@v2", "staging", "-m", "please")[1].strip()
    assert error_lines(cli.refused(work, "approve", request_id, "-m", "mine")) == [
        f"gitmodel: error: you opened request {request_id}; an approval must come from someone "
        "else",
        f"hint: ask a reviewer to run: git model approve {request_id} -m WHY",
    ]
    assert error_lines(cli.refused(work, "approve", request_id[:3], "-m", "x")) == [
        f"gitmodel: error: invalid request id '{request_id[:3]}': it is shorter than 4 digits; "
        "give at least 4 of its 12",
        "hint: request ids are 12 hex digits, e.g. 3f9a2c1d0b7e; see `git model requests`",
    ]
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "reviewer@example.com")
    cli.run(work, "reject", request_id[:6], "-m", "not yet")
    listing = cli.run(work, "requests")[1]
    assert "    rejected  by Test Author <reviewer@example.com>" in listing


def test_stage_change_messages_are_capped_as_request_messages_are(cli: Cli, work: Path) -> None:
    cli.run(work, "promote", "clf@v1", "dev")
    tip = git_out("rev-parse", REF, cwd=work)
    too_long = "x" * 4001
    for args in (("promote", "clf@v2", "dev"), ("rollback", "clf", "dev"),
                 ("unassign", "clf", "dev"), ("request", "clf@v2", "staging")):  # fmt: skip
        verb = args[0]
        assert error_lines(cli.refused(work, *args, "-m", too_long)) == [
            f"gitmodel: error: the {verb} message is 4,001 characters, longer than the 4,000 "
            "a record keeps",
            "hint: keep it short and link to the details",
        ], args
    assert git_out("rev-parse", REF, cwd=work) == tip  # nothing recorded
    cli.run(work, "promote", "clf@v2", "dev", "-m", "y" * 4000)  # the limit itself is fine
    assert cli.json(work, "history", "clf")[0]["message"] == "y" * 4000


def test_an_older_over_long_message_shows_cut_and_inert(
    cli: Cli, work: Path, tmp_path: Path
) -> None:
    """A record written before the limit (or by hand: logs are committed files) still
    reads, and every output shows its message bounded and escaped."""
    cli.run(work, "promote", "clf@v1", "dev")
    record = json.loads(git_out("show", f"{REF}:record.json", cwd=work))
    record["message"] = "\x1b]0;owned\x07<script>" + "z" * 100_000
    append_raw(work, record, stages.reduce(tip_state(work), record))
    line = cli.run(work, "history", "clf")[1].splitlines()[0]
    assert "\x1b" not in line and "\x07" not in line and len(line) < 400
    assert line.endswith('"]0;owned <script>' + "z" * 182 + '…"')  # 200 characters
    shown = cli.json(work, "history", "clf")[0]["message"]
    assert len(shown) == 4000 and shown.endswith("z…")
    audit = cli.json(work, "audit", "clf")
    assert max(len(change["message"]) for change in audit["changes"]) == 4000
    page = tmp_path / "audit.html"
    _, text, _ = cli.run(work, "audit", "clf", "--html", str(page), check=False)
    assert "\x1b" not in text and max(map(len, text.splitlines())) < 1000
    html = page.read_text()
    assert len(html) < 20_000 and "<script>" not in html and "&lt;script&gt;" in html
