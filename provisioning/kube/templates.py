"""Renders an environment's cluster template into the objects the `capi` backend applies: the
`manifests` object set, or the `topology` Cluster's variables, with envbot's AWS tags.

The AWS tags go on `AWSCluster.spec.additionalTags` (CAPA puts them on every AWS resource it
creates) or, for a ClusterClass, into the variable the policy names in `tags_variable`. They are
envbot's, not the template author's: ours win over a template's value for the same key, and
`tag_patch` brings a stored object back to them after an extension moves the expiry.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from bot.domain import manifests
from bot.errors import PermanentError
from provisioning.base import EnvSpec
from provisioning.kube import labels as lbl
from provisioning.kube.resources import Obj, Resource

_TAG_BAD = re.compile(r"[^A-Za-z0-9\s_.:=+\-@/]")  # CAPA's Tags.Validate character set
_TAG_VALUE_MAX = 256


def _tag_value(text: str) -> str:
    return _TAG_BAD.sub("_", text)[:_TAG_VALUE_MAX]


def aws_tags(spec: EnvSpec) -> dict[str, str]:
    """The AWS tags of an environment's cloud resources: who owns it, until when, which one.

    The one place the tag set is defined (cleanup and ownership key on it); values are made to
    fit CAPA's tag rules (letters, digits, spaces and `_ . : / = + - @`, at most 256).
    """
    owner, expiration, env_id, install_id = manifests.AWS_TAG_KEYS
    tags = {
        owner: _tag_value(spec.owner_email),
        expiration: lbl.iso(spec.expires_at),
        env_id: _tag_value(spec.env_id),
    }
    if spec.install_id:  # two installs sharing an AWS account never take each other's
        tags[install_id] = _tag_value(spec.install_id)
    return tags


def builtins(spec: EnvSpec) -> dict[str, str]:
    """The values of the built-in placeholders for one environment."""
    return {
        "CLUSTER_NAME": spec.name,
        "NAMESPACE": spec.namespace,
        "OWNER_EMAIL": spec.owner_email,
        "EXPIRATION": lbl.iso(spec.expires_at),
        "ENV_ID": spec.env_id,
    }


def resource_for(obj: Mapping[str, Any]) -> Resource:
    """The REST resource of a rendered object, from its apiVersion and kind."""
    group, _, version = str(obj["apiVersion"]).rpartition("/")
    kind = str(obj["kind"])
    return Resource(group, version, manifests.KINDS[kind][1], kind, namespaced=True)


def render_manifests(
    spec: EnvSpec, labels: Mapping[str, str], annotations: Mapping[str, str]
) -> list[tuple[Resource, Obj]]:
    """The template's objects for `spec`, each in the workspace namespace with our metadata.

    The Cluster comes first, so the object observe() looks for exists as soon as anything does.

    Raises:
        PermanentError: the template does not render (it changed since the policy was checked),
            or an object names another namespace.
    """
    template = spec.manifests
    if template is None:
        raise PermanentError(f"template {spec.template!r} has no manifests")
    values = {**manifests.variable_values(template.variables), **builtins(spec)}
    try:
        docs = manifests.render(template.text, values)
    except manifests.ManifestError as exc:
        raise PermanentError(f"template {spec.template}: {template.source}: {exc}") from exc
    rendered: list[tuple[Resource, Obj]] = []
    for doc in sorted(docs, key=lambda d: d["kind"] != "Cluster"):
        meta = doc["metadata"]
        what = f"{doc['kind']} {meta['name']}"
        if meta.get("namespace") not in (None, spec.namespace):
            raise PermanentError(
                f"template {spec.template}: {template.source}: {what} is in namespace "
                f"{meta['namespace']!r}, not the workspace namespace {spec.namespace!r}"
            )
        meta["namespace"] = spec.namespace
        meta["labels"] = {**(meta.get("labels") or {}), **labels}
        meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
        if doc["kind"] == "AWSCluster":
            body = doc.get("spec") or {}
            body["additionalTags"] = {**(body.get("additionalTags") or {}), **aws_tags(spec)}
            doc["spec"] = body
        rendered.append((resource_for(doc), doc))
    return rendered


def topology_variables(spec: EnvSpec) -> dict[str, object]:
    """The topology Cluster's variables: the policy's, plus the AWS tags in tags_variable."""
    topo = spec.topology
    if topo is None:
        return {}
    values = dict(topo.variables)
    if topo.tags_variable:
        given = values.get(topo.tags_variable)
        values[topo.tags_variable] = {
            **(given if isinstance(given, dict) else {}),
            **aws_tags(spec),
        }
    return values


def tag_patch(stored: Mapping[str, Any], spec: EnvSpec) -> Obj | None:
    """A merge patch that puts our AWS tags back on a stored AWSCluster or topology Cluster, or
    None when they are already right (only our keys are compared and written)."""
    tags = aws_tags(spec)
    body = stored.get("spec") or {}
    if stored.get("kind") == "AWSCluster":
        have = body.get("additionalTags") or {}
        if any(have.get(k) != v for k, v in tags.items()):
            return {"spec": {"additionalTags": tags}}
        return None
    topo = spec.topology
    if stored.get("kind") != "Cluster" or topo is None or not topo.tags_variable:
        return None
    entries = copy.deepcopy(list((body.get("topology") or {}).get("variables") or []))
    entry = next((e for e in entries if e.get("name") == topo.tags_variable), None)
    if entry is None:
        entry = {"name": topo.tags_variable, "value": {}}
        entries.append(entry)
    given = entry.get("value")
    value: dict[str, Any] = given if isinstance(given, dict) else {}
    if all(value.get(k) == v for k, v in tags.items()):
        return None
    entry["value"] = {**value, **tags}
    return {"spec": {"topology": {"variables": entries}}}
