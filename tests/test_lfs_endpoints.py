"""Which LFS endpoint a Git remote has, and which SSH target: git-lfs's rules, and the
hostile URLs that must never reach ``ssh`` as an option or a shell word."""

from __future__ import annotations

import pytest

from gitmodel.git.ssh import Target, target_of
from gitmodel.remote.config import lfs_endpoint


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("https://host.example/org/repo.git", "https://host.example/org/repo.git/info/lfs"),
        ("https://host.example/org/repo", "https://host.example/org/repo.git/info/lfs"),
        ("https://host.example:8443/r.git/", "https://host.example:8443/r.git/info/lfs"),
        ("http://127.0.0.1:9000/a/b", "http://127.0.0.1:9000/a/b.git/info/lfs"),
        ("ssh://git@host.example/org/repo.git", "https://host.example/org/repo.git/info/lfs"),
        ("ssh://git@host.example:2222/org/repo", "https://host.example/org/repo.git/info/lfs"),
        ("git@host.example:org/repo.git", "https://host.example/org/repo.git/info/lfs"),
        ("/srv/repo.git", None),
        ("file:///srv/repo.git", None),
        ("ext::sh -c evil", None),
    ],
)
def test_the_endpoint_is_derived_as_git_lfs_derives_it(url: str, endpoint: str | None) -> None:
    assert lfs_endpoint(url) == endpoint


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("ssh://git@host.example:2222/org/repo.git",
         Target("git@host.example", 2222, "org/repo.git")),
        ("git@host.example:org/repo.git", Target("git@host.example", None, "org/repo.git")),
        ("ssh://host.example/~user/repo", Target("host.example", None, "~user/repo")),
    ],
)  # fmt: skip
def test_ssh_targets(url: str, target: Target) -> None:
    assert target_of(url) == target


@pytest.mark.parametrize(
    "url",
    [
        "ssh://-oProxyCommand=touch%20pwned/repo",  # an option as the host
        "-oProxyCommand=touch pwned:repo",
        "git@host.example:repo;touch pwned",  # a shell word in the path
        "git@host.example:$(touch pwned)",
        "git@host.example:-repo",
        "git@host.example:../../etc",
        "ssh://host.example/a b",
        "https://host.example/repo",  # not SSH at all
    ],
)
def test_hostile_ssh_urls_have_no_target(url: str) -> None:
    assert target_of(url) is None
