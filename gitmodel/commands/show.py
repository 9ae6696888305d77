"""``git model show PATH[@REV]``: one version's card: identity, size, provenance, metrics,
and the registry stages that serve it."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from gitmodel import git
from gitmodel.errors import GitModelError, UserError
from gitmodel.lineage import store
from gitmodel.lineage.history import FileVersion, HistoryEntry, file_version, repo_path, versions
from gitmodel.lineage.render import printable
from gitmodel.registry import declare, stages
from gitmodel.sizes import format_size
from gitmodel.specs import PathSpec
from gitmodel.workspace import open_repo

Json = dict[str, Any]


def card(
    version: FileVersion, history: list[HistoryEntry], state: Json, registry: Json | None = None
) -> Json:
    """The documented ``show --json`` object (README: "show JSON")."""
    index = next((i for i, v in enumerate(history) if v.oid == version.oid), None)
    made = history[index] if index is not None else None
    previous = history[index + 1] if index is not None and index + 1 < len(history) else None
    return {
        "path": version.path,
        "oid": version.oid,
        "size": version.size,
        "rev": version.commit,
        "committed": made.to_json() if made else None,
        "previous": previous.to_json() if previous else None,
        "provenance": state.get("produced", {}).get(version.oid, []),
        "metrics": state.get("metrics", {}).get(version.oid, {}),
        "annotations": state.get("annotations", {}).get(version.oid, []),
        "stages": serving_stages(registry or {}, version.oid),
    }


def serving_stages(registry: Json, oid: str) -> list[Json]:
    """Every registry stage whose assignment includes this file version."""
    found = []
    for model, entry in sorted(registry.get("models", {}).items()):
        for stage in sorted(entry.get("stages", {})):
            for held in stages.held(registry, model, stage):
                if any(f.oid == oid for f in held.files):
                    found.append({"model": model, "stage": stage, "version": held.version,
                                  "weight": held.weight})  # fmt: skip
    return found


def show(spec: PathSpec, as_json: bool = False) -> int:
    """Print the card of PATH@REV (default HEAD; a PATH deleted since: its last version)."""
    repo, _ = open_repo()
    try:
        version = file_version(repo, spec)
    except UserError as exc:
        deleted = _last_version(repo, spec)
        if deleted is None:
            _name_a_model(repo, spec, exc)
            raise
        version = deleted
    history = versions(repo, version.path, version.commit)
    info = card(version, history, store.state(repo), stages.current_state(repo))
    if as_json:
        print(json.dumps(info, indent=2, sort_keys=True))
    else:
        print("\n".join(text_lines(info)))
    return 0


def _name_a_model(repo: git.Repo, spec: PathSpec, error: UserError) -> None:
    """``error`` with a hint at ``versions`` when PATH is no file but a registered model's
    name (show takes a file: a model is many)."""
    try:
        names = declare.load(repo).models
    except GitModelError:
        return  # a broken registry file is said where it is read
    if spec.rev is None and spec.path in names and not os.path.lexists(spec.path):
        raise UserError(str(error), hint=f"{spec.path} is a registered model: `git model versions "
                        f"{spec.path}` lists its versions and their files") from error  # fmt: skip


def _last_version(repo: git.Repo, spec: PathSpec) -> FileVersion | None:
    """The newest version of a model file that HEAD no longer has (deleted since), as
    ``log`` lists it; None when PATH names no such file."""
    path = repo_path(repo, spec.path)
    if spec.rev is None and repo.has_commits():
        gone = not repo.ls_tree("HEAD", [path])  # neither that file nor a folder there
        found = versions(repo, path, "HEAD") if gone else []
        if found and found[0].path == path:  # not a file of a folder deleted since
            last = found[0]
            print(f"gitmodel: {path} is not in HEAD; its last version is from commit "
                  f"{last.commit[:10]}", file=sys.stderr)  # fmt: skip
            return FileVersion(last.path, last.oid, last.size, last.commit)
    return None


def text_lines(info: Json) -> list[str]:
    lines = [f"{info['path']}", f"  oid       sha256:{info['oid']}",
             f"  size      {format_size(info['size'])} ({info['size']} bytes)"]  # fmt: skip
    made, previous = info["committed"], info["previous"]
    if made:
        lines.append(f"  commit    {made['commit'][:10]} {made['date']} {made['author']}: "
                     f"{made['message']}")  # fmt: skip
        lines.append(f"  code tree {made['tree'][:10]}")
    lines.append(f"  previous  {previous['oid'][:10]} ({previous['commit'][:10]})"
                 if previous else "  previous  none (first version)")  # fmt: skip
    for rec in info["provenance"]:
        params = " ".join(f"{k}={v}" for k, v in sorted(rec.get("params", {}).items()))
        lines.append(
            f"  made by   {rec['commit'][:10]}" + (f"  params: {params}" if params else "")
        )
        for item in rec.get("inputs", []):
            folder = f"/ ({item['files']} files)" if "files" in item else ""
            lines.append(f"    {item['role']:<5} {item['path']}{folder} {item['oid'][:10]}")
    for key, value in sorted(info["metrics"].items()):
        lines.append(f"  metric    {key} = {value}")
    for note in (a["note"] for a in info["annotations"] if a.get("note")):
        lines.append(f"  note      {note}")
    for held in info["stages"]:
        weight = f" ({held['weight']}%)" if held["weight"] != 100 else ""
        lines.append(f"  stage     {held['model']}@{held['stage']} = v{held['version']}{weight}")
    return [printable(line) for line in lines]
