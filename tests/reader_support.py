"""Published repositories for the tests of reads and deploys without a clone: a bare
origin, an author's clone that pushed to it, and a model store on S3 (moto, loopback)
named by a committed ``.gitmodel``, or the origin's own zero-configuration store."""

from __future__ import annotations

import json
import os
import struct
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from conftest import copy_of_template, git_model, git_out, run_git

PATTERNS = ("*.safetensors", "*.csv", "*.bin", "*.parquet")
COUNT_ENV = "GIT_MODEL_TEST_COUNT_FILE"


@dataclass
class Published:
    origin: Path
    work: Path

    @property
    def url(self) -> str:
        return f"file://{self.origin}"

    def commit(self, message: str, files: dict[str, bytes], push: bool = True) -> str:
        for name, data in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        run_git("add", "-A", cwd=self.work)
        run_git("commit", "-qm", message, cwd=self.work)
        if push:
            self.push()
        return git_out("rev-parse", "HEAD", cwd=self.work).strip()

    def push(self) -> None:
        run_git("push", "-q", "origin", "HEAD:main", cwd=self.work)

    def model(self, *args: str) -> str:
        return git_model(*args, cwd=self.work).stdout.decode()


def publish(tmp_path: Path, s3_endpoint: str | None = None) -> Published:
    """An empty published repository tracking :data:`PATTERNS`; with ``s3_endpoint``,
    its model store is a fresh S3 bucket, named in a committed ``.gitmodel``. Without,
    a copy of one published once in this process, the author's remote pointed at it."""
    if s3_endpoint is not None:
        return build_published(tmp_path, s3_endpoint)
    copy_of_template("published", build_published, tmp_path)
    published = Published(tmp_path / "origin.git", tmp_path / "author")
    run_git("remote", "set-url", "origin", str(published.origin), cwd=published.work)
    return published


def build_published(tmp_path: Path, s3_endpoint: str | None = None) -> Published:
    tmp_path.mkdir(exist_ok=True)
    origin = tmp_path / "origin.git"
    run_git("init", "-q", "--bare", str(origin), cwd=tmp_path)
    work = tmp_path / "author"
    run_git("clone", "-q", str(origin), str(work), cwd=tmp_path)
    git_model("install", "--local", cwd=work)
    git_model("track", *PATTERNS, cwd=work)
    files: dict[str, bytes] = {}
    if s3_endpoint is not None:
        import s3fs

        bucket = f"models-{uuid.uuid4().hex[:12]}"
        s3fs.S3FileSystem(endpoint_url=s3_endpoint).mkdir(bucket)
        files[".gitmodel"] = (f'[remote "origin"]\n\tmodelurl = s3://{bucket}/store\n'
                              f"\tmodelendpoint = {s3_endpoint}\n").encode()  # fmt: skip
    published = Published(origin, work)
    published.commit("track model files", files)
    return published


def safetensors_bytes(tensors: dict[str, np.ndarray]) -> bytes:
    """A safetensors file, written by the safetensors library itself."""
    from safetensors.numpy import save

    return bytes(save(tensors))


def read_tensor(fs: Any, path: str, name: str) -> np.ndarray:
    """One tensor of a safetensors file on ``fs``: its header, then that tensor's bytes
    only, handed to the safetensors library as a one-tensor file."""
    from safetensors.numpy import load

    length = int.from_bytes(fs.cat_file(path, 0, 8), "little")
    header = json.loads(fs.cat_file(path, 8, 8 + length))
    entry = header[name]
    begin, end = entry["data_offsets"]
    raw = fs.cat_file(path, 8 + length + begin, 8 + length + end)
    one = json.dumps({name: {**entry, "data_offsets": [0, end - begin]}}).encode()
    tensors: dict[str, np.ndarray] = load(struct.pack("<Q", len(one)) + one + raw)
    return tensors[name]


def received(count_file: Path) -> int:
    """Bytes read from model remotes, as ``GIT_MODEL_TEST_COUNT_FILE`` counted them."""
    if not count_file.exists():
        return 0
    return sum(int(line.split()[2]) for line in count_file.read_text().splitlines())


def random_tensor(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)


def environ_with(**values: str) -> dict[str, str]:
    return {**os.environ, **values}
