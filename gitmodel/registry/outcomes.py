"""What became of each change request, read from the registry log's events.

A request asks for a version (a commit) of a model to enter a stage. The first stage
event after it was opened that brings that commit into the stage (a promotion, at any
weight, or a rollback) carries it out, whether or not it cites the request: a stage
whose policy needs no approval is promoted directly, as a pull request's commits may be
pushed directly. One that first makes the stage mostly serve a newer version instead (a
higher number, another commit: the larger weight of what it holds after) supersedes
it. Either ends the review, once: a later event changes neither. A promotion that cites
the request always carries it out (that citation is what ``promote`` checked), and a
rollback that withdrew its canary on a rejection (``"rejected_by"``) withdraws it.

"After" is as Git orders things, not by clocks: a request records the registry log's tip
its requester's clone held (``registry_tip``, see :mod:`.requests`), and an event is after
the request exactly when that commit does not reach it, i.e. when it is newer on the log's
first-parent chain (the log is append-only and linear) or the requester had no log. So a
clock that runs ahead or behind in one clone, or a request opened in the same second as a
promotion, cannot misplace them. A request that records no tip (written before the field
existed), or one that is not a commit on the log's chain (a forged value, a log rewritten
since, a request from another repository), is judged by the records' author times instead,
as all requests were before: events are after it from the first whose author time is not
earlier than its own.

Everything comes from the registry log's records, each read and checked
(:func:`~gitmodel.registry.stage_events.read_event`, malformed ones skipped), never from the
requests log's ``state.json``; one walk of the registry log, reading only events of the
stages that requests name (and noting where the tips that requests record lie on it), and
linear in its records and the requests.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from gitmodel import git
from gitmodel.registry import requests, stages
from gitmodel.registry.requests import Outcome, Summary
from gitmodel.registry.stage_events import Assignment, read_event

Key = tuple[str, str]  # (model, stage)


@dataclass(frozen=True)
class _Event:
    """What the outcome of a request needs of one stage event."""

    commit: str
    time: int
    type: str
    key: Key
    brought: frozenset[str]  # the commits the stage holds after it
    main: tuple[int, str] | None  # what it then mostly serves: (version, commit)
    request: str | None  # the request it cites
    withdrawal: bool  # a canary withdrawn on a rejection of that request


def summaries(repo: git.Repo) -> list[Summary]:
    """Every request with its decisions and its outcome, newest first."""
    found = requests.summaries(repo)
    settle(repo, found)
    return found


def settle(repo: git.Repo, found: list[Summary]) -> None:
    """Fill in what became of each of ``found`` (see the module docstring)."""
    by_id = {s.request.record.id: s for s in found}
    keys = {(s.request.record.model, s.request.record.stage) for s in found}
    walk = _walk(repo, keys, {s.request.record.registry_tip or "" for s in found} - {""})
    timed, starts = _openings(found, walk)
    waiting, opened = 0, _Opened()
    for index, event in enumerate(walk.events):
        while waiting < len(timed) and timed[waiting].request.time <= event.time:
            opened.add(timed[waiting])
            waiting += 1
        for summary in starts.pop(index, []):
            opened.add(summary)
        _cited(event, by_id.get(event.request or ""))
        for commit in event.brought:
            for summary in opened.by_commit.pop((*event.key, commit), []):
                if not _settled(summary):
                    summary.promoted_by = event.commit
        if event.main is not None:
            _supersede(event, event.main, opened.by_version.get(event.key, []))


@dataclass
class _Walk:
    """The events of one walk of the registry log, oldest first, and where the tips that
    requests record lie on the log: a tip → how many of those events are newer."""

    events: list[_Event]
    newer: dict[str, int]


class _Opened:
    """The requests opened before the events seen so far: by the change each asks for,
    and by stage, a min-heap of (version, order opened, request)."""

    def __init__(self) -> None:
        self.by_commit: dict[tuple[str, str, str], list[Summary]] = {}
        self.by_version: dict[Key, list[tuple[int, int, Summary]]] = {}
        self.count = 0

    def add(self, summary: Summary) -> None:
        rec = summary.request.record
        self.by_commit.setdefault((rec.model, rec.stage, rec.commit), []).append(summary)
        heapq.heappush(self.by_version.setdefault((rec.model, rec.stage), []),
                       (rec.version, self.count, summary))  # fmt: skip
        self.count += 1


def _openings(found: list[Summary], walk: _Walk) -> tuple[list[Summary], dict[int, list[Summary]]]:
    """When each of ``found`` was opened: those judged by author times, oldest first, and
    the others by the index of the first event after them (what their requesters had not
    seen)."""
    timed: list[Summary] = []
    starts: dict[int, list[Summary]] = {}
    for summary in found:
        tip = summary.request.record.registry_tip
        if tip == "":  # its requester had no registry log: every event is after it
            starts.setdefault(0, []).append(summary)
        elif tip is not None and tip in walk.newer:
            starts.setdefault(len(walk.events) - walk.newer[tip], []).append(summary)
        else:
            timed.append(summary)
    timed.sort(key=lambda s: s.request.time)
    return timed, starts


def _cited(event: _Event, summary: Summary | None) -> None:
    if summary is None:
        return
    if event.withdrawal:
        summary.withdrawn_by = summary.withdrawn_by or event.commit
    elif event.type == "promote":
        summary.promoted_by = summary.promoted_by or event.commit


def _supersede(event: _Event, main: tuple[int, str], heap: list[tuple[int, int, Summary]]
               ) -> None:  # fmt: skip
    """Requests for older versions than ``main``, waiting on the event's stage."""
    version, commit = main
    while heap and heap[0][0] < version:
        summary = heapq.heappop(heap)[2]
        if not _settled(summary) and summary.request.record.commit != commit:
            summary.superseded_by = Outcome(event.commit, version)


def _main(held: list[Assignment]) -> tuple[int, str] | None:
    """The version ``held`` mostly serves (the first of equals), as (number, commit)."""
    main = max(held, key=lambda a: a.weight, default=None)
    return None if main is None else (main.version, main.commit)


def _settled(summary: Summary) -> bool:
    return summary.promoted_by is not None or summary.superseded_by is not None


def _walk(repo: git.Repo, keys: set[Key], tips: set[str]) -> _Walk:
    """The promotions and rollbacks of the stages in ``keys``, and where each of ``tips``
    lies among them (commits named for other stages are skipped unread; malformed events
    are skipped; a tip not on the log's first-parent chain is not found)."""
    found: list[_Event] = []
    newer: dict[str, int] = {}

    def wanted(commit: git.Commit) -> bool:
        if commit.id in tips:  # the walk is newest first: what was found so far is newer
            newer[commit.id] = len(found)
        words = commit.message.split()
        return len(words) != 4 or words[0] != f"{stages.KIND.name}:" or (words[2], words[3]) in keys

    for entry in stages.log(repo).records(wanted=wanted) if keys else ():
        try:
            event = read_event(entry.record)
        except ValueError:
            continue
        if event.type == "unassign" or (event.model, event.stage) not in keys:
            continue
        cited = entry.record.get("request")
        rejected = entry.record.get("rejected_by")
        found.append(_Event(
            entry.commit, entry.time, event.type, (event.model, event.stage),
            frozenset(a.commit for a in event.after),
            _main(event.after),
            cited if isinstance(cited, str) else None,
            event.type == "rollback" and isinstance(rejected, list) and bool(rejected),
        ))  # fmt: skip
    found.reverse()
    return _Walk(found, newer)
