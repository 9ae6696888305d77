"""Lineage: provenance at commit time, annotations, upstream/downstream graphs, log, show."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import SCRIPTS_DIR, git_model, git_out, run_git

from gitmodel import git
from gitmodel.installation import filter_config
from gitmodel.lineage import graph, history, store
from gitmodel.specs import parse_path_spec

Scenario = dict[str, str]  # version name → oid


def sha(repo: Path, path: str, rev: str = "HEAD") -> str:
    blob = git_out("cat-file", "blob", f"{rev}:{path}", cwd=repo)
    return blob.split("oid sha256:")[1].split()[0]


def write(repo: Path, *files: tuple[str, int]) -> None:
    """Write random files of these sizes and stage them (one ``git add``)."""
    for path, size in files:
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_bytes(os.urandom(size))
    run_git("add", *(path for path, _ in files), cwd=repo)


def install_filter() -> None:
    """What ``git model install`` puts in the global config, without starting Python."""
    for key, value in filter_config(skip_smudge=False).items():
        run_git("config", "--global", key, value, cwd=Path.home())


def model_json(repo: Path, *args: str) -> dict[str, object]:
    return json.loads(git_model(*args, "--json", cwd=repo).stdout)


IDENTITY = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Committer",
    "GIT_COMMITTER_EMAIL": "committer@example.com",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Scenario]:
    """The scenario, built once per module (copied for each test by ``work``)."""
    base = tmp_path_factory.mktemp("lineage")
    home = base / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    with pytest.MonkeyPatch.context() as env:
        for key, value in {**IDENTITY, "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1"}.items():
            env.setenv(key, value)
        if SCRIPTS_DIR not in os.environ["PATH"].split(os.pathsep):
            env.setenv("PATH", SCRIPTS_DIR + os.pathsep + os.environ["PATH"])
        repos = base / "repos"
        repos.mkdir()
        run_git("init", "-q", "--bare", "origin.git", cwd=repos)
        git_model("install", cwd=base)  # global: clones get the filter and, through it, hooks
        run_git("clone", "-q", "origin.git", "work", cwd=repos)
        work = repos / "work"
        git_model("track", "*.bin", cwd=work)
        run_git("add", ".gitattributes", cwd=work)
        run_git("commit", "-qm", "track", cwd=work)
        return repos, make_scenario(work)


@pytest.fixture
def work(built: tuple[Path, Scenario], tmp_path: Path) -> Path:
    """A private copy of the scenario's repository and its bare origin."""
    shutil.copytree(built[0], tmp_path / "repos", symlinks=True)
    repo = tmp_path / "repos" / "work"
    run_git("remote", "set-url", "origin", str(tmp_path / "repos" / "origin.git"), cwd=repo)
    install_filter()
    return repo


@pytest.fixture
def shared(built: tuple[Path, Scenario]) -> Path:
    """The scenario's repository itself, for tests that change nothing."""
    return built[0] / "work"


@pytest.fixture
def origin(work: Path) -> Path:
    return work.parent / "origin.git"


@pytest.fixture
def scenario(built: tuple[Path, Scenario]) -> Scenario:
    return built[1]


def make_scenario(work: Path) -> Scenario:
    """Three data set versions, four model versions: a fine-tune chain and a retrain."""
    v: Scenario = {}
    write(work, ("data/train.bin", 3000))
    run_git("commit", "-qm", "data v1", cwd=work)
    v["D1"] = sha(work, "data/train.bin")
    write(work, ("model.bin", 5000))
    git_model("commit", "-m", "M1: train", "--data", "data/train.bin", "--param", "lr=0.1",
              cwd=work)  # fmt: skip
    v["M1"] = sha(work, "model.bin")
    write(work, ("data/finetune.bin", 2000), ("model.bin", 5001))
    git_model("commit", "-m", "M2: fine-tune", "--base", "model.bin", "--data",
              "data/finetune.bin", "--param", "epochs=1", cwd=work)  # fmt: skip
    v["D2"], v["M2"] = sha(work, "data/finetune.bin"), sha(work, "model.bin")
    write(work, ("model.bin", 5002))
    git_model("commit", "-m", "M3: fine-tune more", "--base", "model.bin@HEAD", "--data",
              "data/finetune.bin", "--param", "epochs=2", cwd=work)  # fmt: skip
    v["M3"] = sha(work, "model.bin")
    write(work, ("data/train.bin", 3001), ("model.bin", 5003))
    git_model("commit", "-m", "M4: retrain on new data", "--data", "data/train.bin", cwd=work)
    v["D3"], v["M4"] = sha(work, "data/train.bin"), sha(work, "model.bin")
    return v


def edges(graph: dict[str, object], names: dict[str, str]) -> set[tuple[str, str, str]]:
    return {(names[e["from"]], names[e["to"]], e["role"]) for e in graph["edges"]}  # type: ignore[index, attr-defined]


def lineage_of(repo: Path, spec: str, *flags: str) -> dict[str, object]:
    return model_json(repo, "lineage", spec, *flags)


def graph_of(path: Path, spec: str, downstream: str = "") -> dict[str, object]:
    """The ``lineage --json`` object, computed in-process (the CLI is tested elsewhere)."""
    repo = git.Repo.discover(path)
    parsed = parse_path_spec(
        spec, exists=lambda p: (path / p).exists(), is_rev=lambda r: repo.commit_of(r) is not None
    )
    version = history.version_at(repo, parsed.path, repo.rev_parse(parsed.rev or "HEAD"))
    return graph.build(store.state(repo), version, downstream=bool(downstream)).to_json()


def check_scenario(repo: Path, v: Scenario) -> None:
    names = {oid: name for name, oid in v.items()}
    lineage_of = graph_of
    up_m3 = lineage_of(repo, "model.bin@HEAD~1")
    assert {names[n["oid"]] for n in up_m3["nodes"]} == {"M3", "M2", "M1", "D1", "D2"}  # type: ignore[attr-defined, index]
    assert edges(up_m3, names) == {
        ("M2", "M3", "base"), ("D2", "M3", "data"), ("M1", "M2", "base"),
        ("D2", "M2", "data"), ("D1", "M1", "data"),
    }  # fmt: skip
    up_m4 = lineage_of(repo, "model.bin")
    assert edges(up_m4, names) == {("D3", "M4", "data")}
    down_d1 = lineage_of(repo, "data/train.bin@HEAD~1", "--downstream")
    assert edges(down_d1, names) == {
        ("D1", "M1", "data"), ("M1", "M2", "base"), ("M2", "M3", "base")
    }  # fmt: skip
    down_d2 = lineage_of(repo, "data/finetune.bin", "--downstream")
    assert edges(down_d2, names) == {
        ("D2", "M2", "data"), ("D2", "M3", "data"), ("M2", "M3", "base")
    }  # fmt: skip
    assert edges(lineage_of(repo, "data/train.bin", "--downstream"), names) == {
        ("D3", "M4", "data")
    }  # fmt: skip
    kinds = {names[n["oid"]]: n["kind"] for n in up_m3["nodes"]}  # type: ignore[attr-defined, index]
    assert kinds == {"M3": "model", "M2": "model", "M1": "model", "D1": "data", "D2": "data"}


def test_scenario_lineage_is_exact_and_survives_push_and_clone(
    scenario: Scenario, work: Path, origin: Path, tmp_path: Path
) -> None:
    check_scenario(work, scenario)
    run_git("push", "-q", "origin", "main", cwd=work)  # the pre-push hook pushes the log
    clone = tmp_path / "clone"
    run_git("clone", "-q", str(origin), str(clone), cwd=tmp_path)  # post-checkout fetches it
    check_scenario(clone, scenario)
    for spec in ("model.bin@HEAD~1", "data/finetune.bin"):
        for flags in ((), ("--downstream",)):
            assert graph_of(clone, spec, *flags) == graph_of(work, spec, *flags)


def test_text_tree_mermaid_and_dot(scenario: Scenario, shared: Path) -> None:
    v = scenario
    text = git_model("lineage", "model.bin@HEAD~1", cwd=shared).stdout.decode()
    lines = text.splitlines()
    assert lines[0].startswith(f"model.bin {v['M3'][:10]} ")
    assert any(line.startswith("├── base: model.bin " + v["M2"][:10]) for line in lines)
    assert any("data: data/train.bin " + v["D1"][:10] in line for line in lines)
    assert sum("(see above)" in line for line in lines) == 1  # D2 feeds M2 and M3
    mermaid = git_model("lineage", "model.bin", "--format", "mermaid", cwd=shared).stdout.decode()
    assert mermaid.splitlines()[0] == "flowchart LR"
    assert f"n{v['D3'][:16]} -->|data| n{v['M4'][:16]}" in mermaid
    dot = git_model("lineage", "model.bin", "--format", "dot", cwd=shared).stdout.decode()
    assert f'"{v["D3"]}" -> "{v["M4"]}" [label="data"];' in dot
    assert dot.startswith("digraph lineage {") and dot.rstrip().endswith("}")
    root = git_model("lineage", "data/train.bin@HEAD~4", cwd=shared).stdout.decode()
    assert "(no recorded inputs)" in root


def test_provenance_record_contents(scenario: Scenario, shared: Path) -> None:
    produced = store.state(git.Repo.discover(shared))["produced"]
    (m2,) = produced[scenario["M2"]]
    assert m2["commit"] == git_out("rev-parse", "HEAD~2", cwd=shared).strip()
    assert m2["tree"] == git_out("rev-parse", "HEAD~2^{tree}", cwd=shared).strip()
    assert m2["params"] == {"epochs": "1"}
    assert m2["output"] == {"path": "model.bin", "oid": scenario["M2"], "size": 5001,
                            "commit": m2["commit"]}  # fmt: skip
    base = next(i for i in m2["inputs"] if i["role"] == "base")
    assert base["commit"] == git_out("rev-parse", "HEAD~3", cwd=shared).strip()  # the parent
    assert m2["by"] == "Test Author <author@example.com>"
    (m4,) = produced[scenario["M4"]]
    assert [o["path"] for o in [m4["output"]]] == ["model.bin"]  # train.bin is an input


def test_metrics_annotated_later_in_show_and_json(scenario: Scenario, work: Path) -> None:
    git_model("annotate", "model.bin@HEAD~1", "--metric", "accuracy=0.91",
              "--metric", "split=test", "--note", "approved by QA", cwd=work)  # fmt: skip
    git_model("annotate", "model.bin@HEAD~1", "--metric", "accuracy=0.93", cwd=work)
    card = model_json(work, "show", "model.bin@HEAD~1")
    assert card["metrics"] == {"accuracy": 0.93, "split": "test"}
    assert card["oid"] == scenario["M3"]
    assert card["previous"]["oid"] == scenario["M2"]  # type: ignore[index]
    assert card["committed"]["message"] == "M3: fine-tune more"  # type: ignore[index]
    assert [a["note"] for a in card["annotations"] if "note" in a] == ["approved by QA"]  # type: ignore[attr-defined]
    assert card["provenance"][0]["params"] == {"epochs": "2"}  # type: ignore[index]
    text = git_model("show", "model.bin@HEAD~1", cwd=work).stdout.decode()
    assert "  metric    accuracy = 0.93" in text and "  note      approved by QA" in text
    assert f"    base  model.bin {scenario['M2'][:10]}" in text
    graph = lineage_of(work, "model.bin")
    assert graph["nodes"][0]["metrics"] == {}  # type: ignore[index]
    up = lineage_of(work, "model.bin@HEAD~1")
    assert up["nodes"][0]["metrics"] == {"accuracy": 0.93, "split": "test"}  # type: ignore[index]
    repo = git.Repo.discover(work)
    assert store.metrics(repo, "model.bin", "HEAD~1") == {"accuracy": 0.93, "split": "test"}
    assert store.metrics(repo, "model.bin") == {}


def test_annotations_are_shared_by_push_and_fetch(
    scenario: Scenario, work: Path, origin: Path, tmp_path: Path
) -> None:
    run_git("push", "-q", "origin", "main", cwd=work)
    other = tmp_path / "other"
    run_git("clone", "-q", str(origin), str(other), cwd=tmp_path)
    git_model("annotate", "model.bin", "--metric", "f1=0.5", cwd=other)
    git_model("annotate", "model.bin", "--metric", "auc=0.7", cwd=work)
    git_model("push", "-q", cwd=other)
    git_model("push", "-q", cwd=work)  # the remote moved on: fetched, replayed, pushed
    git_model("fetch", "-q", cwd=other)
    for repo in (work, other):
        assert model_json(repo, "show", "model.bin")["metrics"] == {"f1": 0.5, "auc": 0.7}


def test_log_lists_versions_through_a_rename(scenario: Scenario, work: Path) -> None:
    run_git("mv", "model.bin", "final.bin", cwd=work)
    run_git("commit", "-qm", "rename", cwd=work)
    write(work, ("final.bin", 100))
    run_git("commit", "-qm", "M5", cwd=work)
    out = model_json(work, "log", "final.bin")
    found = [(v["path"], v["oid"], v["message"]) for v in out["versions"]]  # type: ignore[attr-defined]
    assert [f[2] for f in found] == ["M5", "M4: retrain on new data", "M3: fine-tune more",
                                     "M2: fine-tune", "M1: train"]  # fmt: skip
    assert [f[1] for f in found[1:]] == [scenario[n] for n in ("M4", "M3", "M2", "M1")]
    assert {f[0] for f in found[1:]} == {"model.bin"}
    first = out["versions"][-1]  # type: ignore[index]
    assert first["size"] == 5000 and first["author"] == "Test Author"
    assert (
        first["date"][:4].isdigit()
        and first["commit"] == git_out("rev-parse", "HEAD~5", cwd=work).strip()
    )
    text = git_model("log", "final.bin@HEAD~1", cwd=work).stdout.decode().splitlines()
    assert len(text) == 4 and text[0].split()[2] == scenario["M4"][:10]


def test_html_page_draws_every_node_in_chromium(
    scenario: Scenario, shared: Path, tmp_path: Path
) -> None:
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip("chromium is not installed (.ci/run installs it)")
    page = tmp_path / "lineage.html"
    git_model("lineage", "model.bin@HEAD~1", "--html", str(page), cwd=shared)
    source = page.read_text()
    assert "http://" not in source.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in source
    proc = subprocess.run(
        [str(chromium), "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp_path / 'chrome-profile'}",
         page.as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    dom = proc.stdout.decode()
    drawn = {
        scenario[n] for n in ("M3", "M2", "M1", "D1", "D2") if f'data-oid="{scenario[n]}"' in dom
    }
    assert len(drawn) == 5
    assert dom.count('class="edge-group"') == 5
    assert 'data-drawn="5"' in dom
    assert "upstream lineage of model.bin" in dom


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "nothere.bin"], "nothere.bin is not in HEAD"),
        (["log", "nothere.bin"], "no version of a model file nothere.bin in HEAD"),
        (["show", ".gitattributes"], ".gitattributes in HEAD is not a model file"),
        (["show", "model.bin@nope"], "model.bin@nope is not in HEAD"),  # no rev: a path
        (["show", "../outside.bin"], "is outside the repository"),
        (["show", "data"], "data is a folder in HEAD, not a model file"),  # not "deleted"
        (["show", "data@HEAD~1"], "data is a folder in HEAD~1, not a model file"),
        (["lineage", "data@HEAD~5"], "data is not in HEAD~5"),  # no folder there yet
        (["record", "HEAD", "--output", "data"], "data is a folder in this commit, not a model"),
        (["record", "HEAD", "--data", "../data"], "'../data' is outside the repository"),
        (["annotate", "model.bin"], "nothing to annotate"),
        (["annotate", "model.bin", "--metric", "novalue"], "bad metric 'novalue'"),
        (["record", "HEAD", "--param", "=1"], "bad param '=1'"),
        (["commit", "-m", "x", "--data", "data/train.bin"], "no model file changed"),
        (["commit", "--data", "data/train.bin"], "a commit message is required"),
        (["record", "HEAD", "--output", "nothere.bin"], "nothere.bin is not a model file"),
        # bytes that are not UTF-8 (a Latin-1 terminal): named, not called a damaged log
        (["annotate", "model.bin", "--note", os.fsdecode(b"caf\xe9")],
         "cannot write to the lineage log: the field note is not UTF-8 text"),
        (["annotate", "model.bin", "--metric", os.fsdecode(b"k=\xff")],
         "cannot write to the lineage log: the field metrics.k is not UTF-8 text"),
        (["annotate", "model.bin", "--metric", os.fsdecode(b"k\xff=1")],
         "the name of the field metrics.k\\udcff is not UTF-8 text"),
        (["record", "HEAD", "--param", os.fsdecode(b"lr=\xff")],
         "cannot write to the lineage log: the field params.lr is not UTF-8 text"),
    ],
)  # fmt: skip
def test_bad_input_is_a_one_line_error(
    scenario: Scenario, shared: Path, args: list[str], message: str
) -> None:
    refs = git_out("rev-parse", "HEAD", "refs/gitmodel/lineage", cwd=shared)
    proc = git_model(*args, cwd=shared, check=False)
    assert proc.returncode == 1
    lines = proc.stderr.decode().splitlines()
    assert message in lines[0] and lines[0].startswith("gitmodel: error: ")
    assert lines[1].startswith("hint: ")
    # no commit made, nothing recorded
    assert git_out("rev-parse", "HEAD", "refs/gitmodel/lineage", cwd=shared) == refs


def test_a_path_not_there_hints_at_the_model_files_of_that_revision(shared: Path) -> None:
    err = git_model("lineage", "data/nope.bin@HEAD~1", cwd=shared, check=False).stderr.decode()
    assert "hint: `git model ls-files HEAD~1` lists its model files" in err
    err = git_model("log", "nope.bin@HEAD~1", cwd=shared, check=False).stderr.decode()
    assert "hint: check the path; `git model ls-files HEAD~1` lists model files" in err


def test_show_finds_a_deleted_file_in_history(scenario: Scenario, work: Path) -> None:
    run_git("rm", "-q", "data/train.bin", cwd=work)
    run_git("commit", "-qm", "drop the data set", cwd=work)
    proc = git_model("show", "data/train.bin", "--json", cwd=work)
    assert json.loads(proc.stdout)["oid"] == scenario["D3"]
    assert b"data/train.bin is not in HEAD; its last version is from commit " in proc.stderr
    err = git_model("show", "data/train.bin@HEAD", cwd=work, check=False).stderr.decode()
    assert "error: data/train.bin is not in HEAD" in err  # a revision named: that revision


def test_commit_checks_inputs_before_committing(work: Path) -> None:
    tip = git_out("rev-parse", "refs/gitmodel/lineage", cwd=work)
    write(work, ("model.bin", 100))
    proc = git_model("commit", "-m", "m", "--data", "data/missing.bin", cwd=work, check=False)
    assert proc.returncode == 1
    assert "data/missing.bin is not a model file in this commit" in proc.stderr.decode()
    assert git_out("log", "-1", "--format=%s", cwd=work).strip() == "M4: retrain on new data"
    assert git_out("rev-parse", "refs/gitmodel/lineage", cwd=work) == tip


def test_record_for_an_existing_commit(work: Path) -> None:
    write(work, ("data/a.bin", 100), ("model.bin", 200))
    run_git("commit", "-qm", "plain commit", cwd=work)
    git_model("record", "HEAD", "--data", "data/a.bin", "--output", "model.bin", cwd=work)
    graph = lineage_of(work, "model.bin")
    assert [(e["role"], e["from"]) for e in graph["edges"]] == [("data", sha(work, "data/a.bin"))]  # type: ignore[attr-defined]


def test_concurrent_annotations_are_all_kept_or_refused_with_a_hint(work: Path) -> None:
    procs = [
        subprocess.Popen(["git-model", "annotate", "model.bin", "--metric", f"m{n}={n}"],
                         cwd=work, stderr=subprocess.PIPE)
        for n in range(4)
    ]  # fmt: skip
    kept = {}
    for n, proc in enumerate(procs):
        _, err = proc.communicate(timeout=60)
        if proc.returncode == 0:
            kept[f"m{n}"] = n
        else:
            assert b"hint: nothing was written; run the command again" in err
    assert kept
    assert model_json(work, "show", "model.bin")["metrics"] == kept


def commit_lineage_by_hand(repo: Path, produced: dict[str, list[dict[str, object]]]) -> None:
    """Put a lineage state on ``refs/gitmodel/lineage`` with plain Git, as anyone could."""
    state = json.dumps({"records": 1, "produced": produced}).encode()
    record = json.dumps({"type": "note"}).encode()
    blobs = [run_git("hash-object", "-w", "--stdin", cwd=repo, input=data).stdout.decode()
             for data in (record, state)]  # fmt: skip
    listing = (
        f"100644 blob {blobs[0].strip()}\trecord.json\n100644 blob {blobs[1].strip()}\tstate.json\n"
    )
    tree = run_git("mktree", cwd=repo, input=listing.encode()).stdout.decode().strip()
    commit = git_out("commit-tree", "-m", "by hand", tree, cwd=repo).strip()
    run_git("update-ref", "refs/gitmodel/lineage", commit, cwd=repo)


def test_a_deep_chain_and_a_cycle_committed_by_hand_are_shown(work: Path) -> None:
    """A model fine-tuned 1,100 times in a row is deeper than Python's recursion limit,
    and a cycle (A made from B made from A) can only come from a hand-made record."""
    head, root = git_out("rev-parse", "HEAD", cwd=work).strip(), sha(work, "model.bin")
    chain = [root] + [f"{n:064x}" for n in range(1, 1101)]
    chain.append(root)  # the oldest version is "made from" the newest: a cycle

    def made(output: str, source: str) -> dict[str, object]:
        version = {"path": "model.bin", "size": 1, "commit": head}
        return {"commit": head, "params": {}, "output": {**version, "oid": output},
                "inputs": [{**version, "oid": source, "role": "base"}]}  # fmt: skip

    commit_lineage_by_hand(work, {a: [made(a, b)] for a, b in itertools.pairwise(chain)})
    proc = git_model("lineage", "model.bin", cwd=work)
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 1102 and lines[-1].endswith("(see above)"), proc.stderr
    assert lines[1100].lstrip(" └─").startswith(f"base: model.bin {chain[1100][:10]}")
    down = git_model("lineage", "model.bin", "--downstream", cwd=work).stdout.decode()
    assert len(down.splitlines()) == 1102


def test_hostile_text_in_a_record_committed_by_hand_is_shown_inert(work: Path) -> None:
    head, root = git_out("rev-parse", "HEAD", cwd=work).strip(), sha(work, "model.bin")
    version = {"size": 1, "commit": head}
    made = {"commit": head, "params": {"k\x1b[31m": "v\x1b]0;title\x07"},
            "output": {**version, "path": "model.bin", "oid": root},
            "inputs": [{**version, "path": "d\x1b[2J.bin", "oid": "1" * 64,
                        "role": 'x"|<img src=x onerror=alert(1)>'}]}  # fmt: skip
    commit_lineage_by_hand(work, {root: [made]})
    out = b"".join(git_model(*args, cwd=work).stdout for args in (
        ["lineage", "model.bin"], ["lineage", "model.bin", "--format", "mermaid"],
        ["show", "model.bin"],
    ))  # fmt: skip
    assert b"\x1b" not in out and b"\x07" not in out
    assert b"d?[2J.bin" in out and b"k?[31m=v?]0;title?" in out
    assert b"-->|x#quot;#124;#lt;img src=x onerror=alert(1)#gt;| n" in out


def folder_node(graph: dict[str, object], path: str) -> dict[str, object]:
    [node] = [n for n in graph["nodes"] if n["path"] == path]  # type: ignore[attr-defined]
    return node  # type: ignore[no-any-return]


def test_a_folder_is_one_input_its_digest_fixed_by_its_files(work: Path) -> None:
    write(work, ("data/set/a.bin", 100), ("data/set/deep/b.bin", 200))
    (work / "data" / "set" / "labels.csv").write_text("a,1\n")  # a plain Git file counts too
    run_git("add", "data/set", cwd=work)
    run_git("commit", "-qm", "data set v1", cwd=work)
    write(work, ("model.bin", 300))
    proc = git_model("commit", "-m", "v1", "--data", "data/set/", "--param", "lr=1", cwd=work)
    first = folder_node(lineage_of(work, "model.bin"), "data/set")
    assert (first["files"], first["size"], first["kind"]) == (3, 304, "data")
    assert f"data data/set/ {str(first['oid'])[:10]}" in proc.stderr.decode()
    tree = git_out("model", "lineage", "model.bin", cwd=work)
    assert f"└── data: data/set/ {str(first['oid'])[:10]} (3 files, 304 B, commit " in tree
    down = git_out("model", "lineage", "data/set", "--downstream", cwd=work)
    assert down.startswith(f"data/set/ {str(first['oid'])[:10]} (3 files") and "model.bin" in down
    # the same files at the same paths, read from another commit: the same version
    write(work, ("model.bin", 301))
    git_model("commit", "-m", "v2", "--data", "data/set", cwd=work)
    assert folder_node(lineage_of(work, "model.bin"), "data/set")["oid"] == first["oid"]
    # one file changed: another version of the folder
    write(work, ("data/set/deep/b.bin", 200), ("model.bin", 302))
    git_model("commit", "-m", "v3", "--data", "data/set", cwd=work)
    changed = folder_node(lineage_of(work, "model.bin"), "data/set")
    assert changed["oid"] != first["oid"] and changed["files"] == 3
    record = json.loads(git_out("cat-file", "blob", "refs/gitmodel/lineage:record.json", cwd=work))
    [item] = record["inputs"]
    assert (item["path"], item["oid"], item["files"]) == ("data/set", changed["oid"], 3)


def test_a_folder_input_must_be_what_the_worktree_holds(work: Path) -> None:
    write(work, ("data/set/a.bin", 100), ("data/set/b.bin", 100))
    run_git("commit", "-qm", "data set", cwd=work)
    tip = git_out("rev-parse", "refs/gitmodel/lineage", cwd=work)
    write(work, ("model.bin", 300))
    (work / "data" / "set" / "c.bin").write_bytes(b"not added")
    err = git_model("commit", "-m", "m", "--data", "data/set", cwd=work, check=False).stderr
    assert b"error: data/set/c.bin is untracked: the worktree's data/set is not" in err, err
    assert b"hint: add and commit it first (`git add -- data/set`)" in err, err
    (work / "data" / "set" / "c.bin").unlink()
    (work / "data" / "set" / "a.bin").write_bytes(b"edited, not added")
    for data in ("data/set", "data/set/a.bin"):  # a file as a folder: as the worktree holds it
        proc = git_model("commit", "-m", "m", "--data", data, cwd=work, check=False)
        assert b"error: data/set/a.bin has changes not staged: " in proc.stderr, proc.stderr
    run_git("add", "data/set/a.bin", cwd=work)
    run_git("commit", "-qm", "model, data edited", cwd=work)  # HEAD: what the worktree holds
    run_git("rm", "-q", "--cached", "data/set/b.bin", cwd=work)
    err = git_model("record", "HEAD", "--data", "data/set", "--output", "model.bin",
                    cwd=work, check=False).stderr.decode()  # fmt: skip
    assert "error: data/set/b.bin has changes not committed: " in err, err
    run_git("reset", "-q", cwd=work)
    assert git_out("rev-parse", "refs/gitmodel/lineage", cwd=work) == tip  # nothing recorded
    # an older commit, or a version named by @REV, is read from Git alone
    git_model("record", "HEAD", "--data", "data/set", "--output", "model.bin", cwd=work)
    (work / "data" / "set" / "new.bin").write_bytes(b"untracked")
    git_model("record", "HEAD", "--data", "data/set@HEAD", "--output", "model.bin", cwd=work)


@pytest.mark.parametrize(
    ("target", "message"),
    [("outside", "data/link leads outside the repository through a symlink"),
     ("inside", "data/link is not a model file in this commit")],
)  # fmt: skip
def test_a_folder_through_a_symlink_is_refused(
    work: Path, tmp_path: Path, target: str, message: str
) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "x.bin").write_bytes(b"x")
    write(work, ("data/set/a.bin", 10))
    link = tmp_path / "outside" if target == "outside" else Path("set")
    (work / "data" / "link").symlink_to(link)
    run_git("add", "data/link", cwd=work)
    run_git("commit", "-qm", "a link", cwd=work)
    proc = git_model("record", "HEAD", "--data", "data/link", "--output", "data/set/a.bin",
                     cwd=work, check=False)  # fmt: skip
    assert proc.returncode == 1 and message in proc.stderr.decode(), proc.stderr.decode()
    assert "hint: " in proc.stderr.decode()


@pytest.mark.parametrize(
    "item",
    [{"files": 0}, {"files": "3"}, {"files": True}, {"files": 2, "path": "../../etc"},
     {"files": 2, "path": "/etc"}, {"files": 2, "path": "data/../.."}],
)  # fmt: skip
def test_a_folder_input_committed_by_hand_is_checked_on_read(item: dict[str, object]) -> None:
    good = {"role": "data", "path": "data/set", "oid": "a" * 64, "size": 3, "commit": "c" * 40}
    record = {"type": "provenance", "commit": "c" * 40, "outputs": [], "inputs": [good]}
    store.check_record({**record, "inputs": [{**good, "files": 2}]})  # sound
    with pytest.raises(ValueError, match="folder input"):
        store.check_record({**record, "inputs": [{**good, **item}]})
