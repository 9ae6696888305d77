"""``git model review``: the impact report of a fine-tune against what production holds,
as text, JSON, Markdown and an HTML page rendered in headless Chromium."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import SCRIPTS_DIR, git_model, git_out, run_git
from helpers.model_files import write_safetensors

from gitmodel.store.chunking import Chunker, ChunkLists

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("GITMODEL_TEST_ARTIFACTS", Path(__file__).parent / ".artifacts"))
REGISTRY = {"models": {"clf": {
    "paths": ["model"],
    "policy": {"production": {"metrics": {"accuracy": ">= 0.9", "loss": "< 0.45"}}},
}}}  # fmt: skip


def weights(seed: int, tune: float = 0.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    found = {f"layer{i}.weight": rng.standard_normal((64, 64)).astype(np.float32)
             for i in range(4)}  # fmt: skip
    if tune:
        found["layer2.weight"] += np.float32(tune) * rng.standard_normal((64, 64)).astype(
            np.float32
        )
    return found


def make_scenario(work: Path) -> None:
    """v1 trained on data v1; v2 fine-tuned from v1 on data v2 (one tensor moved, a file
    added, the learning rate changed); metrics on each; production holds v1."""
    git_model("track", "*.safetensors", "*.bin", cwd=work)
    (work / ".gitmodel-registry.json").write_text(json.dumps(REGISTRY))
    data = os.urandom(200_000)
    (work / "data").mkdir()
    (work / "data" / "train.bin").write_bytes(data)
    (work / "model").mkdir()
    write_safetensors(work / "model" / "clf.safetensors", weights(1))
    (work / "model" / "config.json").write_text('{"layers": 4}\n')
    (work / "src").mkdir()
    (work / "src" / "train.py").write_text("print('train')\n")
    run_git("add", ".", cwd=work)
    git_model("commit", "-m", "clf v1: train", "--data", "data/train.bin", "--param", "lr=1e-3",
              "--param", "epochs=3", cwd=work)  # fmt: skip
    git_model("annotate", "model/clf.safetensors", "--metric", "accuracy=0.88",
              "--metric", "loss=0.5", cwd=work)  # fmt: skip
    (work / "data" / "train.bin").write_bytes(data[:150_000] + os.urandom(80_000))
    write_safetensors(work / "model" / "clf.safetensors", weights(1, tune=0.01))
    (work / "model" / "tokenizer.json").write_text('{"vocab": 100}\n')
    (work / "src" / "train.py").write_text("print('fine-tune')\n")
    run_git("add", ".", cwd=work)
    git_model("commit", "-m", "clf v2: fine-tune on March data", "--base",
              "model/clf.safetensors", "--data", "data/train.bin", "--param", "lr=3e-5",
              "--param", "epochs=3", cwd=work)  # fmt: skip
    git_model("annotate", "model/clf.safetensors", "--metric", "accuracy=0.93",
              "--metric", "loss=0.41", cwd=work)  # fmt: skip
    git_model("promote", "clf@v1", "production", "--force", "-m", "baseline", cwd=work)
    run_git("init", "-q", "--bare", "../origin.git", cwd=work)
    run_git("remote", "add", "origin", "../origin.git", cwd=work)
    run_git("push", "-q", "origin", "main", cwd=work)  # chunk lists: how much data changed


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("review")
    home = base / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HOME", str(home))
        env.setenv("GIT_CONFIG_NOSYSTEM", "1")
        for who in ("AUTHOR", "COMMITTER"):
            env.setenv(f"GIT_{who}_NAME", "Test Author")
            env.setenv(f"GIT_{who}_EMAIL", "author@example.com")
        if SCRIPTS_DIR not in os.environ["PATH"].split(os.pathsep):
            env.setenv("PATH", SCRIPTS_DIR + os.pathsep + os.environ["PATH"])
        work = base / "work"
        work.mkdir()
        run_git("init", "-q", cwd=work)
        git_model("install", "--local", cwd=work)
        make_scenario(work)
    return work


@pytest.fixture
def work(built: Path, tmp_path: Path) -> Path:
    shutil.copytree(built, tmp_path / "work", symlinks=True)
    return tmp_path / "work"


def review_json(work: Path, *args: str) -> dict[str, Any]:
    return json.loads(git_model("review", *args, "--json", cwd=work).stdout)  # type: ignore[no-any-return]


def test_markdown_of_a_fine_tune_names_tensors_metrics_and_the_data_set(work: Path) -> None:
    text = git_model("review", "clf@v2", "--against", "production", "--markdown",
                     cwd=work).stdout.decode()  # fmt: skip
    assert text.startswith("## Model review: clf v2 against production \\(v1\\)\n")
    assert "**Policy dry run for production:** ✅ passes" in text
    assert "| accuracy | 0.88 | 0.93 | \\+0.05 | \\>= 0.9 ✅ |" in text
    assert "| loss | 0.5 | 0.41 | \\-0.09 | &lt; 0.45 ✅ |" in text
    assert "1 tensor(s) changed, 0 added, 0 removed, 3 unchanged" in text
    assert "| layer2.weight | changed | F32 \\[64, 64\\] | 100.0% |" in text
    assert "layer1.weight" not in text
    assert "| data/train.bin | data | changed " in text
    assert "\\+29.3 KiB, " in text and "% new bytes |" in text  # chunk lists from the push
    assert "- parameter **lr**: 1e\\-3 → 3e\\-5" in text
    assert "epochs" not in text  # unchanged parameters are not listed
    assert "- code: 1 file(s) changed outside the model: src/train.py" in text
    assert "added: model/tokenizer.json" in text


def test_json_report(work: Path) -> None:
    found = review_json(work, "clf@v2", "--against", "production")
    assert found["schema"] == "gitmodel.review/1"
    assert (found["candidate"]["version"], found["baseline"]["version"]) == (2, 1)
    assert found["summary"]["files"] == {"added": 1, "removed": 0, "renamed": 0, "changed": 1,
                                         "unchanged": 1}  # fmt: skip
    assert found["summary"]["tensors"] == {"added": 0, "removed": 0, "changed": 1, "unchanged": 3}
    [weights_file] = [f for f in found["files"] if f["path"] == "model/clf.safetensors"]
    [change] = weights_file["diff"]["changed"]
    assert change["name"] == "layer2.weight" and 0 < change["relative_l2"] < 0.05
    metrics = {m["name"]: m for m in found["metrics"]}
    assert metrics["accuracy"]["delta"] == pytest.approx(0.05)
    assert metrics["accuracy"]["passes"] is True and metrics["loss"]["threshold"] == "loss < 0.45"
    [data] = [i for i in found["lineage"]["inputs"] if i["role"] == "data"]
    assert data["status"] == "changed" and data["size_delta"] == 30_000
    [base] = [i for i in found["lineage"]["inputs"] if i["role"] == "base"]
    assert base["status"] == "added"  # v1 was trained from scratch
    assert found["lineage"]["params"] == [{"name": "lr", "old": "1e-3", "new": "3e-5"}]
    assert found["policy"] == {"stage": "production", "passes": True, "failures": [],
                               "skipped": [], "request": None}  # fmt: skip
    assert [h["version"] for h in found["history"]] == ["v1", "v2"]


def cut_in_two(seed: int, size: int) -> bytes:
    """Random bytes that content-defined chunking cuts into two chunks or more."""
    rng = np.random.default_rng(seed)
    while len(Chunker().cut(memoryview(data := rng.bytes(size)), [])) < 2:
        pass
    return data


def test_a_small_data_file_is_one_chunk_keeps_no_list_and_shows_its_new_bytes(
    work: Path,
    tmp_path: Path,
) -> None:
    """A file of 64 KiB or less is stored as one chunk, even one that content-defined
    chunking would cut: half of it changed is all of it sent again, and the review
    says so."""
    old = cut_in_two(1, 60_000)
    new = old[:30_000] + cut_in_two(2, 30_000)
    for n, (data, tune) in enumerate([(old, 0.02), (new, 0.03)], start=3):
        (work / "data" / "small.bin").write_bytes(data)
        write_safetensors(work / "model" / "clf.safetensors", weights(1, tune=tune))
        run_git("add", ".", cwd=work)
        git_model("commit", "-m", f"clf v{n}", "--data", "data/small.bin", cwd=work)
    run_git("init", "-q", "--bare", str(tmp_path / "mine.git"), cwd=work)
    run_git("remote", "set-url", "origin", str(tmp_path / "mine.git"), cwd=work)
    run_git("push", "-q", "origin", "main", cwd=work)
    lists = ChunkLists(work / ".git" / "model")
    for data in (old, new):
        assert not lists.path(hashlib.sha256(data).hexdigest()).exists()
    found = review_json(work, "clf@v4", "--against", "v3")
    [data] = [i for i in found["lineage"]["inputs"] if i["path"] == "data/small.bin"]
    assert data["status"] == "changed"
    assert data["new_bytes"] == pytest.approx(1.0)


def test_a_folder_input_with_one_file_changed_shows_as_changed(work: Path) -> None:
    files = {"data/set/a.bin": os.urandom(1000), "data/set/b.bin": os.urandom(2000)}
    for n, tune in ((3, 0.02), (4, 0.03)):
        for path, data in files.items():
            (work / path).parent.mkdir(parents=True, exist_ok=True)
            (work / path).write_bytes(data)
        write_safetensors(work / "model" / "clf.safetensors", weights(1, tune=tune))
        run_git("add", ".", cwd=work)
        git_model("commit", "-m", f"clf v{n}", "--data", "data/set", cwd=work)
        files["data/set/b.bin"] = os.urandom(2100)
    found = review_json(work, "clf@v4", "--against", "v3")
    [data] = [i for i in found["lineage"]["inputs"] if i["path"] == "data/set"]
    assert (data["status"], data["size_delta"]) == ("changed", 100)
    assert data["old"]["oid"] != data["new"]["oid"]
    text = git_out("model", "review", "clf@v4", "--against", "v3", cwd=work)
    assert "data  data/set  changed " in text, text


def test_policy_dry_run_and_check(work: Path) -> None:
    proc = git_model("review", "clf@v1", "--stage", "production", "--check", cwd=work,
                     check=False)  # fmt: skip
    assert proc.returncode == 1
    out = proc.stdout.decode()
    assert "policy dry run for production: FAILS (2 rule(s))" in out
    assert "x accuracy >= 0.9: v1 has accuracy = 0.88" in out
    assert "review clf v1 against nothing (the first version)" in out
    assert "the production policy's dry run fails (2 rule(s))" in proc.stderr.decode()
    proc = git_model("review", "clf@v2", "--check", cwd=work, check=False)
    assert proc.returncode == 1 and "--check needs a stage" in proc.stderr.decode()
    for typo in ("prod", "v9"):  # a stage or a version, mistyped
        err = git_model("review", "clf@v2", "--against", typo, cwd=work, check=False).stderr
        assert f"error: clf has no stage, version or revision '{typo}'" in err.decode()
        assert "hint: name a stage (dev, staging, production), a version (v1..v2" in err.decode()


def test_a_candidate_that_is_not_a_version_yet(work: Path) -> None:
    """A pull request's head: reviewed against the latest version of the branch."""
    run_git("switch", "-qc", "tune", cwd=work)
    write_safetensors(work / "model" / "clf.safetensors", weights(1, tune=0.02))
    run_git("commit", "-qam", "tune more", cwd=work)
    head = git_out("rev-parse", "HEAD", cwd=work).strip()
    found = review_json(work, "clf@HEAD", "--stage", "production")
    assert found["candidate"]["label"] == f"HEAD ({head[:10]}, not yet a version)"
    assert found["baseline"]["label"] == "v2 (latest)"
    failures = {f["rule"]: f["problem"] for f in found["policy"]["failures"]}
    assert failures["accuracy >= 0.9"] == f"{head[:10]} has no accuracy metric"


def test_a_renamed_folder_is_files_renamed_not_added_and_removed(work: Path) -> None:
    """Same blob at a new path: a rename, in every format; a twin blob pairs by name."""
    (work / "model" / "eval").mkdir()
    (work / "model" / "eval" / "set.bin").write_bytes(os.urandom(3000))
    for name in ("a.csv", "b.csv"):  # the same bytes twice
        (work / "model" / "eval" / name).write_text("x,y\n1,2\n")
    run_git("add", ".", cwd=work)
    run_git("commit", "-qm", "v3: eval set", cwd=work)
    run_git("mv", "model/eval", "model/holdout", cwd=work)
    run_git("commit", "-qm", "v4: eval set renamed", cwd=work)
    found = review_json(work, "clf@v4")
    assert found["summary"]["files"] == {"added": 0, "removed": 0, "renamed": 3, "changed": 0,
                                         "unchanged": 3}  # fmt: skip
    moved = {f["path"]: (f["status"], f["renamed_from"]) for f in found["files"]
             if f["status"] != "unchanged"}  # fmt: skip
    assert moved == {f"model/holdout/{n}": ("renamed", f"model/eval/{n}")
                     for n in ("a.csv", "b.csv", "set.bin")}  # fmt: skip
    text = git_model("review", "clf@v4", cwd=work).stdout.decode().splitlines()
    assert "files: 0 changed, 0 added, 0 removed, 3 renamed, 3 unchanged" in text
    assert "  > model/eval/set.bin -> model/holdout/set.bin (model file, 2.9 KiB)" in text, text
    markdown = git_model("review", "clf@v4", "--markdown", cwd=work).stdout.decode()
    assert "- renamed: model/eval/a.csv → model/holdout/a.csv (8 B)" in markdown
    git_model("review", "clf@v4", "--html", str(work / "review.html"), cwd=work)
    page = (work / "review.html").read_text()
    assert "<code>model/eval/a.csv</code> → <code>model/holdout/a.csv</code>" in page


def test_hostile_names_stay_text_in_markdown(work: Path) -> None:
    evil = {"<img src=x onerror=alert(1)>|`": np.zeros((2,), np.float32)}
    write_safetensors(work / "model" / "clf.safetensors", {**weights(1, tune=0.01), **evil})
    (work / "model" / "config.json").write_text('{"layers": 5}\n')  # a diff with no backtick
    run_git("commit", "-qam", "v3 [click](http://x)", cwd=work)
    text = git_model("review", "clf@v3", "--markdown", cwd=work).stdout.decode()
    assert "<img" not in text
    assert '  ```diff\n  @@ -1 +1 @@\n  -{"layers": 4}\n  +{"layers": 5}\n  ```' in text
    assert "| &lt;img src=x onerror=alert\\(1\\)\\>\\|\\` | added |" in text
    assert "\\[click\\]\\(http://x\\)" in text


def test_a_role_committed_by_hand_stays_text(work: Path, tmp_path: Path) -> None:
    """A lineage record pushed by anyone may name any role: the page (which runs its
    own inline script) and the Markdown show it as text."""
    state = json.loads(git_out("cat-file", "blob", "refs/gitmodel/lineage:state.json", cwd=work))
    for made in state["produced"].values():
        for item in (i for record in made for i in record["inputs"]):
            item["role"] = "<img src=x onerror=alert(1)>"
    blob = run_git("hash-object", "-w", "--stdin", cwd=work, input=json.dumps(state).encode())
    listing = f"100644 blob {blob.stdout.decode().strip()}\tstate.json\n".encode()
    tree = run_git("mktree", cwd=work, input=listing).stdout.decode().strip()
    commit = git_out("commit-tree", "-m", "by hand", tree, cwd=work).strip()
    run_git("update-ref", "refs/gitmodel/lineage", commit, cwd=work)
    page = tmp_path / "review.html"
    found = git_model("review", "clf@v2", "--markdown", "--html", str(page), cwd=work)
    assert "<img" not in found.stdout.decode() and "<img" not in page.read_text()
    assert "<td>&lt;img src=x onerror=alert(1)&gt;</td>" in page.read_text()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed (.ci/run does)")
def test_html_page_draws_the_chart_and_the_graph_in_chromium(work: Path, tmp_path: Path) -> None:
    page = tmp_path / "review.html"
    git_model("review", "clf@v2", "--against", "production", "--html", str(page), cwd=work)
    source = page.read_text()
    assert "https://" not in source and "http://" not in source.replace(
        "http://www.w3.org/2000/svg", "")  # fmt: skip
    chrome = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--no-first-run", f"--user-data-dir={tmp_path / 'chrome-profile'}"]  # fmt: skip
    dom = subprocess.run([*chrome, "--dump-dom", page.as_uri()], capture_output=True,
                         timeout=120, check=True).stdout.decode()  # fmt: skip
    assert 'id="charts" data-charts="2"' in dom
    assert dom.count('class="metric-chart"') == 2
    assert 'data-metric="accuracy" data-points="2"' in dom
    assert dom.count('class="threshold"') == 2
    assert 'class="point candidate"' in dom
    assert 'data-drawn="4"' in dom  # v2 <- v1 (base) <- data v1, v2 <- data v2
    assert dom.count('class="edge-group"') == 3
    assert "layer2.weight" in dom and 'class="pass">passes' in dom
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "review-html.png"
    subprocess.run([*chrome, "--window-size=1280,1800", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120, check=True)  # fmt: skip
    assert shot.stat().st_size > 10_000
