"""``git model remote``: where each Git remote's model objects are stored."""

from __future__ import annotations

from gitmodel import git
from gitmodel.errors import UserError
from gitmodel.remote.config import ModelRemote, default_remote_name, remote_for
from gitmodel.urls import (
    STORE_URL_FORMS,
    redact,
    shareable_store_url,
    shown_url,
    store_url_problem,
)
from gitmodel.workspace import open_repo

SHARED_ALSO = ("modelendpoint", "modelregion")  # shared with the URL when set here


def show() -> int:
    repo, _ = open_repo()
    settings = repo.settings()
    names = git.remote_names(settings)
    if not names:
        print("no Git remotes")
        return 0
    for name in names:
        try:
            remote = remote_for(repo, settings, name)
        except UserError as exc:
            print(f"{name}\t(none: {exc})")
            continue
        how = "" if remote.configured else "  (default for a local repository)"
        print(f"{name}\t{remote.display}{how}")
    return 0


def set_url(name: str | None, url: str, shared: bool = False) -> int:
    named = name is not None
    repo, _ = open_repo()
    settings = repo.settings()
    name = name or default_remote_name(settings)
    if name is None:
        names = git.remote_names(settings)
        if not names:
            raise UserError("this repository has no Git remote yet",
                            hint="add it first: git remote add origin URL")  # fmt: skip
        raise UserError(f"which Git remote? There are {len(names)} and none is origin",
                        hint=f"name it: git model remote set {names[0]} URL")  # fmt: skip
    if f"remote.{name}.url" not in settings:
        raise UserError(
            f"no Git remote named {name!r}", hint="add it first: git remote add NAME URL"
        )
    if "@" in url.split("://", 1)[-1].split("/", 1)[0]:
        raise UserError(
            "refusing to store credentials in git config",
            hint="give the URL without user:password; credentials come from the environment",
        )
    _check_store_url(settings, name, url, named)
    shared_keys = _shareable(repo, name, url) if shared else {}
    remote = ModelRemote(name, url)
    remote.open()  # a missing backend fails here, before anything is saved
    git.config_set(f"remote.{name}.modelurl", url, "local", repo.cwd)
    print(f"{name}: model objects go to {redact(url)}")
    if shared:
        share(repo, shared_keys)
    return 0


def _check_store_url(settings: dict[str, str], name: str, url: str, named: bool) -> None:
    """Refuse a store URL that is not one (what a push would write relative to wherever
    it runs, or into memory that is gone when it ends), saying what one looks like."""
    problem = store_url_problem(url)
    if problem is None:
        return
    forms = f"a store URL: {STORE_URL_FORMS}"
    if not named and f"remote.{url}.url" in settings:  # `remote set origin`: URL forgotten
        raise UserError(f"no store URL given for remote {url}",
                        hint=f"name both: git model remote set {url} URL ({forms})")  # fmt: skip
    raise UserError(f"cannot store {name}'s model objects in {shown_url(url)}: {problem}",
                    hint=f"give {forms}, as in: git model remote set {name} "
                    "s3://BUCKET/PREFIX")  # fmt: skip


def _shareable(repo: git.Repo, name: str, url: str) -> dict[str, str]:
    """What ``--shared`` writes to ``.gitmodel``: the URL and the remote's endpoint and
    region from your own config, each checked as a clone will check it."""
    if repo.worktree is None:
        raise UserError("a bare repository has no worktree for .gitmodel",
                        hint="run it in a clone, then commit and push .gitmodel")  # fmt: skip
    problem = shareable_store_url(url)
    if problem is not None:
        raise UserError(f"cannot share {redact(url)} in {git.SHARED_CONFIG}: {problem}",
                        hint="give a URL every clone can reach, or set it for yourself "
                        "only: git model remote set without --shared")  # fmt: skip
    own = git.config_list(repo.cwd)  # not what .gitmodel already says
    keys = {f"remote.{name}.modelurl": url}
    keys |= {key: own[key] for key in (f"remote.{name}.{k}" for k in SHARED_ALSO) if key in own}
    for key, value in keys.items():
        git.check_shared(key, value, own)
    return keys


def share(repo: git.Repo, keys: dict[str, str]) -> None:
    """Write ``keys`` to ``.gitmodel`` at the top of the worktree and stage it."""
    path = repo.top / git.SHARED_CONFIG
    for key, value in keys.items():
        git.config_set_file(path, key, value)
    git.run(["add", "--", git.SHARED_CONFIG], cwd=repo.top)
    also = [key.rsplit(".", 1)[1] for key in keys if not key.endswith(".modelurl")]
    with_also = f" (with {', '.join(also)})" if also else ""
    print(f"shared in {git.SHARED_CONFIG}{with_also}, staged: commit and push it, "
          "and every clone uses this store")  # fmt: skip


def unset(name: str | None) -> int:
    repo, _ = open_repo()
    settings = repo.settings()
    name = name or default_remote_name(settings)
    if name is None:
        raise UserError("no Git remote to use", hint="name one: git model remote unset NAME")
    key = f"remote.{name}.modelurl"
    if not git.config_unset(key, "local", repo.cwd):
        raise _nothing_to_unset(repo, settings, name)
    print(f"{name}: model store setting removed")
    return 0


def _nothing_to_unset(repo: git.Repo, settings: dict[str, str], name: str) -> UserError:
    """Why ``remote unset NAME`` removed nothing: where its store comes from, if anywhere."""
    key = f"remote.{name}.modelurl"
    own = git.config_list(repo.cwd)  # every scope, without .gitmodel
    if key in own:
        return UserError(f"{name}'s model store is not set in this repository's git config",
                         hint=f"`git config --show-origin --get-all {key}` shows where it is "
                         "set: remove it there")  # fmt: skip
    if key in settings:
        return UserError(f"{name}'s model store comes from the committed {git.SHARED_CONFIG}",
                         hint=f"remove it from {git.SHARED_CONFIG} and commit that, or "
                         f"override it: git model remote set {name} URL")  # fmt: skip
    local = git.config_list(repo.cwd, file=repo.common_dir / "config")
    have = [n for n in git.remote_names(settings) if f"remote.{n}.modelurl" in local]
    if have:
        hint = f"remotes with a store set here: {', '.join(have)}"
    else:
        hint = (
            "no remote has one set in this repository's git config "
            "(`git model remote` lists each remote's store)"
        )
    return UserError(f"{name} has no model store set", hint=hint)
