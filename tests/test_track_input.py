"""``git model track``: patterns as written from anywhere in the worktree, patterns that
would make ``.gitattributes`` a pointer, and a repository with no model filter."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import git_model, git_out, run_git

from gitmodel.pointer import try_parse

LINE = "filter=model diff=model merge=model -text"
NARROWER = 'hint: name the model files more narrowly, e.g. "*.safetensors"'


def errors(proc_stderr: bytes) -> list[str]:
    return proc_stderr.decode().splitlines()


@pytest.mark.parametrize(
    ("pattern", "matched"),
    [("*", ".gitattributes"), (".git*", ".gitattributes"), ("**", ".gitattributes"),
     ("/", ".gitattributes"), (".", ".gitattributes"), ("*.json", ".gitmodel-registry.json"),
     (".lfs*", ".lfsconfig"), (".gitattribute[[:alpha:]]", ".gitattributes"),
     ("sub/*", "sub/.gitignore")],
)  # fmt: skip
def test_a_pattern_matching_a_file_kept_as_text_is_refused(
    repo: Path, pattern: str, matched: str
) -> None:
    (repo / ".gitmodel-registry.json").write_text("{}\n")
    (repo / ".lfsconfig").write_text("[lfs]\n")
    (repo / "sub").mkdir()
    (repo / "sub" / ".gitignore").write_text("*.tmp\n")
    before = (repo / ".gitattributes").read_text()
    proc = git_model("track", "*.pt", pattern, cwd=repo, check=False)
    assert proc.returncode == 1
    assert errors(proc.stderr) == [
        f'gitmodel: error: pattern "{pattern}" matches {matched}, which must stay a plain file',
        NARROWER,
    ]
    assert proc.stdout == b""
    assert (repo / ".gitattributes").read_text() == before  # not even "*.pt"


def test_a_pattern_that_matches_no_kept_file_is_written(repo: Path) -> None:
    (repo / "data").mkdir()
    (repo / "data" / "x.json").write_text("{}")
    (repo / ".gitmodel-registry.json").write_text("{}\n")
    out = git_model("track", "data/*.json", cwd=repo).stdout.decode()
    assert out == 'Tracking "data/*.json"\n'


@pytest.mark.parametrize("one_shot", [False, True])
def test_a_hand_written_attribute_never_makes_gitattributes_a_pointer(
    repo: Path, tmp_path: Path, one_shot: bool
) -> None:
    """Whatever the attributes say, ``git add`` keeps .gitattributes and the other files
    Git and gitmodel read as they are, through the filter process or the one-shot
    ``clean`` Git runs where no process is set; a lazy clone then reads its attributes."""
    if one_shot:
        run_git("config", "--unset", "filter.model.process", cwd=repo)
    kept = {
        ".gitattributes": f"* {LINE}\n",
        "sub/.gitattributes": f"*.pt {LINE}\n",
        ".gitignore": "*.tmp\n",
        ".gitmodel-registry.json": '{"models": {}}\n',
    }
    for name, text in kept.items():
        (repo / name).parent.mkdir(exist_ok=True)
        (repo / name).write_text(text)
    (repo / "w.bin").write_bytes(b"weights" * 100)
    run_git("add", ".", cwd=repo)
    for name, text in kept.items():
        assert run_git("cat-file", "blob", f":{name}", cwd=repo).stdout == text.encode(), name
    assert try_parse(run_git("cat-file", "blob", ":w.bin", cwd=repo).stdout) is not None
    run_git("commit", "-qm", "everything tracked by hand", cwd=repo)
    clone = tmp_path / "clone"
    env = {**os.environ, "GIT_MODEL_SKIP_SMUDGE": "1"}
    run_git("clone", "-q", str(repo), str(clone), cwd=tmp_path, env=env)
    assert (clone / ".gitattributes").read_text() == kept[".gitattributes"]
    assert git_out("check-attr", "filter", "--", "w.bin", cwd=clone) == "w.bin: filter: model\n"


def test_paths_are_normalised_from_a_subfolder(repo: Path) -> None:
    sub = repo / "sub"
    (sub / "dir").mkdir(parents=True)
    (repo / "models").mkdir()
    out = git_model("track", "../*.pt", "./x.pt", "dir/", "new/", "../models", ".//a//b.gguf",
                    cwd=sub).stdout.decode()  # fmt: skip
    assert out.splitlines() == [
        'Tracking "*.pt"',
        'Tracking "sub/x.pt"',
        'Tracking "sub/dir/**" (a folder: every file under it)',
        'Tracking "sub/new/**" (a folder: every file under it)',
        'Tracking "models/**" (a folder: every file under it)',
        'Tracking "sub/a/b.gguf"',
    ]
    patterns = [line.split()[0] for line in (repo / ".gitattributes").read_text().splitlines()]
    assert patterns == ["*.bin", "*.pt", "sub/x.pt", "sub/dir/**", "sub/new/**", "models/**",
                        "sub/a/b.gguf"]  # fmt: skip
    for path in ("sub/dir/deep/w.safetensors", "models/m.onnx", "sub/x.pt"):
        assert git_out("check-attr", "filter", "--", path, cwd=repo) == f"{path}: filter: model\n"
    out = git_model("track", "./models/m.bin", "sub/x.pt", cwd=repo).stdout.decode()
    assert out.splitlines() == ['"sub/x.pt" already tracked', 'Tracking "models/m.bin"']
    out = git_model("untrack", "dir", "./x.pt", cwd=sub).stdout.decode()
    assert out.splitlines() == ['Untracking "sub/x.pt"', 'Untracking "sub/dir/**"']


@pytest.mark.parametrize("given", ["data/[raw]", "data/[raw]/", "data/a*b"])
def test_a_folder_whose_name_holds_glob_characters_is_that_folder(
    repo: Path, given: str
) -> None:
    """A data set's folder named ``[raw]`` (or ``a*b``) was written as the glob it looks
    like: ``data/[raw]`` matches ``data/r``, ``data/a`` and ``data/w``, and nothing
    under the folder, whose files were then committed whole. It is that folder."""
    folder = repo / given.rstrip("/")
    for path in (folder / "x.csv", repo / "data" / "r" / "y.csv", repo / "data" / "ab" / "z.csv"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("id\n")
    git_model("track", given, cwd=repo)
    inside = f"{given.rstrip('/')}/x.csv"
    attrs = git_out("check-attr", "filter", "--", inside, "data/r/y.csv", "data/ab/z.csv",
                    cwd=repo)  # fmt: skip
    assert attrs.splitlines() == [f"{inside}: filter: model", "data/r/y.csv: filter: unspecified",
                                  "data/ab/z.csv: filter: unspecified"]  # fmt: skip
    assert git_model("untrack", given, cwd=repo).stdout.decode().startswith("Untracking ")
    assert git_out("check-attr", "filter", "--", inside, cwd=repo).endswith("unspecified\n")


def test_a_file_whose_name_holds_a_bracket_is_that_file(repo: Path) -> None:
    """``model[v2].pt`` as a glob matches ``model2.pt`` and never itself."""
    for name in ("model[v2].pt", "model2.pt"):
        (repo / name).write_bytes(b"weights")
    out = git_model("track", "model[v2].pt", cwd=repo).stdout.decode()
    assert out == 'Tracking "model\\[v2].pt" (that file: its name escaped)\n', out
    attrs = git_out("check-attr", "filter", "--", "model[v2].pt", "model2.pt", cwd=repo)
    assert attrs.splitlines() == ["model[v2].pt: filter: model", "model2.pt: filter: unspecified"]
    git_model("track", "*.[pP][tT]", cwd=repo)  # a glob that names no file: as written
    assert "\n*.[pP][tT] filter=model" in (repo / ".gitattributes").read_text()


@pytest.mark.parametrize(("where", "pattern"), [("sub", "../../outside/*.bin"), (".", "../x.bin"),
                                                ("sub", "a/../../../x")])  # fmt: skip
def test_a_pattern_outside_the_repository_is_refused(repo: Path, where: str, pattern: str) -> None:
    (repo / "sub").mkdir()
    before = (repo / ".gitattributes").read_text()
    proc = git_model("track", pattern, cwd=repo / where, check=False)
    assert proc.returncode == 1
    assert errors(proc.stderr) == [
        f'gitmodel: error: pattern "{pattern}" is outside the repository',
        "hint: track files inside it, from the repository or a folder of it",
    ]
    assert (repo / ".gitattributes").read_text() == before


def test_track_warns_where_no_model_filter_is_configured(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    run_git("init", "-q", str(plain), cwd=tmp_path)
    proc = git_model("track", "*.bin", cwd=plain)
    assert proc.stdout.decode() == 'Tracking "*.bin"\n'
    assert errors(proc.stderr) == [
        "gitmodel: warning: the model filter is not configured here: "
        "`git add` stores tracked files whole",
        "hint: run `git model install`",
    ]
    git_model("install", "--local", cwd=plain)
    assert git_model("track", "*.pt", cwd=plain).stderr == b""
