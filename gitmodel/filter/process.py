"""The long-running filter process (``filter.model.process``).

Protocol: Git's ``Documentation/gitattributes.txt``, "Long Running Filter
Process". stdout carries protocol bytes only; messages go to stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from gitmodel.errors import GitModelError, ObjectMissingError, ProtocolError
from gitmodel.filter.convert import MISSING_HINT, clean, read_blob, smudge
from gitmodel.filter.stream import PktReader, PktWriter
from gitmodel.pointer import Pointer, try_parse
from gitmodel.store.local import LocalStore
from gitmodel.trace import trace

CAPABILITIES = ("clean", "smudge", "delay")

# Decides whether a large file is written later, straight from the store
# (returns True after recording it), instead of through Git's smudge pipe.
Deferrer = Callable[[str, Pointer], bool]


class FilterProcess:
    """Serves clean and smudge requests until Git closes the pipe."""

    def __init__(
        self,
        store: LocalStore,
        reader: PktReader,
        writer: PktWriter,
        skip_smudge: bool = False,
        fetch: Callable[[Pointer], bool] | None = None,
        defer: Deferrer | None = None,
    ) -> None:
        self.store = store
        self.reader = reader
        self.writer = writer
        self.skip_smudge = skip_smudge
        self.fetch = fetch
        self.defer = defer
        self.capabilities: set[str] = set()

    def run(self) -> None:
        self.handshake()
        while (request := self._read_request()) is not None:
            command = request.get("command")
            trace(f"{command} {request.get('pathname', '')}")
            if command == "clean":
                self._clean(request)
            elif command == "smudge":
                self._smudge(request)
            elif command == "list_available_blobs":
                self.writer.write_flush()
                self.writer.write_text("status=success")
            else:
                raise ProtocolError(f"unknown filter command {command!r}")

    def handshake(self) -> None:
        welcome = self.reader.read_text_list()
        if welcome[:1] != ["git-filter-client"] or "version=2" not in welcome[1:]:
            raise ProtocolError("git did not offer filter protocol version 2")
        self.writer.write_text("git-filter-server", "version=2")
        offered = {line.removeprefix("capability=") for line in self.reader.read_text_list()}
        self.capabilities = offered.intersection(CAPABILITIES)
        self.writer.write_text(*(f"capability={c}" for c in CAPABILITIES if c in offered))

    def _read_request(self) -> dict[str, str] | None:
        first = self.reader.read_packet()
        if first is None:
            return None
        lines = [first.decode("utf-8", "surrogateescape").rstrip("\n")] if first else []
        if first:
            lines += self.reader.read_text_list()
        request = {}
        for line in lines:
            key, sep, value = line.partition("=")
            if not sep:
                raise ProtocolError(f"malformed filter request line {line[:80]!r}")
            request[key] = value
        return request

    def _clean(self, request: dict[str, str]) -> None:
        try:
            result = clean(self.store, self.reader.read_content())
        except ProtocolError:
            raise
        except GitModelError as exc:
            _report(request, exc)
            self.writer.write_text("status=error")
            return
        self._respond(result)

    def _smudge(self, request: dict[str, str]) -> None:
        path = request.get("pathname", "")
        blob, _ = read_blob(self.reader.read_content(), limit=1 << 62)
        pointer = None if self.skip_smudge else try_parse(blob)
        if pointer is not None:
            if not self.store.has(pointer.oid) and self.fetch is not None:
                self.fetch(pointer)
            if not self.store.has(pointer.oid):
                _report(request, ObjectMissingError(pointer.oid, path, MISSING_HINT))
                self.writer.write_text("status=error")
                return
            if self.defer is not None and self.defer(path, pointer):
                self._respond(blob)
                return
        self.writer.write_text("status=success")
        try:
            smudge(self.store, [blob], self._write_content, path, self.skip_smudge)
        except GitModelError as exc:
            # content may be partly sent: end it, then withdraw it
            _report(request, exc)
            self.writer.write_flush()
            self.writer.write_text("status=error")
            return
        self.writer.write_flush()
        self.writer.write_flush()
        self.writer.flush()

    def _write_content(self, data: bytes | bytearray | memoryview) -> None:
        self.writer.write_data(data)

    def _respond(self, content: bytes) -> None:
        self.writer.write_text("status=success")
        if content:
            self.writer.write_data(content)
        self.writer.write_flush()
        self.writer.write_flush()
        self.writer.flush()


def _report(request: dict[str, str], exc: GitModelError) -> None:
    path = request.get("pathname", "?")
    print(f"gitmodel: {request.get('command')} {path}: {exc}", file=sys.stderr)
    if exc.hint:
        print(f"hint: {exc.hint}", file=sys.stderr)
