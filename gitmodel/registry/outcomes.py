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

"After" is by the records' author times, the only link between two logs that different
clones write. Everything comes from the registry log's records, each read and checked
(:func:`~gitmodel.registry.stage_events.read_event`, malformed ones skipped), never from the
requests log's ``state.json``; one walk of the registry log, reading only events of the
stages that requests name, and linear in its records and the requests.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
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
    opened = sorted(found, key=lambda s: s.request.time)  # oldest first
    by_commit: dict[tuple[str, str, str], list[Summary]] = {}
    by_version: dict[Key, list[tuple[int, int, Summary]]] = {}  # min-heaps
    waiting = 0
    for event in _events(repo, {(s.request.record.model, s.request.record.stage) for s in found}):
        while waiting < len(opened) and opened[waiting].request.time <= event.time:
            rec = opened[waiting].request.record
            by_commit.setdefault((rec.model, rec.stage, rec.commit), []).append(opened[waiting])
            heapq.heappush(by_version.setdefault((rec.model, rec.stage), []),
                           (rec.version, waiting, opened[waiting]))  # fmt: skip
            waiting += 1
        _cited(event, by_id.get(event.request or ""))
        for commit in event.brought:
            for summary in by_commit.pop((*event.key, commit), []):
                if not _settled(summary):
                    summary.promoted_by = event.commit
        if event.main is not None:
            _supersede(event, event.main, by_version.get(event.key, []))


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


def _events(repo: git.Repo, keys: set[Key]) -> Iterator[_Event]:
    """The promotions and rollbacks of the stages in ``keys``, oldest first (commits
    named for other stages are skipped unread; malformed events are skipped)."""

    def wanted(message: str) -> bool:
        words = message.split()
        return len(words) != 4 or words[0] != f"{stages.KIND.name}:" or (words[2], words[3]) in keys

    found = []
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
    return reversed(found)
