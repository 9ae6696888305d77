"""``git model remote``: where each Git remote's model objects are stored."""

from __future__ import annotations

from gitmodel import git
from gitmodel.errors import UserError
from gitmodel.remote.config import ModelRemote, default_remote_name, remote_for
from gitmodel.urls import redact
from gitmodel.workspace import open_repo


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


def set_url(name: str | None, url: str) -> int:
    repo, _ = open_repo()
    settings = repo.settings()
    name = name or default_remote_name(settings)
    if name is None or f"remote.{name}.url" not in settings:
        raise UserError(
            f"no Git remote named {name!r}", hint="add it first: git remote add NAME URL"
        )
    if "@" in url.split("://", 1)[-1].split("/", 1)[0]:
        raise UserError(
            "refusing to store credentials in git config",
            hint="give the URL without user:password; credentials come from the environment",
        )
    remote = ModelRemote(name, url)
    remote.open()  # a bad scheme or a missing backend fails here, before anything is saved
    git.config_set(f"remote.{name}.modelurl", url, "local", repo.cwd)
    print(f"{name}: model objects go to {redact(url)}")
    return 0


def unset(name: str | None) -> int:
    repo, _ = open_repo()
    settings = repo.settings()
    name = name or default_remote_name(settings)
    if name is None:
        raise UserError("no Git remote to use", hint="name one: git model remote unset NAME")
    git.config_unset(f"remote.{name}.modelurl", "local", repo.cwd)
    print(f"{name}: model store setting removed")
    return 0
