"""Deploying what a registry stage serves into a folder, and rolling it back.

- ``layout``: the folder on disk (releases, the ``serving`` link to a deployment's
  ``current`` and ``canary.json``, the history), every change atomic;
- ``origin``: where the stage's versions come from (this repository, or a URL read
  without a clone);
- ``release``: building one release from objects already held and missing chunks.

:func:`deploy` builds each release the stage needs that the folder lacks, runs the
health check in each, and only then switches ``serving`` (and ``current``);
:func:`rollback` switches back to the deployment before, in one rename. Both hold the folder's lock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gitmodel.deploy.layout import Deployment, Folder

if TYPE_CHECKING:  # loaded by deploy only: a rollback must start fast
    from gitmodel.deploy.origin import Origin
    from gitmodel.registry.stage_events import Assignment

DEFAULT_KEEP = 3
CHECK_TIMEOUT = 600.0  # seconds a health check may take (None: no limit)


@dataclass(frozen=True)
class Outcome:
    """What a deploy or rollback did."""

    deployment: Deployment
    built: tuple[str, ...] = ()
    fetched: int = 0  # bytes read from the model remote
    size: int = 0  # bytes of the releases built
    removed: tuple[str, ...] = ()
    unchanged: bool = False
    repaired: tuple[str, ...] = ()  # built again: a file was missing, or changed by hand


def deploy(folder: Folder, origin: Origin, keep: int = DEFAULT_KEEP, check: str | None = None,
           check_timeout: float | None = CHECK_TIMEOUT) -> Outcome:  # fmt: skip
    """Serve ``origin``'s stage from ``folder``: build the releases it lacks, check them
    (``check``: a shell command run in each, stopped after ``check_timeout`` seconds),
    switch, and keep ``keep`` releases."""
    from gitmodel.deploy import release

    held = sorted(origin.resolved.assignments, key=lambda a: -a.weight)
    _check_split(origin, held)
    folder.make()
    with folder.locked():
        folder.check_store()
        folder.check_releases()
        folder.remove_stale()
        serving = folder.current()  # refuses a `current` that is not our symlink
        _check_model(folder, serving, origin)
        history = folder.history()
        names = [release.name_of(a) for a in held]
        split = tuple((name, a.weight) for name, a in zip(names, held, strict=True))
        deployment = Deployment(names[0], split if len(split) > 1 else (), _now())
        whole = all(folder.has(name) for name in names)
        if history and _same(history[-1], deployment) and serving == names[0] and whole:
            if not folder.has_serving():  # a folder deployed before serving/: given it
                folder.switch(history[-1])
            folder.save_verified()
            return Outcome(history[-1], unchanged=True)
        repaired = tuple(n for n in names if folder.release(n).is_dir() and not folder.has(n))
        builder = release.Builder(folder, origin)
        built = [name for name, a in zip(names, held, strict=True) if builder.build(name, a)]
        if check is not None:
            for name in dict.fromkeys(names):
                release.run_check(folder, name, check, serving, check_timeout)
        before = list(history)
        if history and _same(history[-1], deployment):
            history.pop()  # served again (repaired, or after a kill): one entry, not two
        history.append(deployment)
        folder.switch_from(before, history)
        removed = folder.prune(history, keep)
        builder.forget_unused()
        folder.save_history([d for d in history if all(folder.has(r) for r in d.releases())])
        folder.save_verified()
    return Outcome(deployment, tuple(built), builder.fetched, builder.size, tuple(removed),
                   repaired=repaired)  # fmt: skip


def rollback(folder: Folder) -> Outcome:
    """Serve the deployment before the current one again: one rename, nothing fetched."""
    from gitmodel.errors import UserError

    if not folder.state.is_dir():
        raise UserError(f"{folder.root} holds no deployment",
                        hint="deploy one first: git model deploy NAME@STAGE DIR")  # fmt: skip
    folder.make()  # refuses its own folders turned into symlinks
    with folder.locked():
        folder.check_releases()
        history = folder.history()
        if len(history) == 1:
            raise UserError(
                f"{folder.root} keeps no deployment before the one it serves "
                f"({history[0].current}) to roll back to",
                hint="to serve another version, deploy it: git model deploy NAME@STAGE DIR "
                "(--keep K keeps the last K deployments for rollbacks)",
            )
        if not history:
            raise UserError(
                f"{folder.root} has no earlier deployment to roll back to",
                hint="deploy a version first: git model deploy NAME@STAGE DIR",
            )
        target = history[-2]
        missing = [name for name in target.releases() if not folder.has(name)]
        if missing:
            raise UserError(
                f"the release {missing[0]} to roll back to is gone, incomplete or edited",
                hint="deploy that version again: git model deploy NAME@STAGE DIR",
            )
        folder.switch_from(history, history[:-1])
        folder.save_history(history[:-1])
        folder.save_verified()
    return Outcome(target)


def _check_model(folder: Folder, serving: str | None, origin: Origin) -> None:
    """A folder serves one model: release names (``v3-<commit>``) do not name it, so two
    models changed by one commit would share them, and a deploy of the other would find
    the one served "already" there."""
    from gitmodel.errors import UserError
    from gitmodel.text import printable

    served = folder.metadata(serving).get("model") if serving else None
    wanted, stage = origin.resolved.model, origin.resolved.stage
    if isinstance(served, str) and served != wanted:
        raise UserError(f"{folder.root} serves model {printable(served)[:100]}, not {wanted}",
                        hint=f"deploy {wanted} into a folder of its own: git model deploy "
                        f"{wanted}@{stage} DIR")  # fmt: skip


def _check_split(origin: Origin, held: list[Assignment]) -> None:
    """Refuse what no registry change makes: more than a weighted pair, or weights that
    do not add up to 100 (the log is hostile until checked)."""
    from gitmodel.errors import UserError
    from gitmodel.registry.stage_events import describe

    if len(held) > 2 or sum(a.weight for a in held) != 100:
        name, stage = origin.resolved.model, origin.resolved.stage
        raise UserError(f"{name} {stage} holds {describe(held)[:200]} in the registry log: "
                        "not one version or a weighted pair adding up to 100%",
                        hint=f"the registry log was not written by gitmodel: "
                        f"`git model history {name}`")  # fmt: skip


def _same(a: Deployment, b: Deployment) -> bool:
    return a.current == b.current and a.split == b.split


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
