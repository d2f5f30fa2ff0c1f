"""Environment promotion: carry one change from the source environment's files to the target's.

Pure: texts in, texts out, each file's comments and layout kept (`controlplane.config.roundtrip`).
A `Promotion` rule decides *when* (the engine: time live, policies passing); this module decides
*what*: the edit of the target environment's YAML that applies the same change, model-aware.

Pair first, then diff. Resources are paired by (kind, name) across the source before the change,
the source after it and the target now; a pair the change left alone is not looked at. Then,
field by field, what the change touched is carried (a three-way merge onto the target), and
nothing else:

- **Models, Routes and Guardrails are carried**: added, changed (only the fields the change
  touched) and removed. Every other kind (Environment, GpuPool, Budget, Consumer, ...) says how
  one environment is run, so a change to one is left out and listed.
- **Per-environment fields** keep the target's own value unless the target agreed with the
  source before the change: a Model's `replicas`, a Route's `rateLimits` and its canary
  `percent` (`LOCAL_FIELDS`).
- **Fields that name something of the environment** are adapted (`ADAPTED_FIELDS`): a Model's
  `pool` (the same name in the target, else the pool the target's copies of the source's models
  use, else the one target pool with the same accelerator), `endpoint` (host labels mapped the way
  the target's copies of the source's models map them: `chat-v1.serving-staging.svc` is
  `chat-v1.serving.svc` in prod) and `apiKey` (a reference the target uses, or the target's
  counterpart). When no safe value is known the field is not written and a problem says so.
- A Route change whose result would name a Model or Guardrail the target does not have, a change
  to a Route the target does not have, and a removal something in the target still needs are
  problems, never silent drops; the rest of the change is still carried.

Carrying is idempotent: carrying the same change again finds the target already there and
edits nothing.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Collection, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, assert_never
from urllib.parse import urlsplit

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from controlplane.config.roundtrip import EditableYaml, load_editable
from controlplane.spec.promotion import Promotion

FieldPath = tuple[str, ...]

# The kinds a promotion carries, in the order they are carried: a route is carried after the
# models it names, so it is checked against what the target will hold.
CARRIED_KINDS = ("Model", "Guardrail", "Route")
# Fields whose value is the environment's own, carried only when the target agreed with the
# source before the change (a path and everything under it).
LOCAL_FIELDS: Mapping[str, tuple[FieldPath, ...]] = {
    "Model": (("spec", "replicas"),),
    "Route": (("spec", "rateLimits"), ("spec", "canary", "percent")),
}
# Fields that name something of the environment: a pool, an address, a credential.
ADAPTED_FIELDS: Mapping[str, tuple[FieldPath, ...]] = {
    "Model": (("spec", "pool"), ("spec", "endpoint"), ("spec", "apiKey")),
}
MODELINE = "# yaml-language-server:"
_VALUE_LIMIT = 120


class Action(StrEnum):
    ADD = "add"
    UPDATE = "update"
    REMOVE = "remove"


@dataclass(frozen=True)
class FieldChange:
    """One field of a target resource: its value before and after the carry ("" when absent)."""

    path: str  # spec.adapter.name
    old: str
    new: str

    def describe(self) -> str:
        if not self.old:
            return f"{self.path} set to {self.new}"
        if not self.new:
            return f"{self.path} removed (was {self.old})"
        return f"{self.path} {self.old} → {self.new}"


@dataclass(frozen=True)
class ResourceChange:
    """What the carry does to one resource of the target, and in which file."""

    resource: str  # Model/chat-v1
    action: Action
    file: str
    fields: tuple[FieldChange, ...] = ()
    notes: tuple[str, ...] = ()  # how environment-specific values were adapted

    @property
    def description(self) -> str:
        match self.action:
            case Action.ADD:
                text = f"add {self.resource} to {self.file}"
            case Action.REMOVE:
                text = f"remove {self.resource} from {self.file}"
            case Action.UPDATE:
                text = f"{self.resource}: " + "; ".join(f.describe() for f in self.fields)
            case _:
                assert_never(self.action)
        return text + (f" ({'; '.join(self.notes)})" if self.notes else "")


@dataclass(frozen=True)
class Note:
    """Something about one resource (or file) the carry did not do, and why."""

    resource: str
    message: str

    def __str__(self) -> str:
        return f"{self.resource}: {self.message}"


@dataclass(frozen=True)
class Carry:
    """The change carried from `source` to `target`: the edited files and what they hold.

    `edits` maps each target file that changes to its new text (a new file among them); none
    when the target already has the change. `problems` are parts of the change that could not be
    carried safely (a person must finish them: never auto-merge a carry with problems);
    `left_out` are parts that are not the target's to take (per-environment kinds and values,
    routes the rule is not limited to)."""

    source: str
    target: str
    edits: Mapping[str, str] = field(hash=False)
    changes: tuple[ResourceChange, ...] = ()
    left_out: tuple[Note, ...] = ()
    problems: tuple[Note, ...] = ()

    @property
    def descriptions(self) -> tuple[str, ...]:
        return tuple(change.description for change in self.changes)

    @property
    def empty(self) -> bool:
        """True when the target already has everything that could be carried."""
        return not self.edits


def carry_promotion(
    rule: Promotion,
    before: Mapping[str, str],
    after: Mapping[str, str],
    target: Mapping[str, str],
) -> Carry:
    """`carry_change` for a Promotion rule: its environments and its routes filter."""
    return carry_change(before, after, target, rule.source, rule.target, rule.spec.routes)


def carry_change(
    before: Mapping[str, str],
    after: Mapping[str, str],
    target: Mapping[str, str],
    source_env: str,
    target_env: str,
    routes: Collection[str] = (),
) -> Carry:
    """The edit of `target` that applies the change from `before` to `after`.

    `before` and `after` are the source environment's YAML files (path -> text) around the
    change, `target` the target environment's files now. Paths under `environments/<env>/` are
    kept to that environment's folder (so whole-repository mappings work too); a file the
    target gains is placed in the target's folder. `routes`, when given, limits the carry to
    those routes and the models and guardrails they name (before or after the change)."""
    return _Carrier(source_env, target_env, tuple(routes)).run(
        _own(before, source_env), _own(after, source_env), _own(target, target_env)
    )


# --- reading ------------------------------------------------------------------------------------


class _Absent:
    """A field that is not there (YAML has no way to write it, so it is never a value)."""

    def __repr__(self) -> str:
        return "(absent)"


ABSENT = _Absent()


@dataclass
class _Found:
    """A resource document in one file, with the file's editable documents."""

    path: str
    editable: EditableYaml
    document: Any
    first: bool  # the first document of its file: its leading comment is the file's

    @property
    def plain(self) -> Any:
        return _plain(self.document)


def _own(files: Mapping[str, str], environment: str) -> dict[str, str]:
    """The files of one environment, when the paths say which environment a file belongs to."""
    if not any(path.startswith("environments/") for path in files):
        return dict(files)
    prefix = f"environments/{environment}/"
    return {path: text for path, text in files.items() if path.startswith(prefix)}


def _index(
    files: Mapping[str, str],
    problems: list[Note],
    load: Callable[[str], EditableYaml | None] = load_editable,
) -> tuple[dict[tuple[str, str], _Found], dict[str, EditableYaml]]:
    """Every resource of the files by (kind, name), and the editable files; a file that is not
    YAML is a problem (the caller carries nothing then: a resource in it may be anywhere)."""
    found: dict[tuple[str, str], _Found] = {}
    editables: dict[str, EditableYaml] = {}
    for path in sorted(files):
        editable = load(files[path])
        if editable is None:
            problems.append(Note(path, "is not valid YAML, so nothing could be carried"))
            continue
        editables[path] = editable
        for document in editable.resources():
            key = (str(document["kind"]), str(document["metadata"]["name"]))
            first = document is editable.documents[0]
            found.setdefault(key, _Found(path, editable, document, first))
    return found, editables


def _reader() -> Callable[[str], EditableYaml | None]:
    """Reads source files, which are never written: no layout to find, and a text read once
    (before and after a change share most files)."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True  # a copied "2" stays a string in the target
    read: dict[str, EditableYaml | None] = {}

    def load(text: str) -> EditableYaml | None:
        if text not in read:
            try:
                read[text] = EditableYaml(list(yaml.load_all(text)), yaml)
            except YAMLError:
                read[text] = None
        return read[text]

    return load


def _plain(value: Any) -> Any:
    """The value as plain Python (dict, list, str, int, float, bool), for comparing."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None or value is ABSENT:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def _show(value: Any) -> str:
    """A value for a description: "" when absent, scalars as written, the rest as JSON."""
    if value is ABSENT:
        return ""
    plain = _plain(value)
    if isinstance(plain, float) and plain.is_integer():
        plain = int(plain)
    text = plain if isinstance(plain, str) else json.dumps(plain, separators=(", ", ": "))
    return text if len(text) <= _VALUE_LIMIT else text[: _VALUE_LIMIT - 1] + "…"


def _dotted(path: FieldPath) -> str:
    return ".".join(path)


def _get(mapping: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(mapping, Mapping) or key not in mapping:
            return ABSENT
        mapping = mapping[key]
    return mapping


def _route_refs(document: Any) -> tuple[set[str], set[str]]:
    """The Models and Guardrails a Route document names."""
    spec = _get(document, "spec")
    if not isinstance(spec, Mapping):
        return set(), set()
    models = {spec.get("model")}
    models |= {v.get("model") for v in spec.get("variants") or [] if isinstance(v, Mapping)}
    models.add(_get(spec, "canary", "model"))
    models |= set(spec.get("fallbacks") or [])
    models |= {_get(spec, "cascade", "fast"), _get(spec, "cascade", "strong")}
    guardrails = set(spec.get("guardrails") or [])
    return {str(m) for m in models if isinstance(m, str)}, {str(g) for g in guardrails}


def _host_labels(url: Any) -> list[str] | None:
    if not isinstance(url, str):
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.split(".") if host else None


def _names_environment(text: str, environment: str) -> bool:
    """Whether `text` has the environment's name as a word: serving-staging, STAGING_KEY."""
    return environment.lower() in re.split(r"[^a-z0-9]+", text.lower())


# --- adapting values that name something of the environment -------------------------------------


@dataclass(frozen=True)
class _Adapted:
    value: Any
    note: str = ""


@dataclass
class _Counterparts:
    """How the target names what the source names, learnt from the Models both have (as the
    source had them before the change: the state the target was carried from)."""

    source: str
    target: str
    source_models: dict[str, Any]  # name -> plain Model document (before, then after)
    target_models: dict[str, Any]
    source_pools: dict[str, Any]
    target_pools: dict[str, Any]

    def _pairs(self, *keys: str) -> Iterator[tuple[Any, Any]]:
        for name, model in self.source_models.items():
            if name in self.target_models:
                yield _get(model, *keys), _get(self.target_models[name], *keys)

    def adapt(self, name: str, path: FieldPath, value: Any) -> _Adapted | str:
        """`value` of Model `name`'s field `path` as the target should have it, or why not."""
        match path:
            case ("spec", "pool"):
                return self._pool(value)
            case ("spec", "endpoint"):
                return self._endpoint(name, value)
            case ("spec", "apiKey"):
                return self._secret(value)
        return _Adapted(value)

    def _pool(self, pool: Any) -> _Adapted | str:
        if pool in self.target_pools:
            return _Adapted(pool)
        mapped = {t for s, t in self._pairs("spec", "pool") if s == pool and t in self.target_pools}
        if len(mapped) == 1:
            chosen = mapped.pop()
            return _Adapted(chosen, f"pool {pool} is {chosen} in {self.target}")
        accelerator = _get(self.source_pools.get(pool), "spec", "accelerator")
        same = sorted(
            name
            for name, doc in self.target_pools.items()
            if accelerator is not ABSENT and _get(doc, "spec", "accelerator") == accelerator
        )
        if len(same) == 1:
            return _Adapted(same[0], f"pool {pool} is {same[0]} in {self.target} ({accelerator})")
        return (
            f"spec.pool {pool!r} is a GpuPool only {self.source} has, and no pool of "
            f"{self.target} clearly stands for it ("
            + (
                f"{len(same)} with accelerator {accelerator}"
                if same
                else "none with its accelerator"
            )
            + f"); add the pool to {self.target}, or set the model's pool there by hand"
        )

    def _endpoint(self, name: str, url: Any) -> _Adapted | str:
        labels = _host_labels(url)
        if labels is None:
            return _Adapted(url)
        target_labels: set[str] = set()
        target_hosts: set[str] = set()
        for model in self.target_models.values():
            found = _host_labels(_get(model, "spec", "endpoint"))
            if found:
                target_labels.update(found)
                target_hosts.add(".".join(found))
        host = ".".join(labels)
        if host in target_hosts:
            return _Adapted(url)
        hosts: dict[str, set[str]] = {}
        mapping: dict[str, set[str]] = {}
        source_labels: set[str] = set()
        for source_url, target_url in self._pairs("spec", "endpoint"):
            source_host, target_host = _host_labels(source_url), _host_labels(target_url)
            if source_host is None or target_host is None:
                continue
            hosts.setdefault(".".join(source_host), set()).add(".".join(target_host))
            if len(source_host) == len(target_host):
                for s, t in zip(source_host, target_host, strict=True):
                    mapping.setdefault(s, set()).add(t)
        for other, model in self.source_models.items():
            if other != name:
                source_labels.update(_host_labels(_get(model, "spec", "endpoint")) or ())
        known_host = hosts.get(host, set())
        if len(known_host) == 1:
            new_host = next(iter(known_host))
        else:
            mapped: list[str] = []
            for label in labels:
                choices = mapping.get(label, {label})
                if len(choices) != 1:
                    return (
                        f"spec.endpoint {url}: its host label {label!r} stands for "
                        f"{' and '.join(sorted(choices))} in {self.target}; set the endpoint "
                        "there by hand"
                    )
                mapped.append(next(iter(choices)))
            for label in mapped:
                if label not in target_labels and (
                    label in source_labels or _names_environment(label, self.source)
                ):
                    return (
                        f"spec.endpoint {url} names {label!r}, which only {self.source}'s "
                        f"endpoints use, and {self.target}'s counterpart is not known; set the "
                        f"endpoint in {self.target} by hand"
                    )
            new_host = ".".join(mapped)
        if new_host == host:
            return _Adapted(url)
        adapted = re.sub(re.escape(host), new_host, url, count=1, flags=re.IGNORECASE)
        return _Adapted(adapted, f"endpoint {url} is {adapted} in {self.target}")

    def _secret(self, reference: Any) -> _Adapted | str:
        used = {_get(m, "spec", "apiKey") for m in self.target_models.values()}
        if reference in used:
            return _Adapted(reference)
        mapped = {t for s, t in self._pairs("spec", "apiKey") if s == reference and t is not ABSENT}
        if len(mapped) == 1:
            chosen = mapped.pop()
            return _Adapted(chosen, f"apiKey {reference} is {chosen} in {self.target}")
        if isinstance(reference, str) and _names_environment(reference, self.source):
            return (
                f"spec.apiKey {reference} names environment {self.source}, and "
                f"{self.target}'s credential is not known; set it in {self.target} by hand"
            )
        return _Adapted(reference)


# --- carrying -----------------------------------------------------------------------------------


def _rule(kind: str, path: FieldPath, table: Mapping[str, tuple[FieldPath, ...]]) -> bool:
    return any(path[: len(prefix)] == prefix for prefix in table.get(kind, ()))


def _fresh(value: Any) -> Any:
    """A copy of a value from the source, to put into a target file (comments inside kept)."""
    return copy.deepcopy(value) if isinstance(value, Mapping | list) else value


def _put(target: MutableMapping[str, Any], key: str, value: Any, order: Mapping[str, Any]) -> None:
    """Set `key`, placing a new key after the key that precedes it in `order` (the source's)."""
    if key in target or not hasattr(target, "insert"):
        target[key] = value
        return
    keys = list(order)
    position = len(target)
    for earlier in reversed(keys[: keys.index(key)] if key in keys else []):
        if earlier in target:
            position = list(target).index(earlier) + 1
            break
    target.insert(position, key, value)


class _Carrier:
    """One carry: index the three sets of files, then edit the target's in carrying order."""

    def __init__(self, source: str, target: str, routes: tuple[str, ...]) -> None:
        self.source = source
        self.target = target
        self.routes = routes
        self.changes: list[ResourceChange] = []
        self.left_out: list[Note] = []
        self.problems: list[Note] = []

    def run(
        self,
        before_files: Mapping[str, str],
        after_files: Mapping[str, str],
        files: Mapping[str, str],
    ) -> Carry:
        unreadable: list[Note] = []
        read = _reader()
        self.before, _ = _index(before_files, unreadable, read)
        self.after, _ = _index(after_files, unreadable, read)
        self.found, self.editables = _index(files, unreadable)
        self.dirty: set[str] = set()  # the target files edited
        self.after_files = after_files
        self.originals = files
        if unreadable:
            return Carry(self.source, self.target, MappingProxyType({}), problems=tuple(unreadable))
        self.counterparts = _Counterparts(
            self.source,
            self.target,
            source_models={
                name: f.plain
                for (kind, name), f in {**self.after, **self.before}.items()
                if kind == "Model"
            },
            target_models={n: f.plain for (k, n), f in self.found.items() if k == "Model"},
            source_pools={
                n: f.plain for (k, n), f in {**self.after, **self.before}.items() if k == "GpuPool"
            },
            target_pools={n: f.plain for (k, n), f in self.found.items() if k == "GpuPool"},
        )
        touched = self._touched()
        removals: list[tuple[str, str]] = []
        for kind, name in touched:
            before, after = self.before.get((kind, name)), self.after.get((kind, name))
            if kind not in CARRIED_KINDS:
                self.left_out.append(
                    Note(f"{kind}/{name}", f"a {kind} is per environment; not carried")
                )
            elif not self._in_scope(kind, name):
                self.left_out.append(
                    Note(
                        f"{kind}/{name}",
                        "not a route this promotion is limited to, nor used by one "
                        f"({', '.join(self.routes)})",
                    )
                )
            elif after is None:
                removals.append((kind, name))
            else:
                self._carry(kind, name, before, after)
        for kind, name in sorted(removals, key=lambda k: (-CARRIED_KINDS.index(k[0]), k[1])):
            self._remove(kind, name)
        edits = {
            path: text
            for path in sorted(self.dirty)
            if (text := self.editables[path].dump()) != self.originals.get(path)
        }
        return Carry(
            self.source,
            self.target,
            MappingProxyType(edits),
            tuple(self.changes),
            tuple(self.left_out),
            tuple(self.problems),
        )

    def _touched(self) -> list[tuple[str, str]]:
        """The resources the change touched, carried kinds first in carrying order."""
        keys = []
        for key in self.before.keys() | self.after.keys():
            before, after = self.before.get(key), self.after.get(key)
            if before is None or after is None or before.plain != after.plain:
                keys.append(key)
        rank = {kind: i for i, kind in enumerate(CARRIED_KINDS)}
        return sorted(keys, key=lambda k: (rank.get(k[0], len(rank)), k[0], k[1]))

    def _in_scope(self, kind: str, name: str) -> bool:
        if not self.routes:
            return True
        if kind == "Route":
            return name in self.routes
        used: set[str] = set()
        for found in (self.before, self.after):
            for route in self.routes:
                if (document := found.get(("Route", route))) is not None:
                    models, guardrails = _route_refs(document.document)
                    used |= models if kind == "Model" else guardrails
        return name in used

    # --- adding and updating --------------------------------------------------------------------

    def _carry(self, kind: str, name: str, before: _Found | None, after: _Found) -> None:
        ref = f"{kind}/{name}"
        existing = self.found.get((kind, name))
        if existing is None:
            if before is not None:
                self.problems.append(
                    Note(
                        ref,
                        f"changed in {self.source}, but {self.target} has no {ref}; not carried",
                    )
                )
                return
            self._add(kind, name, after)
            return
        fields: list[FieldChange] = []
        notes: list[str] = []
        merged = copy.deepcopy(existing.document)
        base = before.document if before is not None else {}
        self._merge(kind, name, merged, base, after.document, (), fields, notes)
        if not fields:
            return
        if kind == "Route" and not self._references_resolve(ref, merged):
            return
        self._replace(existing, merged)
        self.changes.append(
            ResourceChange(ref, Action.UPDATE, existing.path, tuple(fields), tuple(notes))
        )

    def _merge(
        self,
        kind: str,
        name: str,
        target: Any,
        before: Any,
        after: Any,
        path: FieldPath,
        fields: list[FieldChange],
        notes: list[str],
    ) -> None:
        """Apply to `target` what changed from `before` to `after`, field by field."""
        keys = [*after, *(k for k in before if k not in after)]
        for key in keys:
            old, new = before.get(key, ABSENT), after.get(key, ABSENT)
            if _plain(old) == _plain(new):
                continue  # the change did not touch it
            sub = (*path, str(key))
            have = target.get(key, ABSENT)
            nested = isinstance(old, Mapping) or old is ABSENT  # (absent: added in the source)
            if isinstance(new, Mapping) and isinstance(have, Mapping) and nested:
                base = {} if old is ABSENT else old
                self._merge(kind, name, have, base, new, sub, fields, notes)
                continue
            if _rule(kind, sub, LOCAL_FIELDS) and _plain(have) != _plain(old):
                if _plain(have) != _plain(new):
                    self.left_out.append(
                        Note(
                            f"{kind}/{name}",
                            f"{_dotted(sub)} stays {_show(have) or '(none)'} in {self.target}, "
                            f"its own value ({self.source}: {_show(old) or '(none)'} → "
                            f"{_show(new) or '(none)'})",
                        )
                    )
                continue
            value = new
            if new is not ABSENT and _rule(kind, sub, ADAPTED_FIELDS):
                adapted = self.counterparts.adapt(name, sub, _plain(new))
                if isinstance(adapted, str):
                    self.problems.append(Note(f"{kind}/{name}", adapted))
                    continue
                value = new if adapted.value == _plain(new) else adapted.value
                if adapted.note and _plain(have) != _plain(value):
                    notes.append(adapted.note)
            if _plain(have) == _plain(value):
                continue  # the target has it already
            if value is ABSENT:
                del target[key]
            else:
                _put(target, key, _fresh(value), after)
            fields.append(FieldChange(_dotted(sub), _show(have), _show(value)))

    def _add(self, kind: str, name: str, after: _Found) -> None:
        ref = f"{kind}/{name}"
        document = _fresh(after.document)
        if after.first:
            document.ca.comment = None  # the file's comment (its modeline), not this resource's
        notes: list[str] = []
        spec = document.get("spec")
        if isinstance(spec, MutableMapping):
            for path in ADAPTED_FIELDS.get(kind, ()):
                key = path[-1]
                if key not in spec:
                    continue
                adapted = self.counterparts.adapt(name, path, _plain(spec[key]))
                if isinstance(adapted, str):
                    self.problems.append(Note(ref, f"{adapted}; {ref} is not added"))
                    return
                if adapted.note:
                    spec[key] = adapted.value
                    notes.append(adapted.note)
            for path in LOCAL_FIELDS.get(kind, ()):
                value = _get(document, *path)
                if value is not ABSENT:
                    notes.append(f"{_dotted(path)} {_show(value)} as in {self.source}")
        if kind == "Route" and not self._references_resolve(ref, document):
            return
        home = self._home(kind, after.path)
        editable = self.editables[home]
        editable.documents.append(document)
        self.dirty.add(home)
        self.found[(kind, name)] = _Found(home, editable, document, first=False)
        self.changes.append(ResourceChange(ref, Action.ADD, home, (), tuple(notes)))

    def _home(self, kind: str, source_path: str) -> str:
        """The target file a new resource goes to: where the target keeps that kind, else the
        source's file name in the target's folder (a new file when it has none)."""
        for (other, _), found in sorted(self.found.items(), key=lambda i: i[1].path):
            if other == kind:
                return found.path
        prefix = f"environments/{self.source}/"
        path = (
            f"environments/{self.target}/{source_path.removeprefix(prefix)}"
            if source_path.startswith(prefix)
            else source_path
        )
        if path not in self.editables:
            first = self.after_files.get(source_path, "").split("\n", 1)[0]
            header = first + "\n" if first.startswith(MODELINE) else ""
            editable = load_editable(header)
            assert editable is not None  # a comment line (or nothing) is valid YAML
            self.editables[path] = _NewFile(editable.documents, editable._yaml, header=header)
        return path

    def _references_resolve(self, ref: str, route: Any) -> bool:
        """Whether every Model and Guardrail the route names is in the target (as carried so
        far); each one missing is a problem, and the route is left as it was."""
        models, guardrails = _route_refs(route)
        missing = [
            f"{kind} {name!r}"
            for kind, names in (("Model", models), ("Guardrail", guardrails))
            for name in sorted(names)
            if (kind, name) not in self.found
        ]
        if missing:
            self.problems.append(
                Note(
                    ref,
                    f"after the change it would name {', '.join(missing)}, which "
                    f"{self.target} does not have (and which could not be carried); not carried",
                )
            )
        return not missing

    def _replace(self, existing: _Found, document: Any) -> None:
        documents = existing.editable.documents
        index = next(i for i, d in enumerate(documents) if d is existing.document)
        documents[index] = document
        self.dirty.add(existing.path)
        existing.document = document

    # --- removing -------------------------------------------------------------------------------

    def _remove(self, kind: str, name: str) -> None:
        ref = f"{kind}/{name}"
        existing = self.found.get((kind, name))
        if existing is None:
            return
        users = sorted(self._users(kind, name))
        if users:
            self.problems.append(
                Note(
                    ref,
                    f"removed in {self.source}, but {', '.join(users)} in {self.target} still "
                    "name it; not removed",
                )
            )
            return
        documents = existing.editable.documents
        del documents[next(i for i, d in enumerate(documents) if d is existing.document)]
        self.dirty.add(existing.path)
        del self.found[(kind, name)]
        self.changes.append(ResourceChange(ref, Action.REMOVE, existing.path))

    def _users(self, kind: str, name: str) -> Iterator[str]:
        """The target resources that name `kind`/`name`."""
        for (other, other_name), found in self.found.items():
            document = found.document
            if other == "Route" and kind in ("Model", "Guardrail"):
                models, guardrails = _route_refs(document)
                if name in (models if kind == "Model" else guardrails):
                    yield f"Route/{other_name}"
            elif other == "Consumer" and kind == "Route":
                if name in (_get(document, "spec", "routes") or []):
                    yield f"Consumer/{other_name}"
            elif other == "Budget" and kind in ("Route", "Model"):
                scope = _get(document, "spec", "scope")
                if _get(scope, "type") == kind.lower() and _get(scope, "name") == name:
                    yield f"Budget/{other_name}"


@dataclass
class _NewFile(EditableYaml):
    """A file the target gains: its modeline first, then its documents."""

    header: str = ""

    def dump(self) -> str:
        return self.header + super().dump() if self.documents else self.header


# --- rendering ----------------------------------------------------------------------------------

_SYMBOL = {Action.ADD: "+", Action.UPDATE: "~", Action.REMOVE: "-"}


def render_carry_title(carry: Carry, subject: str = "") -> str:
    """The promotion pull request's title: the source commit's subject when given, else the
    resources it changes."""
    lines = subject.strip().splitlines()
    if lines:
        what = lines[0]
    elif carry.changes:
        names = [change.resource for change in carry.changes]
        what = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    elif carry.problems:
        what = "nothing carried, " + _count(len(carry.problems), "problem")
    else:
        what = "nothing to carry"
    title = f"Promote {carry.source} → {carry.target}: {what}"
    return title if len(title) <= 120 else title[:119] + "…"


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'s' * (n != 1)}"


def _code(text: str) -> str:
    """Text as a Markdown code span inside a table cell: no backtick, pipe or line break."""
    return "`" + text.replace("`", "'").replace("|", "\\|").replace("\n", " ") + "`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_carry_markdown(carry: Carry) -> str:
    """What the promotion carries, as a Markdown section of the pull request body."""
    lines = [f"### What is carried from `{carry.source}` to `{carry.target}`", ""]
    if carry.changes:
        lines += ["| | resource | file | change |", "|---|---|---|---|"]
        for change in carry.changes:
            detail = (
                "<br>".join(
                    f"{_code(f.path)}: {_code(f.old) if f.old else '_(none)_'} → "
                    f"{_code(f.new) if f.new else '_(none)_'}"
                    for f in change.fields
                )
                or {Action.ADD: "added", Action.REMOVE: "removed", Action.UPDATE: ""}[change.action]
            )
            if change.notes:
                detail += "<br>" + "<br>".join(f"_{_cell(n)}_" for n in change.notes)
            lines.append(
                f"| {_SYMBOL[change.action]} | {_code(change.resource)} | {_code(change.file)} "
                f"| {detail} |"
            )
    elif carry.problems:
        lines.append("Nothing could be carried: see the problems below.")
    else:
        lines.append(f"Nothing to carry: `{carry.target}` already has this change.")
    if carry.problems:
        lines += ["", "**Not carried: finish these by hand before merging**", ""]
        lines += [f"- {_code(p.resource)}: {_cell(p.message)}" for p in carry.problems]
    if carry.left_out:
        lines += ["", "**Left out** (not the target's to take)", ""]
        lines += [f"- {_code(n.resource)}: {_cell(n.message)}" for n in carry.left_out]
    return "\n".join(lines) + "\n"
