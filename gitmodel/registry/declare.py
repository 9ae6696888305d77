"""Model declarations: the committed file ``.gitmodel-registry.json`` at the repository top.

::

    {"models": {
       "classifier": {
         "paths": ["models/classifier"],          # files or folders (shards + config)
         "description": "ticket classifier",
         "stages": ["dev", "staging", "production"],
         "policy": {                              # rules checked by `git model promote`
           "production": {"after": "staging",     # must be held by staging now
                          "metrics": {"accuracy": ">= 0.9", "loss": "< 0.4"},
                          "on_remote": true,      # every object on the model remote
                          "verify": true,         # every object in the local store, re-hashed
                          "approvals": {"count": 1,   # approved change requests needed
                                        "from": "keys/allowed_signers",  # or [emails]
                                        "require_signed": true}}}}},
     "branch": "main"}                            # whose first-parent history numbers versions

Read from the worktree (like ``.gitattributes``), so a declaration is shared by committing
it. Everything read here is validated before use: names, stages, paths and rules.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, TypeGuard

from gitmodel import git, safepath
from gitmodel.errors import UserError
from gitmodel.store.local import write_atomically

REGISTRY_FILE = ".gitmodel-registry.json"
DEFAULT_STAGES = ("dev", "staging", "production")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_STAGE_RE = re.compile(r"[a-z][a-z0-9_-]{0,39}")
_THRESHOLD_RE = re.compile(
    r"\s*(>=|<=|==|>|<)\s*(-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*"
)
_RULE_KEYS = frozenset({"after", "metrics", "on_remote", "verify", "approvals"})
_APPROVAL_KEYS = frozenset({"count", "from", "require_signed"})
_EMAIL_RE = re.compile(r"[^@\s<>,\x00-\x1f\x7f]{1,64}@[^@\s<>,\x00-\x1f\x7f]{1,255}")
MAX_APPROVALS = 20
_FIX = f"fix {REGISTRY_FILE} (see README: Registry)"


@dataclass(frozen=True)
class Threshold:
    """One metric rule, e.g. ``accuracy >= 0.9``."""

    metric: str
    op: str
    value: float

    def holds(self, actual: float) -> bool:
        ops = {
            ">=": actual >= self.value,
            "<=": actual <= self.value,
            ">": actual > self.value,
            "<": actual < self.value,
            "==": actual == self.value,
        }
        return ops[self.op]

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


@dataclass(frozen=True)
class Approvals:
    """How many approvals of a change request a promotion needs, and from whom: any
    of ``emails`` (empty: anyone), or with ``signers_file`` (a committed SSH
    allowed-signers file, ``require_signed``) anyone it lists, each approval's commit
    signed by that person's listed key. Never the requester."""

    count: int = 1
    emails: tuple[str, ...] = ()
    signers_file: str | None = None

    @property
    def require_signed(self) -> bool:
        return self.signers_file is not None

    def describe(self) -> str:
        """``2 signed approvals from keys/allowed_signers``, ``1 approval from a@x.com``."""
        signed = "signed " if self.signers_file else ""
        what = f"{self.count} {signed}approval{'s' if self.count > 1 else ''}"
        who = self.signers_file or ", ".join(self.emails)
        return f"{what} from {who}" if who else what


@dataclass(frozen=True)
class Rule:
    """What promoting to one stage requires."""

    after: str | None = None
    metrics: tuple[Threshold, ...] = ()
    on_remote: bool = False
    verify: bool = False
    approvals: Approvals | None = None


@dataclass(frozen=True)
class Model:
    """One declared model."""

    name: str
    paths: tuple[str, ...]
    description: str = ""
    stages: tuple[str, ...] = DEFAULT_STAGES
    policy: dict[str, Rule] = field(default_factory=dict)

    def covers(self, path: str) -> bool:
        """True when repository path ``path`` is one of the model's files."""
        return any(path == p or path.startswith(p.rstrip("/") + "/") for p in self.paths)

    def check_stage(self, stage: str) -> str:
        if stage not in self.stages:
            raise UserError(
                f"{self.name} has no stage {stage!r}",
                hint=f'its stages are {", ".join(self.stages)} ("stages" in {REGISTRY_FILE})',
            )
        return stage


@dataclass(frozen=True)
class Registry:
    """Every declared model, and the branch that numbers versions."""

    models: dict[str, Model]
    branch: str | None = None

    def model(self, name: str) -> Model:
        found = self.models.get(name)
        if found is None:
            known = ", ".join(sorted(self.models)) or "none yet"
            raise UserError(
                f"no model named {name!r} (declared: {known})",
                hint="declare it with `git model register NAME PATH…`",
            )
        return found


def is_valid_name(name: object) -> TypeGuard[str]:
    """True when ``name`` may name a model (see :func:`valid_name`)."""
    return isinstance(name, str) and _NAME_RE.fullmatch(name) is not None


def valid_name(name: str) -> str:
    if not is_valid_name(name):
        raise UserError(
            f"invalid model name {name[:120]!r}",
            hint="a model name starts with a letter or digit, then letters, digits, "
            "'.', '_' or '-', 100 characters at most",
        )
    return name


def is_valid_stage(stage: object) -> TypeGuard[str]:
    """True when ``stage`` may name a stage (see :func:`valid_stage`)."""
    return (
        isinstance(stage, str)
        and _STAGE_RE.fullmatch(stage) is not None
        and re.fullmatch(r"v[0-9]+", stage) is None
    )


def valid_stage(stage: str) -> str:
    """A stage name: lowercase, and never one that reads as a version number (``v3``)."""
    if not is_valid_stage(stage):
        raise UserError(
            f"invalid stage name {stage[:120]!r}",
            hint="a stage name starts with a lowercase letter, then lowercase letters, "
            "digits, '_' or '-', 40 characters at most, and is not vN",
        )
    return stage


def valid_path(path: str) -> str:
    """A repository-relative POSIX path that cannot escape its root (see
    :func:`gitmodel.safepath.is_valid`), with ``./`` and doubled slashes dropped."""
    pure = PurePosixPath(path).as_posix()
    if "\\" in path or not safepath.is_valid(pure):
        raise UserError(f"invalid model path {path!r}", hint="use a path inside the repository")
    return pure


def load(repo: git.Repo) -> Registry:
    """The registry declared in the worktree (empty when there is no file)."""
    path = repo.top / REGISTRY_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Registry({})
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {REGISTRY_FILE}: {exc}", hint=_FIX) from exc
    return parse(raw)


def parse(raw: Any) -> Registry:
    """Validate the decoded file."""
    if not isinstance(raw, dict) or not isinstance(raw.get("models", {}), dict):
        raise UserError(f'{REGISTRY_FILE} must be an object with a "models" object', hint=_FIX)
    branch = raw.get("branch")
    if branch is not None and (not isinstance(branch, str) or not branch):
        raise UserError(f'"branch" in {REGISTRY_FILE} must be a branch name', hint=_FIX)
    models = {valid_name(name): _model(name, spec) for name, spec in raw.get("models", {}).items()}
    return Registry(models, branch)


def _model(name: str, spec: Any) -> Model:
    if not isinstance(spec, dict):
        raise UserError(f"model {name!r} must be an object", hint=_FIX)
    paths = spec.get("paths")
    if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
        raise UserError(f'model {name!r} needs "paths": a list of files or folders', hint=_FIX)
    stages = spec.get("stages", list(DEFAULT_STAGES))
    if not isinstance(stages, list) or not stages or not all(isinstance(s, str) for s in stages):
        raise UserError(f'"stages" of {name!r} must be a list of names', hint=_FIX)
    stages = [valid_stage(s) for s in stages]
    twice = next((s for i, s in enumerate(stages) if s in stages[:i]), None)
    if twice is not None:
        raise UserError(f'"stages" of {name!r} lists {twice!r} twice', hint=_FIX)
    policy = spec.get("policy", {})
    if not isinstance(policy, dict):
        raise UserError(f'"policy" of {name!r} must map stages to rules', hint=_FIX)
    rules = {stage: _rule(name, stage, rule, stages) for stage, rule in policy.items()}
    _check_after(name, rules)
    description = spec.get("description", "")
    return Model(
        name,
        tuple(valid_path(p.rstrip("/")) for p in paths),
        str(description),
        tuple(stages),
        rules,
    )


def _rule(model: str, stage: str, spec: Any, stages: list[str]) -> Rule:
    where = f"policy of {model!r} for stage {stage!r}"
    if stage not in stages or not isinstance(spec, dict) or set(spec) - _RULE_KEYS:
        raise UserError(
            f"invalid {where}", hint=f"a declared stage → keys among {sorted(_RULE_KEYS)}"
        )
    after = spec.get("after")
    if after is not None and after not in stages:
        raise UserError(f'{where}: "after" names no stage of the model', hint=_FIX)
    metrics = spec.get("metrics", {})
    if not isinstance(metrics, dict):
        raise UserError(f'{where}: "metrics" must map names to thresholds', hint=_FIX)
    thresholds = tuple(parse_threshold(k, v) for k, v in sorted(metrics.items()))
    approvals = _approvals(where, spec["approvals"]) if "approvals" in spec else None
    on_remote, verify = (_flag(where, spec, key) for key in ("on_remote", "verify"))
    return Rule(after, thresholds, on_remote, verify, approvals)


def _flag(where: str, spec: dict[str, Any], key: str) -> bool:
    value = spec.get(key, False)
    if not isinstance(value, bool):
        raise UserError(f'{where}: "{key}" must be true or false', hint=_FIX)
    return value


def _check_after(model: str, rules: dict[str, Rule]) -> None:
    """Refuse "after" rules that lead back to where they start (nothing could be promoted)."""
    for start in rules:
        chain = [start]
        while (after := rules[chain[-1]].after if chain[-1] in rules else None) is not None:
            if after in chain:
                loop = " after ".join([*chain[chain.index(after) :], after])
                raise UserError(
                    f'policy of {model!r}: "after" rules go round in a loop ({loop}), '
                    "so no version could ever be promoted there",
                    hint=f'make "after" name an earlier stage; {_FIX}',
                )
            chain.append(after)


def _approvals(where: str, spec: Any) -> Approvals:
    """``{"count": N, "from": [emails] | "allowed_signers path", "require_signed": bool}``."""
    where = f'{where}: "approvals"'
    if not isinstance(spec, dict) or set(spec) - _APPROVAL_KEYS:
        raise UserError(
            f"{where} must be an object with keys among {sorted(_APPROVAL_KEYS)}", hint=_FIX
        )
    count = spec.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_APPROVALS:
        raise UserError(f'{where}: "count" must be a number from 1 to {MAX_APPROVALS}', hint=_FIX)
    signed, source = spec.get("require_signed", False), spec.get("from", [])
    if not isinstance(signed, bool):
        raise UserError(f'{where}: "require_signed" must be true or false', hint=_FIX)
    if signed:
        if not isinstance(source, str):
            raise UserError(
                f'{where}: with "require_signed", "from" names the committed allowed-signers '
                "file that lists the approvers and their keys",
                hint='e.g. "from": "keys/allowed_signers" (see README: Change management)',
            )
        try:
            return Approvals(count, (), valid_path(source))
        except UserError:
            raise UserError(
                f'{where}: "from" names {source!r}, which is not a path inside the repository',
                hint='name the committed allowed-signers file, e.g. "keys/allowed_signers"',
            ) from None
    if isinstance(source, str):
        raise UserError(
            f'{where}: "from" names a file of signers, which needs "require_signed": true',
            hint='set "require_signed": true, or list emails: "from": ["a@example.com"]',
        )
    if not isinstance(source, list) or not all(
        isinstance(e, str) and _EMAIL_RE.fullmatch(e) for e in source
    ):
        raise UserError(f'{where}: "from" must be a list of email addresses', hint=_FIX)
    return Approvals(count, tuple(sorted({e.lower() for e in source})))


def parse_threshold(metric: str, text: Any) -> Threshold:
    """``">= 0.9"`` → Threshold(metric, ">=", 0.9)."""
    match = _THRESHOLD_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise UserError(
            f"invalid threshold {text!r} for metric {metric!r}",
            hint='write it as ">= 0.9", "< 0.4" or "== 1"',
        )
    return Threshold(metric, match[1], float(match[2]))


def add_model(repo: git.Repo, model: Model) -> Path:
    """Write ``model`` into the declaration file (atomically); its path."""
    path = repo.top / REGISTRY_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raw = {}
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {REGISTRY_FILE}: {exc}", hint=_FIX) from exc
    if model.name in parse(raw).models:  # parse: refuse to build on a broken file
        raise UserError(
            f"{model.name} is already registered", hint=f"edit its entry in {REGISTRY_FILE}"
        )
    entry: dict[str, Any] = {"paths": list(model.paths)}
    if model.description:
        entry["description"] = model.description
    if model.stages != DEFAULT_STAGES:
        entry["stages"] = list(model.stages)
    raw.setdefault("models", {})[model.name] = entry
    write_atomically(path, [(json.dumps(raw, indent=2, sort_keys=True) + "\n").encode()])
    return path
