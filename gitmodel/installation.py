"""What ``git model install`` sets up: the filter configuration and the hooks, and the
checks of them that the filter, ``doctor`` and ``env`` make."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from gitmodel import git
from gitmodel.errors import UserError
from gitmodel.materialize import HOOK_MARKER

# where a hook of the user's waits, run after ours; not ".legacy", the name the pre-commit
# framework and others give the hook *they* replaced and run (ours, after them)
LEGACY_SUFFIX = ".gitmodel-legacy"
OLD_LEGACY_SUFFIX = ".legacy"  # where versions before kept it
HOOK_NAMES = ("post-checkout", "pre-push")  # the files in gitmodel/hooks
FILTER_KEYS = ("process", "clean", "smudge", "required")
# the diff and merge drivers for files with diff=model and merge=model (as `git model
# track` writes them); without a merge driver Git merges two versions' pointers as text
DRIVER_CONFIG = {
    "diff.model.command": "git-model diff-driver",
    "diff.model.textconv": "git-model textconv",
    "merge.model.name": "gitmodel: a model file changed on both sides keeps yours",
    "merge.model.driver": "git-model merge-driver -- %O %A %B %P",
}


def filter_config(skip_smudge: bool) -> dict[str, str]:
    skip = " --skip" if skip_smudge else ""
    return {
        "filter.model.process": f"git-model filter-process{skip}",
        "filter.model.clean": "git-model clean -- %f",
        "filter.model.smudge": f"git-model smudge{skip} -- %f",
        "filter.model.required": "true",
    }


def lfs_filter_config(skip_smudge: bool) -> dict[str, str]:
    """The same filter for ``filter=lfs``: LFS repositories, and commits from before a
    migration, check out real bytes without git-lfs (the pointer format is the same)."""
    return {key.replace("filter.model.", "filter.lfs.", 1): value
            for key, value in filter_config(skip_smudge).items()}  # fmt: skip


def warn_without_filter(repo: git.Repo, consequence: str) -> None:
    """Say so, with the fix, when Git has no model filter to run here (``git model
    install`` was not run): then ``consequence``, e.g. tracked files are stored whole."""
    config = git.config_list(repo.cwd)  # Git's own: .gitmodel never sets a filter
    if "filter.model.process" not in config and "filter.model.clean" not in config:
        print(f"gitmodel: warning: the model filter is not configured here: {consequence}",
              file=sys.stderr)  # fmt: skip
        print("hint: run `git model install`", file=sys.stderr)


def hook_sources() -> dict[str, str]:
    """The hooks shipped in ``hooks/``, by name."""
    from importlib import resources  # not at import: the filter process never needs it

    folder = resources.files("gitmodel") / "hooks"
    return {
        item.name: item.read_text()
        for item in folder.iterdir()
        if item.is_file() and not item.name.startswith((".", "_"))
    }


def is_ours(path: Path) -> bool:
    try:
        return HOOK_MARKER in path.read_text(errors="replace")
    except OSError:
        return False


def install_hooks(repo: git.Repo, force: bool = False) -> list[str]:
    """Install our hooks, keeping any existing hook as ``<name>.gitmodel-legacy`` (run after
    ours)."""
    hooks_dir = repo.hooks_dir
    hooks_dir.mkdir(parents=True, exist_ok=True)
    installed = []
    for name, text in hook_sources().items():
        target = hooks_dir / name
        legacy = hooks_dir / (name + LEGACY_SUFFIX)
        old = hooks_dir / (name + OLD_LEGACY_SUFFIX)
        if is_ours(target) and not legacy.exists() and old.exists() and not is_ours(old):
            os.replace(old, legacy)  # kept by a version before, under the name others use
        if target.exists() and not is_ours(target):
            if legacy.exists() and not force:
                raise UserError(
                    f"hook {name} exists and so does {legacy.name}",
                    hint=f"merge them into {legacy.name} by hand, or pass --force",
                )
            os.replace(target, legacy)
        if target.exists() and target.read_text() == text:
            continue
        _write_executable(target, text)
        installed.append(name)
    return installed


def uninstall_hooks(repo: git.Repo) -> list[str]:
    hooks_dir = repo.hooks_dir
    removed = []
    for name in hook_sources():
        target = hooks_dir / name
        if is_ours(target):
            target.unlink()
            removed.append(name)
            legacy = saved_hook(hooks_dir, name)
            if legacy is not None:
                os.replace(legacy, target)
    return removed


def saved_hook(hooks_dir: Path, name: str) -> Path | None:
    """The user's hook ``name`` that ours replaced, if any (where a version before kept
    it, too; never our own hook, which another hook manager may have kept there)."""
    for suffix in (LEGACY_SUFFIX, OLD_LEGACY_SUFFIX):
        path = hooks_dir / (name + suffix)
        if path.is_file() and not is_ours(path):
            return path
    return None


def ensure_hooks(repo: git.Repo, settings: dict[str, str]) -> None:
    """Install missing hooks in a repository the filter runs in (e.g. a fresh clone).

    Only where no hook of that name exists: a user's own hooks are left alone.
    """
    if settings.get("model.autoinstallhooks", "true").lower() in ("false", "0", "no"):
        return
    if repo.worktree is None:
        return
    hooks_dir = repo.hooks_dir
    if all((hooks_dir / name).exists() for name in HOOK_NAMES):
        return  # the usual case, at every filter start: no need to read the sources
    for name, text in hook_sources().items():
        target = hooks_dir / name
        if not target.exists():
            try:
                hooks_dir.mkdir(parents=True, exist_ok=True)
                _write_executable(target, text)
            except OSError:
                return


def ensure_untracked_cache(repo: git.Repo, settings: dict[str, str]) -> None:
    """Turn on Git's untracked cache (``core.untrackedCache``) in a repository the filter
    runs in, unless the user chose either way (that key, or ``feature.manyFiles``, which
    implies it, set in any scope). Data sets are many files in many folders: with the
    cache, ``git status`` reads only the folders changed since it last looked, about 0.55x
    the time at 100,000 files (benchmarks/README.md). Best effort: a config that cannot
    be written now is tried again at the next filter start."""
    if repo.worktree is None or {"core.untrackedcache", "feature.manyfiles"} & settings.keys():
        return
    try:
        git.config_set("core.untrackedCache", "true", "local", repo.cwd)
    except git.GitError:
        return


def _write_executable(target: Path, text: str) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.chmod(0o755)
    os.replace(tmp, target)
