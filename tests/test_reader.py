"""gitmodel:// and gitmodel.open(repo=URL): any version of a published repository read
without a clone, against S3 on loopback (moto) and a local bare repository."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import fsspec
import numpy as np
import pytest
from conftest import git_out, need_disk, run_git
from reader_support import (
    COUNT_ENV,
    Published,
    publish,
    random_tensor,
    read_tensor,
    received,
    safetensors_bytes,
)

import gitmodel
from gitmodel.errors import GitModelError, UserError
from gitmodel.reader.fs import GitModelFileSystem
from gitmodel.reader.source import cache_root

MIB = 1 << 20


@pytest.fixture
def s3_published(tmp_path: Path, s3_endpoint: str, aws_env: None) -> Published:
    return publish(tmp_path, s3_endpoint)


@pytest.fixture
def local_published(tmp_path: Path) -> Published:
    return publish(tmp_path)


def tensors() -> dict[str, np.ndarray]:
    return {
        "embed": random_tensor((1024, 2048), 1),  # 8 MiB
        "layer.0": random_tensor((1024, 1024), 2),  # 4 MiB: the one read
        "layer.1": random_tensor((1024, 2048), 3),
        "zeros": np.zeros((4096, 1024), dtype=np.float32),
    }


def open_fs(published: Published, **options: object) -> GitModelFileSystem:
    return GitModelFileSystem(repo=published.url, skip_instance_cache=True, **options)


def test_one_tensor_moves_only_its_chunks_from_s3(
    s3_published: Published, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tensors()
    commit = s3_published.commit("v1", {"models/clf/model.safetensors": safetensors_bytes(model)})
    count = tmp_path / "count"
    monkeypatch.setenv(COUNT_ENV, str(count))
    fs = open_fs(s3_published, rev="main")
    assert fs.commit == commit
    tensor = read_tensor(fs, "models/clf/model.safetensors", "layer.0")
    np.testing.assert_array_equal(tensor, model["layer.0"])
    moved = received(count)
    assert 0 < moved <= 1.1 * 4 * MIB + (256 << 10), moved  # the tensor, header, manifest
    count.unlink()
    again = open_fs(s3_published, rev=commit)
    np.testing.assert_array_equal(read_tensor(again, "models/clf/model.safetensors", "layer.0"),
                                  model["layer.0"])  # fmt: skip
    assert received(count) == 0  # chunks in the cache are never fetched again


def test_pandas_reads_each_version_of_a_csv_and_a_parquet_file(s3_published: Published) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    table = pd.DataFrame({"id": range(1000), "score": [i / 7 for i in range(1000)]})
    parquet = pd.io.common.BytesIO()
    table.to_parquet(parquet)
    v1 = s3_published.commit("v1", {"data/events.csv": b"id,score\n1,0.5\n2,0.7\n",
                                    "data/events.parquet": parquet.getvalue()})  # fmt: skip
    s3_published.commit("v2", {"data/events.csv": b"id,score\n1,0.5\n2,0.7\n3,0.9\n"})
    url = f"gitmodel://data/events.csv?repo={s3_published.url}"
    old = pd.read_csv(f"{url}&rev={v1}")
    new = pd.read_csv(f"{url}&rev=main")
    assert list(old["id"]) == [1, 2]
    assert list(new["id"]) == [1, 2, 3]
    read = pd.read_parquet(f"gitmodel://data/events.parquet?repo={s3_published.url}&rev={v1}")
    pd.testing.assert_frame_equal(read, table)


def test_dask_reads_a_versioned_csv_folder_with_two_workers(local_published: Published) -> None:
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    parts = {f"data/part-{i}.csv": f"id,value\n{2 * i},{i}\n{2 * i + 1},{-i}\n".encode()
             for i in range(6)}  # fmt: skip
    v1 = local_published.commit("v1", parts)
    local_published.commit("v2", {"data/part-0.csv": b"id,value\n0,100\n1,100\n"})
    url = f"gitmodel://data/part-*.csv?repo={local_published.url}&rev={v1}"
    frame = dd.read_csv(url).compute(scheduler="processes", num_workers=2)
    expected = pd.concat(pd.read_csv(pd.io.common.BytesIO(parts[name])) for name in sorted(parts))
    assert sorted(frame["id"]) == sorted(expected["id"])
    assert sorted(frame["value"]) == sorted(expected["value"])


def test_a_stage_reads_what_it_serves_and_follows_promotions(local_published: Published) -> None:
    first = {"models/clf/w.bin": b"\x01" * 300_000, "models/clf/config.json": b'{"n": 1}'}
    local_published.commit("v1", first, push=False)
    local_published.model("register", "clf", "models/clf")
    local_published.commit("register clf", {})
    local_published.model("promote", "clf@v1", "production")
    local_published.commit("v2", {"models/clf/w.bin": b"\x02" * 300_000})
    stage = {"stage": "clf@production"}
    assert open_fs(local_published, **stage).cat_file("models/clf/w.bin")[:1] == b"\x01"
    local_published.model("promote", "clf@v2", "production")
    local_published.push()
    fs = open_fs(local_published, **stage)
    assert fs.version == 2
    assert fs.cat_file("models/clf/w.bin") == b"\x02" * 300_000
    assert fs.cat_file("models/clf/config.json") == b'{"n": 1}'
    with gitmodel.open("models/clf/w.bin", stage="production", repo=local_published.url) as f:
        assert f.read(3) == b"\x02\x02\x02"
    with gitmodel.open("models/clf/w.bin", stage="production", repo=local_published.origin) as f:
        assert f.read(3) == b"\x02\x02\x02"  # a bare repository's path: read as its URL
    assert gitmodel.resolve("clf", "production", repo=local_published.url).primary.version == 2
    workers_copy = pickle.loads(pickle.dumps(fs))  # pinned to the commit it resolved
    assert workers_copy.commit == fs.commit
    assert workers_copy.cat_file("models/clf/w.bin", 10, 13) == b"\x02\x02\x02"


def registry_fetches(trace: Path) -> int:
    """The fetches of the registry log's ref that ``GIT_TRACE`` wrote to ``trace``."""
    lines = trace.read_text().splitlines() if trace.exists() else []
    return sum("built-in: git fetch" in line and "refs/gitmodel/registry" in line
               for line in lines)  # fmt: skip


def published_clf(published: Published) -> None:
    """clf v1 (bytes 0x01) in production, v2 (bytes 0x02) committed, all pushed."""
    published.commit("v1", {"models/clf/w.bin": b"\x01" * 300_000}, push=False)
    published.model("register", "clf", "models/clf")
    published.commit("register clf", {}, push=False)
    published.model("promote", "clf@v1", "production")
    published.commit("v2", {"models/clf/w.bin": b"\x02" * 300_000})


@pytest.mark.parametrize("stage", ["production", "clf@production"])
def test_a_read_by_stage_fetches_the_registry_log_once(
    local_published: Published, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    published_clf(local_published)
    trace = tmp_path / "trace"
    monkeypatch.setenv("GIT_TRACE", str(trace))
    with gitmodel.open("models/clf/w.bin", stage=stage, repo=local_published.url) as f:
        assert f.read() == b"\x01" * 300_000
    assert registry_fetches(trace) == 1


def test_each_read_by_stage_reads_one_version_whole_as_the_stage_moves(
    local_published: Published,
) -> None:
    published_clf(local_published)

    def read(*move: str, stage: str = "production") -> bytes:
        with gitmodel.open("models/clf/w.bin", stage=stage, repo=local_published.url) as f:
            head = f.read(100_000)
            if move:  # the stage moves while the file is read
                local_published.model(*move)
                local_published.push()
            return head + f.read()

    assert read("promote", "clf@v2", "production", "--weight", "10") == b"\x01" * 300_000
    assert read() == b"\x01" * 300_000  # canary v2 at 10%: a read takes the main version
    assert read("promote", "clf@v2", "production") == b"\x01" * 300_000
    assert read() == b"\x02" * 300_000  # the next read sees the promotion
    assert read(stage="clf@production") == b"\x02" * 300_000
    assert read("rollback", "clf", "production") == b"\x02" * 300_000
    assert read() == b"\x01" * 300_000


def test_a_bad_stage_is_one_line_error_with_a_hint(local_published: Published) -> None:
    published_clf(local_published)
    cases = [
        ({"rev": "main", "stage": "production"}, "give rev or stage, not both"),
        ({"stage": "clf@"}, "nothing after '@'"),
        ({"stage": "staging"}, "no model of .* serves models/clf/w.bin in staging"),
        ({"stage": "clf@staging"}, "clf has no version in staging"),
    ]
    for options, message in cases:
        with pytest.raises(UserError, match=message) as caught:
            gitmodel.open("models/clf/w.bin", repo=local_published.url, **options)
        assert "\n" not in str(caught.value) and caught.value.hint
    with pytest.raises(UserError, match="names no stage"):
        open_fs(local_published, stage="clf")


def test_ls_info_glob_open_and_plain_git_files(local_published: Published) -> None:
    plain = bytes(range(256)) * 40  # 10 KiB: left out by the blob filter, fetched on use
    data = random_tensor((256, 256), 7).tobytes()
    local_published.commit("v1", {"a/x.bin": data, "a/b/y.csv": b"k\n1\n", "notes.txt": plain})
    fs = open_fs(local_published)
    assert fs.ls("", detail=False) == [".gitattributes", "a", "notes.txt"]
    assert fs.info("a/x.bin")["size"] == len(data)
    assert fs.info("notes.txt")["size"] == len(plain)
    assert fs.info("a/b")["type"] == "directory"
    assert fs.glob("**/*.csv") == ["a/b/y.csv"]
    assert fs.cat_file("notes.txt", -10) == plain[-10:]
    assert fs.cat_file("a/x.bin", 1000, 2000) == data[1000:2000]
    with fs.open("a/x.bin", block_size=4096) as f:
        f.seek(50_000)
        assert f.read(100) == data[50_000:50_100]
    with pytest.raises(FileNotFoundError):
        fs.info("nope")
    with pytest.raises(PermissionError):
        fs.open("a/x.bin", "wb")
    with gitmodel.open("a/x.bin", rev="main", repo=local_published.url) as f:
        assert f.read() == data


def test_chunks_of_a_local_store_are_not_fetched(
    local_published: Published, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = random_tensor((512, 1024), 9).tobytes()
    local_published.commit("v1", {"w.bin": data})
    count = tmp_path / "count"
    monkeypatch.setenv(COUNT_ENV, str(count))
    fs = open_fs(local_published, store=str(local_published.work / ".git" / "model"))
    assert fs.cat_file("w.bin", 4096, 8192) == data[4096:8192]
    assert received(count) == 0


@pytest.mark.parametrize("repo", ["ext::sh -c touch% /tmp/pwned", "-oProxyCommand=x", "a\nb"])
def test_a_hostile_repository_url_is_refused(repo: str) -> None:
    with pytest.raises(UserError, match="not a repository URL"):
        GitModelFileSystem(repo=repo)


@pytest.mark.parametrize("rev", ["main:refs/heads/x", "--upload-pack=touch", "HEAD~1", "+main"])
def test_a_revision_that_is_not_a_ref_or_commit_id_is_refused(
    local_published: Published, rev: str
) -> None:
    with pytest.raises(UserError, match="without a clone"):
        open_fs(local_published, rev=rev)


@pytest.mark.parametrize(
    ("name", "body", "said"),
    [
        (".gitmodel", '[remote "origin"]\n\tmodelurl = ssh://--oProxyCommand=x/y\n',
         "committed .gitmodel sets remote.origin.modelurl to 'ssh://--oProxyCommand=x/y': "
         "a store URL must start with"),
        (".lfsconfig", "[lfs]\n\turl = -oFoo\n",
         "committed .lfsconfig sets lfs.url to '-oFoo': an endpoint must be an http"),
    ],
)  # fmt: skip
def test_a_bad_committed_value_names_its_file_key_and_value(
    local_published: Published, name: str, body: str, said: str
) -> None:
    local_published.commit("bad store", {name: body.encode(), "w.bin": b"w" * 2000}, push=False)
    run_git("push", "-q", "--no-verify", "origin", "HEAD:main", cwd=local_published.work)
    with pytest.raises(
        UserError, match=re.escape(f"{local_published.url}: the repository's {said}")
    ):
        open_fs(local_published).cat_file("w.bin", 0, 4)


def test_a_malformed_committed_gitmodel_is_named_and_ignored(
    local_published: Published, capfd: pytest.CaptureFixture[str]
) -> None:
    local_published.commit("bad syntax", {".gitmodel": b"[remote\n", "w.bin": b"w" * 2000})
    assert open_fs(local_published).cat_file("w.bin", 0, 4) == b"wwww"  # the origin's own store
    assert (
        f"the .gitmodel committed to {local_published.url} is not valid" in capfd.readouterr().err
    )


@pytest.mark.parametrize(
    ("rev", "said", "hint"),
    [("nope", "has no branch or tag named 'nope'", "git ls-remote"),
     ("SHORT", "has no branch or tag named", "in full (40 hex digits)"),
     ("0" * 40, f"has no commit {'0' * 40}", "never pushed")],
)  # fmt: skip
def test_a_revision_the_repository_does_not_have_says_so(
    local_published: Published, rev: str, said: str, hint: str
) -> None:
    head = git_out("rev-parse", "HEAD", cwd=local_published.work).strip()
    rev = {"SHORT": head[:12]}.get(rev, rev)
    with pytest.raises(UserError, match=re.escape(f"{local_published.url} {said}")) as caught:
        open_fs(local_published, rev=rev)
    assert hint in str(caught.value.hint)


def test_a_head_naming_a_branch_never_pushed_says_to_name_one(local_published: Published) -> None:
    """`git init --bare` names a default branch (master) while pushes went to main."""
    run_git("symbolic-ref", "HEAD", "refs/heads/never-pushed", cwd=local_published.origin)
    with pytest.raises(UserError) as caught:
        open_fs(local_published)
    assert str(caught.value) == (f"the HEAD of {local_published.url} names a branch that holds "
                                 "no commit")  # fmt: skip
    assert "rev=BRANCH" in str(caught.value.hint)
    assert open_fs(local_published, rev="main").ls("", detail=False)


def test_a_read_cache_that_cannot_be_made_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(UserError, match=r"cannot make the read cache in .*: Not a directory"):
        GitModelFileSystem(repo=str(tmp_path / "r.git"), cache_dir=str(tmp_path / "file"))


@pytest.mark.parametrize("url", ["-x", "models/store", "memory://store"])
def test_a_named_model_store_is_checked_as_a_configured_one(
    local_published: Published, url: str
) -> None:
    local_published.commit("v1", {"w.bin": b"w" * 2000})
    with pytest.raises(UserError, match=re.escape(f"the model store {url}: ")):
        open_fs(local_published, model_url=url)  # when opened, not at the first read


def test_unknown_url_keys_are_refused() -> None:
    with pytest.raises(UserError, match="unknown or repeated key"):
        fsspec.url_to_fs("gitmodel://x?repo=/r&branch=main")


def test_a_url_holding_two_colons_says_so(local_published: Published, tmp_path: Path) -> None:
    """fsspec splits a URL at ``::`` (a chain): cut there, repo= named another path."""
    local_published.commit("v1", {"a/x.bin": b"data"})
    colons = tmp_path / "a::b.git"
    run_git("clone", "-q", "--bare", local_published.url, str(colons), cwd=tmp_path)
    pwned = tmp_path / "pwned"
    for url in (f"gitmodel://a/x.bin?repo=ext::sh -c touch% {pwned}",
                f"simplecache::gitmodel://a/x.bin?repo={colons}"):  # fmt: skip
        with pytest.raises(UserError) as caught, fsspec.open(url) as f:
            f.read()
        said = str(caught.value)
        assert said.startswith("gitmodel:// URL: `::` is not accepted") and "\n" not in said
        assert caught.value.hint is not None and "without `::`" in caught.value.hint
    encoded = str(colons).replace("::", "%3A%3A")  # Git's `transport::address`: refused too
    with pytest.raises(UserError, match="not a repository URL"):
        fsspec.open(f"gitmodel://a/x.bin?repo={encoded}").open()
    assert not pwned.exists()


def test_a_damaged_chunk_on_the_remote_is_refused_and_not_cached(
    local_published: Published,
) -> None:
    data = random_tensor((256, 1024), 11).tobytes()
    local_published.commit("v1", {"w.bin": data})
    packs = list((local_published.origin / "model" / "remote" / "packs").glob("*/*"))
    assert len(packs) == 1
    body = bytearray(packs[0].read_bytes())
    body[100] ^= 1
    packs[0].chmod(0o644)
    packs[0].write_bytes(bytes(body))
    fs = open_fs(local_published)
    with pytest.raises(GitModelError, match="does not match its id"):
        fs.cat_file("w.bin", 0, 1000)
    with pytest.raises(GitModelError, match="does not match its id"):
        fs.cat_file("w.bin", 0, 1000)  # not cached: read, and refused, again


@pytest.mark.slow
def test_one_tensor_of_a_multi_gigabyte_model_from_s3(
    s3_published: Published, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need_disk(tmp_path, 6 << 30)  # the file and its stored copy
    model = {f"block.{i}": np.zeros((16384, 8192), dtype=np.float32) for i in range(5)}  # 2.5 GiB
    model["head"] = random_tensor((2048, 2048), 5)  # 16 MiB, the one read
    from safetensors.numpy import save_file

    save_file(model, str(s3_published.work / "model.safetensors"))
    s3_published.commit("big", {})
    del model["block.0"]
    count = tmp_path / "count"
    monkeypatch.setenv(COUNT_ENV, str(count))
    fs = open_fs(s3_published)
    assert fs.info("model.safetensors")["size"] > 2 << 30
    np.testing.assert_array_equal(read_tensor(fs, "model.safetensors", "head"), model["head"])
    assert received(count) <= 1.1 * 16 * MIB + (2 << 20)  # the tensor and a 2.5 GiB manifest


def test_hugging_face_datasets_loads_a_versioned_csv_folder(
    local_published: Published, tmp_path: Path
) -> None:
    datasets = pytest.importorskip("datasets")
    parts = {f"data/train-{i}.csv": f"text,label\nrow {2 * i},0\nrow {2 * i + 1},1\n".encode()
             for i in range(3)}  # fmt: skip
    v1 = local_published.commit("v1", parts)
    local_published.commit("v2", {"data/train-0.csv": b"text,label\nchanged,1\n"})
    options = {"repo": local_published.url, "rev": v1}
    loaded = datasets.load_dataset("csv", data_files="gitmodel://data/train-*.csv",
                                   storage_options=options, split="train")  # fmt: skip
    assert sorted(loaded["text"]) == sorted(f"row {n}" for n in range(6))
    # datasets keeps downloads by URL alone, so a second version of a path needs its own
    # cache (or download_mode="force_redownload"); the ETag tells the two versions apart
    newest = datasets.load_dataset("csv", data_files="gitmodel://data/train-0.csv",
                                   storage_options={"repo": local_published.url}, split="train",
                                   cache_dir=str(tmp_path / "hf-v2"))  # fmt: skip
    assert newest["text"] == ["changed"]
    info = GitModelFileSystem(repo=local_published.url, rev=v1).info("data/train-0.csv")
    assert info["ETag"] != open_fs(local_published).info("data/train-0.csv")["ETag"]


@pytest.mark.long
def test_ray_data_reads_a_versioned_csv_folder_on_two_workers(local_published: Published) -> None:
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    parts = {f"data/part-{i}.csv": f"id,value\n{2 * i},{i}\n{2 * i + 1},{-i}\n".encode()
             for i in range(4)}  # fmt: skip
    v1 = local_published.commit("v1", parts)
    local_published.commit("v2", {"data/part-0.csv": b"id,value\n0,100\n1,100\n"})
    fs = open_fs(local_published, rev=v1)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        rows = ray.data.read_csv("data", filesystem=fs, override_num_blocks=2).take_all()
    finally:
        ray.shutdown()
    assert sorted(row["id"] for row in rows) == list(range(8))
    assert sorted(row["value"] for row in rows) == sorted([0, 0, 1, -1, 2, -2, 3, -3])


def test_a_bad_model_url_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    published = publish(tmp_path)
    published.commit("v1", {"m/config.json": b"{}\n"})
    said = "the model store ftp://host/x: a store URL must start"
    with pytest.raises(UserError, match=said) as caught:
        GitModelFileSystem(repo=published.url, model_url="ftp://host/x", skip_instance_cache=True)
    assert caught.value.hint is not None and caught.value.hint.startswith("name it as")
    assert not (cache_root() / "repos").exists()  # refused before the repository was read
    with (
        pytest.raises(UserError, match="the model store"),
        fsspec.open(
            "gitmodel://m/config.json", repo=published.url, model_url="relative/store"
        ) as f,
    ):
        f.read()
