"""Gather a review: the candidate, what it would replace, and everything that differs.

Only what differs is read: files whose Git blobs are the same on both sides are not
opened, and model files are compared as ``git model diff`` compares them (headers and
tensor digests first, tensor data only where digests differ). The policy's dry run
skips ``verify`` (re-hashing every file); everything else comes from the record logs.
"""

from __future__ import annotations

import difflib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitmodel import git
from gitmodel.errors import UserError
from gitmodel.formats.base import FormatError
from gitmodel.formats.diff import FileContent, FileDiff, diff_versions
from gitmodel.formats.shards import ShardOpener, diff_sharded, is_index, read_sharded
from gitmodel.lineage import graph as lineage_graph
from gitmodel.lineage import store as lineage_store
from gitmodel.lineage.history import FileVersion
from gitmodel.registry import declare, policy, stages
from gitmodel.registry.declare import Model, Threshold
from gitmodel.registry.versions import File, Version, candidate, pick, versions
from gitmodel.resolver import Resolver
from gitmodel.review.lineage_changes import LineageChange, compare
from gitmodel.store.digests import DigestStore
from gitmodel.store.local import LocalStore

Json = dict[str, Any]
HISTORY = 12  # versions in the metrics chart
TEXT_DIFF_LIMIT = 64 << 10  # plain files up to this size get a line diff
TEXT_DIFF_LINES = 40


@dataclass(frozen=True)
class Subject:
    """A version on one side of the review, and how the user named it."""

    label: str  # "v3", "production (v2)", "HEAD (3f9a2c1d0b, not yet a version)"
    version: Version


@dataclass
class FileChange:
    path: str
    status: str  # "added", "removed", "renamed", "changed" or "unchanged"
    old: File | None
    new: File | None
    renamed_from: str | None = None  # renamed: the path on the baseline (``path``: the new one)
    diff: FileDiff | None = None  # model files that changed: the tensor diff
    shard_of: str | None = None  # a shard: its index holds the model-level diff
    text_diff: list[str] = field(default_factory=list)  # small plain files that changed


@dataclass(frozen=True)
class MetricDelta:
    name: str
    old: Any
    new: Any
    threshold: Threshold | None

    @property
    def delta(self) -> float | None:
        if _number(self.old) and _number(self.new):
            return float(self.new) - float(self.old)
        return None

    @property
    def passes(self) -> bool | None:
        """Whether the candidate meets the stage's threshold (None: no threshold, or no
        number to judge)."""
        if self.threshold is None or not _number(self.new):
            return None if self.threshold is None else False
        return self.threshold.holds(float(self.new))


@dataclass
class Review:
    model: Model
    candidate: Subject
    baseline: Subject | None
    against: str  # what the baseline is, in words
    stage: str | None  # whose policy was dry-run
    files: list[FileChange]
    metrics: list[MetricDelta]
    lineage: LineageChange
    verdict: policy.Verdict | None
    history: list[tuple[str, dict[str, float]]]  # (version label, numeric metrics)
    thresholds: list[Threshold]
    graph: lineage_graph.Graph | None


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def build(
    repo: git.Repo, store: LocalStore, name: str, what: str | None, against: str | None,
    stage: str | None,
) -> Review:  # fmt: skip
    """The review of ``name@what`` against ``against`` (a stage, a version or a
    revision; default the previous version), with ``stage``'s policy dry-run (default:
    the ``against`` stage)."""
    registry = declare.load(repo)
    model = registry.model(declare.valid_name(name))
    found = versions(repo, registry, model)
    registry_state = stages.current_state(repo)
    new = _side(repo, found, model, what, registry_state)
    if new is None:
        raise UserError(f"{name}@{what} holds no version", hint="see `git model stages`")
    old = _baseline(repo, found, model, new, against, registry_state)
    if stage is None and against in model.stages:
        stage = against
    if stage is not None:
        model.check_stage(declare.valid_stage(stage))
    lineage = lineage_store.state(repo)
    verdict = None
    if stage is not None:
        held = {s: stages.held(registry_state, model.name, s) for s in model.stages}
        verdict = policy.evaluate(repo, store, model, stage, new.version, held, dry_run=True)
    rule = model.policy.get(stage) if stage else None
    thresholds = list(rule.metrics) if rule else []
    against_label = old.label if old else (
        f"{against} (holds nothing)" if against else "nothing (the first version)")  # fmt: skip
    return Review(
        model, new, old, against_label, stage,
        compare_files(repo, store, old.version if old else None, new.version),
        metric_deltas(lineage, old.version if old else None, new.version, thresholds),
        compare(repo, store, lineage, model, old.version if old else None,
                new.version),
        verdict, metric_history(lineage, found, new.version), thresholds,
        _graph(lineage, new.version),
    )  # fmt: skip


def _side(
    repo: git.Repo, found: list[Version], model: Model, what: str | None, state: Json
) -> Subject | None:
    """The version ``what`` names: ``vN``, a stage (what it mostly serves; None when it
    holds nothing), or a revision (a candidate that may not be a version yet)."""
    if what is not None and what in model.stages:
        held = stages.held_files(state, model, what)
        if not held:
            return None
        main = max(held, key=lambda a: a.weight)
        by_commit = {v.commit: v for v in found}
        version = by_commit.get(main.commit) or Version(
            main.version, main.commit, "", "", "", "", main.files
        )
        return Subject(f"{what} (v{main.version})", version)
    try:
        version = pick(repo, found, model, what)
    except UserError as exc:
        if what is None:
            raise
        if found and repo.commit_of(what) is None:
            raise UserError(
                f"{model.name} has no stage, version or revision {what!r}",
                hint=f"name a stage ({', '.join(model.stages)}), a version "
                f"(v1..v{len(found)}: `git model versions {model.name}`) or a commit, "
                "branch or tag",
            ) from exc
        version = candidate(repo, found, model, what)
    if version.number:
        return Subject(f"v{version.number}", version)
    return Subject(f"{what} ({version.commit[:10]}, not yet a version)", version)


def _baseline(
    repo: git.Repo, found: list[Version], model: Model, new: Subject, against: str | None,
    state: Json,
) -> Subject | None:  # fmt: skip
    if against is not None:
        return _side(repo, found, model, against, state)
    number = new.version.number
    if number > 1:
        return Subject(f"v{number - 1}", found[number - 2])
    if number == 0 and found:
        return Subject(f"v{found[-1].number} (latest)", found[-1])
    return None


def compare_files(
    repo: git.Repo, store: LocalStore, old: Version | None, new: Version
) -> list[FileChange]:
    """Every file of either version, with tensor diffs of the model files that changed."""
    before = {f.path: f for f in old.files} if old else {}
    after = {f.path: f for f in new.files}
    changes = []
    digests = DigestStore(store.root)
    store.tmp_dir.mkdir(parents=True, exist_ok=True)
    renamed = renames(before, after)
    with tempfile.TemporaryDirectory(dir=store.tmp_dir) as tmp:
        resolver = Resolver(repo, store, Path(tmp))
        for path in sorted((set(before) - set(renamed.values())) | set(after)):
            if path in renamed:  # the same blob: nothing to compare
                changes.append(FileChange(path, "renamed", before[renamed[path]], after[path],
                                          renamed_from=renamed[path]))  # fmt: skip
                continue
            a, b = before.get(path), after.get(path)
            status = "added" if a is None else "removed" if b is None else (
                "unchanged" if a.blob == b.blob else "changed")  # fmt: skip
            change = FileChange(path, status, a, b)
            if status != "unchanged" and ((a and a.oid) or (b and b.oid)):
                change.diff = diff_versions(path, _open(resolver, a), _open(resolver, b), digests)
            elif status == "changed" and a is not None and b is not None:
                change.text_diff = _text_diff(repo, a, b)
            changes.append(change)
        _sharded(changes, before, after, resolver, digests)
    return changes


def renames(before: dict[str, File], after: dict[str, File]) -> dict[str, str]:
    """New path -> old path of each file that left one path for another with the same
    blob (a renamed folder is many of these). Twin blobs pair by file name first, then in
    path order."""
    gone: dict[tuple[str, str], list[str]] = {}  # (blob, file name): old paths, in order
    for path in sorted(set(before) - set(after), reverse=True):  # popped from the end
        gone.setdefault((before[path].blob, path.rsplit("/", 1)[-1]), []).append(path)
    by_blob: dict[str, list[tuple[str, str]]] = {}
    for blob, name in gone:
        by_blob.setdefault(blob, []).append((blob, name))
    found: dict[str, str] = {}
    added = sorted(set(after) - set(before))
    for path in added:  # the same file name first (many identical files stay linear)
        olds = gone.get((after[path].blob, path.rsplit("/", 1)[-1]))
        if olds:
            found[path] = olds.pop()
    for path in added:  # then any path that held the same blob
        if path in found:
            continue
        keys = by_blob.get(after[path].blob, [])
        while keys and not gone[keys[-1]]:
            keys.pop()
        if keys:
            found[path] = gone[keys[-1]].pop()
    return found


def _sharded(
    changes: list[FileChange], before: dict[str, File], after: dict[str, File],
    resolver: Resolver, digests: DigestStore,
) -> None:  # fmt: skip
    """Sharded checkpoints whose shards or index changed: one model-level diff, on the
    index's entry; the shards point to it."""
    by_path = {c.path: c for c in changes}
    for index in [p for p in by_path if is_index(p)]:
        sides = []
        try:
            for files in (before, after):
                found = files.get(index)
                opener = _opener(resolver, files)
                content = _open(resolver, found)
                sides.append(read_sharded(index, content, opener) if content else None)
        except FormatError as exc:
            by_path[index].text_diff.append(f"not read as a sharded checkpoint: {exc}")
            continue
        shards = {p for side in sides if side is not None for p in side.shards}
        same = ("unchanged", "renamed")  # the same bytes on both sides
        if all(by_path[p].status in same for p in {index, *shards} if p in by_path):
            continue
        change = by_path[index]
        change.status = "changed" if change.status == "unchanged" else change.status
        indexes = _open(resolver, change.old), _open(resolver, change.new)
        change.diff = diff_sharded(index, sides[0], sides[1], digests, *indexes)
        for path in shards & set(by_path):
            by_path[path].diff, by_path[path].shard_of = None, index


def _opener(resolver: Resolver, files: dict[str, File]) -> ShardOpener:
    return lambda path: _open(resolver, files.get(path))


def _open(resolver: Resolver, file: File | None) -> FileContent | None:
    """The local content of one side of a file (None: absent on that side)."""
    if file is None:
        return None
    if file.oid is not None:
        return resolver.pointer_version(file.pointer, file.path)
    return resolver.blob(file.blob, file.path)


def _text_diff(repo: git.Repo, old: File, new: File) -> list[str]:
    """A short unified diff of two small text files (a config), else nothing."""
    texts = []
    for file in (old, new):
        data = repo.read_blob(file.blob, TEXT_DIFF_LIMIT)
        try:
            texts.append((data or b"").decode("utf-8").splitlines())
        except UnicodeDecodeError:
            return []
        if data is None:
            return []
    lines = list(difflib.unified_diff(texts[0], texts[1], lineterm="", n=1))[2:]
    return lines[:TEXT_DIFF_LINES] + (["…"] if len(lines) > TEXT_DIFF_LINES else [])


def merged_metrics(lineage: Json, version: Version) -> dict[str, Any]:
    """The metrics annotated on a version's model files, merged as the policy merges them."""
    annotated = lineage.get("metrics", {})
    merged: dict[str, Any] = {}
    for file in version.model_files:
        found = annotated.get(file.oid or "", {})
        if isinstance(found, dict):
            merged.update(found)
    return merged


def metric_deltas(
    lineage: Json, old: Version | None, new: Version, thresholds: list[Threshold]
) -> list[MetricDelta]:
    before = merged_metrics(lineage, old) if old else {}
    after = merged_metrics(lineage, new)
    rules = {t.metric: t for t in thresholds}
    names = sorted(set(before) | set(after) | set(rules))
    return [MetricDelta(n, before.get(n), after.get(n), rules.get(n)) for n in names]


def metric_history(
    lineage: Json, found: list[Version], new: Version
) -> list[tuple[str, dict[str, float]]]:
    """Numeric metrics of the last versions up to the candidate, oldest first."""
    upto = [v for v in found if v.number <= new.number] if new.number else found
    chosen = upto[-HISTORY:] if new.number else [*found[-(HISTORY - 1) :], new]
    return [
        (v.label, {k: float(x) for k, x in merged_metrics(lineage, v).items() if _number(x)})
        for v in chosen
    ]


def _graph(lineage: Json, version: Version) -> lineage_graph.Graph | None:
    """The upstream lineage of the version's largest model file."""
    files = sorted(version.model_files, key=lambda f: -f.size)
    if not files or files[0].oid is None:
        return None
    main = FileVersion(files[0].path, files[0].oid, files[0].size, version.commit)
    return lineage_graph.build(lineage, main)
