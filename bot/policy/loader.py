"""Read `policy.yaml`, validate it, and report every problem as `<file>: <key.path>: <message>`."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from bot.policy.approval_timing import escalation_warnings
from bot.policy.checks import Problem, cross_check
from bot.policy.clusters import ClusterManifests, TopologyCluster
from bot.policy.ineffective import check_policy_warnings
from bot.policy.models import Policy
from bot.policy.types import show

# libyaml when installed: the pure-Python parser takes ~10x as long (start-up, every render)
SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_TOP_KEYS = ", ".join(Policy.model_fields)
_KIND_OF_VALUE = {
    "string_type": "a string",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
    "tuple_type": "a list",
}


class PolicyError(ValueError):
    """The policy file is invalid; `errors` lists every problem, one line each."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def load_policy(path: Path) -> Policy:
    """Read and validate a policy file.

    Args:
        path: the YAML file; error lines name it by its base name.

    Returns:
        The validated, frozen policy.

    Raises:
        PolicyError: the file cannot be read or parsed, or breaks any rule; `errors` has them all.
    """
    source = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(
            [f"{source}: cannot read the file: it is not UTF-8 ({exc.reason})"]
        ) from exc
    except OSError as exc:
        raise PolicyError([f"{source}: cannot read the file: {exc.strerror or exc}"]) from exc
    try:
        node = yaml.compose(text, Loader=SAFE_LOADER)
        data = yaml.load(text, Loader=SAFE_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise PolicyError([_yaml_error(source, _python_yaml_error(text) or exc)]) from exc
    if node is None:
        raise PolicyError([f"{source}: the file is empty; expected a mapping of {_TOP_KEYS}"])
    if not isinstance(data, dict):
        line = node.start_mark.line + 1
        raise PolicyError(
            [f"{source}: line {line}: expected a mapping of {_TOP_KEYS}, got {show(data)}"]
        )
    duplicates = [f"{source}: {key}: {msg}" for key, msg in _duplicate_keys(node, ())]
    policy, errors = _validate(data, source, path.resolve().parent)
    if duplicates or policy is None:
        raise PolicyError(duplicates + errors)
    return policy


def validate_policy(
    data: object, *, source: str = "policy.yaml", policy_dir: Path | None = None
) -> Policy:
    """Validate already-parsed policy data, with the same checks and messages as `load_policy`.

    Args:
        data: what `yaml.safe_load` returned.
        source: the file name to put in front of each error.
        policy_dir: the folder `manifests:` paths are relative to; default: the working folder.

    Returns:
        The validated, frozen policy.

    Raises:
        PolicyError: the data breaks any rule; `errors` has them all.
    """
    if not isinstance(data, dict):
        raise PolicyError([f"{source}: expected a mapping of {_TOP_KEYS}, got {show(data)}"])
    policy, errors = _validate(data, source, policy_dir or Path.cwd())
    if policy is None:
        raise PolicyError(errors)
    return policy


def check_policy_file(path: Path) -> list[str]:
    """List the problems of a policy file, for `envbot policy check`.

    Args:
        path: the YAML file.

    Returns:
        One `<file>: <key.path>: <message>` line per problem; empty when the file is valid.
    """
    try:
        load_policy(path)
    except PolicyError as exc:
        return exc.errors
    return []


def policy_warnings(policy: Policy, *, source: str = "policy.yaml") -> list[str]:
    """What is valid but probably not meant, for `envbot policy check` to print as warnings."""
    found: list[str] = []
    for name, template in policy.templates.items():
        cluster = template.cluster
        if isinstance(cluster, ClusterManifests) and cluster.unused_variables():
            found.append(
                f"{source}: templates.{name}.cluster.variables: "
                f"{', '.join(cluster.unused_variables())} fill no placeholder of "
                f"{cluster.manifests} (a typo?)"
            )
        if isinstance(cluster, TopologyCluster) and cluster.topology.tags_variable is None:
            found.append(
                f"{source}: templates.{name}.cluster.topology.tags_variable: not set, so the "
                "AWS resources of these clusters get no owner/expiration/env-id tags; name the "
                "ClusterClass variable that takes additionalTags"
            )
    found += [f"{source}: {key}: {why}" for key, why in escalation_warnings(policy)]
    return found


def _validate(
    data: dict[Any, Any], source: str, policy_dir: Path
) -> tuple[Policy | None, list[str]]:
    problems: list[Problem] = []
    policy: Policy | None = None
    try:
        policy = Policy.model_validate(data, context={"policy_dir": policy_dir})
    except ValidationError as exc:
        problems.extend(_translate(err) for err in exc.errors())
    problems.extend(cross_check(data))
    errors = list(dict.fromkeys(f"{source}: {path}: {msg}" for path, msg in problems))
    return (policy if not errors else None), errors


def _translate(err: ErrorDetails) -> Problem:
    """Turn one pydantic error into a dotted key path and a message that quotes the value."""
    shown, target = _walk(err["loc"])
    kind = err["type"]
    value = err.get("input")
    if kind == "missing":
        message = "required key is missing"
    elif kind == "extra_forbidden":
        parent = _walk(err["loc"][:-1])[1]
        keys = ", ".join(_keys(parent)) if isinstance(parent, type) else "?"
        message = f"unknown key (expected one of: {keys})"
    elif kind == "value_error":
        message = str(err.get("ctx", {}).get("error", err["msg"]))
    elif kind == "literal_error" and get_origin(target) is Literal:
        allowed = ", ".join(str(arg) for arg in get_args(target))
        message = f"{show(value)} is not allowed (expected one of: {allowed})"
    elif kind in _KIND_OF_VALUE:
        message = f"expected {_KIND_OF_VALUE[kind]}, got {show(value)}"
    elif kind in ("greater_than", "greater_than_equal"):
        ctx = err.get("ctx", {})
        bound = f"more than {ctx['gt']}" if "gt" in ctx else f"at least {ctx.get('ge')}"
        message = f"must be {bound}, got {show(value)}"
    elif kind == "string_pattern_mismatch":
        message = f"{show(value)} does not match {err.get('ctx', {}).get('pattern')}"
    else:
        message = f"{err['msg']}, got {show(value)}"
    return ".".join(shown) or "(top level)", message


def _walk(loc: tuple[int | str, ...]) -> tuple[list[str], Any]:
    """Follow a pydantic error location through the model types.

    Returns:
        The location to show (union tags removed, dotted keys quoted) and the type found there.
    """
    target: Any = Policy
    shown: list[str] = []
    for segment in loc:
        target = _strip(target)
        if get_origin(target) in (Union, types.UnionType):
            tagged = [m for m in get_args(target) if getattr(_strip(m), "__name__", "") == segment]
            if tagged:
                target = tagged[0]
                continue
        text = str(segment)
        shown.append(f'"{text}"' if "." in text else text)
        if isinstance(target, type) and issubclass(target, BaseModel):
            field = next(
                (f for n, f in target.model_fields.items() if (f.alias or n) == segment), None
            )
            target = field.annotation if field is not None else None
        elif get_origin(target) is dict:
            target = get_args(target)[1]
        elif get_origin(target) in (tuple, list):
            target = get_args(target)[0]
        else:
            target = None
    return shown, _strip(target)


def _strip(target: Any) -> Any:
    """Remove `Annotated[...]` and `| None` around a type."""
    while True:
        origin = get_origin(target)
        if origin is not None and hasattr(target, "__metadata__"):
            target = get_args(target)[0]
        elif origin in (Union, types.UnionType):
            members = [m for m in get_args(target) if m is not type(None)]
            if len(members) != 1:
                return target
            target = members[0]
        else:
            return target


def _keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _python_yaml_error(text: str) -> yaml.YAMLError | None:
    """The pure-Python parser's error for `text` (libyaml words some errors differently; the
    messages users and the tests know are these)."""
    try:
        yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return exc
    return None


def _yaml_error(source: str, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is None:
        return f"{source}: invalid YAML: {problem}"
    return f"{source}: line {mark.line + 1}, column {mark.column + 1}: invalid YAML: {problem}"


def _duplicate_keys(node: yaml.Node, path: tuple[str, ...]) -> list[Problem]:
    """Find keys written twice in one mapping; `yaml.safe_load` would silently keep the last."""
    problems: list[Problem] = []
    visited: set[int] = set()
    stack: list[tuple[yaml.Node, tuple[str, ...]]] = [(node, path)]
    while stack:
        current, where = stack.pop()
        if id(current) in visited:  # anchors and aliases share nodes
            continue
        visited.add(id(current))
        if isinstance(current, yaml.MappingNode):
            first: dict[str, int] = {}
            for key, value in current.value:
                name = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
                line = key.start_mark.line + 1
                if name in first and key.tag != "tag:yaml.org,2002:merge":
                    dotted = ".".join((*where, name))
                    problems.append(
                        (dotted, f"duplicate key on line {line} (first on line {first[name]})")
                    )
                first.setdefault(name, line)
                stack.append((value, (*where, name)))
        elif isinstance(current, yaml.SequenceNode):
            stack.extend((item, (*where, str(i))) for i, item in enumerate(current.value))
    return sorted(problems)


def file_warnings(path: Path, policy: Policy) -> list[str]:
    """Everything `envbot policy check` warns about in a valid file: keys with no effect, then
    what `policy_warnings` finds (for `envbot doctor` and `envbot serve`'s start)."""
    return [*check_policy_warnings(path), *policy_warnings(policy, source=path.name)]
