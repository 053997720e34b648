"""A `manifests` cluster template: the object set `dkp create cluster aws --dry-run -o yaml`
writes, with `${VARIABLE}` placeholders, rendered to plain objects.

Shared by `envbot policy check` (which renders every template once with sample values, so a
template that cannot render never reaches a user) and the `capi` backend (which renders it for
each environment). Pure: text in, dicts out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml

from bot.domain.placeholders import MissingVariables, missing, substitute

# libyaml when installed: the pure-Python parser takes ~10x as long (start-up, every render)
SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Built-in placeholders, filled in per environment by the backend.
BUILTINS = ("CLUSTER_NAME", "NAMESPACE", "OWNER_EMAIL", "EXPIRATION", "ENV_ID")
# The AWS tags envbot puts on AWSCluster.spec.additionalTags (see provisioning.kube.templates).
AWS_TAG_KEYS = ("owner", "expiration", "envbot.io/env-id", "envbot.io/install-id")

# kind -> (API group, plural). Only namespaced kinds of the DKP/CAPA object set: envbot never
# writes cluster-scoped objects from a template.
KINDS: dict[str, tuple[str, str]] = {
    "Cluster": ("cluster.x-k8s.io", "clusters"),
    "MachineDeployment": ("cluster.x-k8s.io", "machinedeployments"),
    "MachineHealthCheck": ("cluster.x-k8s.io", "machinehealthchecks"),
    "KubeadmControlPlane": ("controlplane.cluster.x-k8s.io", "kubeadmcontrolplanes"),
    "KubeadmConfigTemplate": ("bootstrap.cluster.x-k8s.io", "kubeadmconfigtemplates"),
    "AWSCluster": ("infrastructure.cluster.x-k8s.io", "awsclusters"),
    "AWSMachineTemplate": ("infrastructure.cluster.x-k8s.io", "awsmachinetemplates"),
}

_SAMPLE = {
    "CLUSTER_NAME": "envbot-sample",
    "NAMESPACE": "envbot-sample-namespace",
    "OWNER_EMAIL": "owner@example.com",
    "EXPIRATION": "2026-01-01T00:00:00Z",
    "ENV_ID": "envbot-sample-id",
}


class ManifestError(ValueError):
    """The template does not render to a usable object set; the message says what to change."""


def variable_values(variables: Mapping[str, Any]) -> dict[str, str]:
    """Policy variables as placeholder values: `worker_replicas: 2` fills `${WORKER_REPLICAS}`.

    Strings go in as they are; numbers and booleans as YAML writes them; lists and mappings as
    JSON (a YAML flow collection).
    """
    out: dict[str, str] = {}
    for key, value in variables.items():
        if isinstance(value, str):
            text = value
        elif isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int | float):
            text = str(value)
        else:
            text = json.dumps(value)
        out[key.upper()] = text
    return out


def _python_error(text: str) -> yaml.YAMLError | None:
    """The pure-Python parser's error for `text`: libyaml words some errors differently."""
    try:
        list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        return exc
    return None


def render(text: str, values: Mapping[str, str]) -> list[dict[str, Any]]:
    """Substitute `values` into the template and parse every YAML document.

    Raises:
        ManifestError: a placeholder has no value, the YAML does not parse, or a document is
            not an object with apiVersion, kind and metadata.name of a supported kind.
    """
    try:
        filled = substitute(text, values)
    except MissingVariables as exc:
        raise ManifestError(str(exc)) from exc
    try:
        docs = [d for d in yaml.load_all(filled, Loader=SAFE_LOADER) if d is not None]
    except yaml.YAMLError as exc:
        raise ManifestError(
            f"the rendered YAML does not parse: {_python_error(filled) or exc}"
        ) from exc
    for index, doc in enumerate(docs, start=1):
        _check_document(index, doc)
    return docs


def _check_document(index: int, doc: object) -> None:
    where = f"document {index}"
    if not isinstance(doc, dict):
        raise ManifestError(f"{where} is not a mapping (an object with apiVersion and kind)")
    kind, api_version = doc.get("kind"), doc.get("apiVersion")
    if kind not in KINDS:
        raise ManifestError(
            f"{where}: kind {kind!r} is not supported (expected one of: {', '.join(KINDS)})"
        )
    group = KINDS[str(kind)][0]
    if not isinstance(api_version, str) or api_version.rpartition("/")[0] != group:
        raise ManifestError(f"{where} ({kind}): apiVersion {api_version!r} is not in {group}")
    meta = doc.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        raise ManifestError(f"{where} ({kind}): metadata.name is missing")


def check(text: str, variables: Mapping[str, Any]) -> list[str]:
    """What stops `text` from rendering for any environment, for `envbot policy check`.

    The template is rendered once with sample built-ins and the policy variables.

    Returns:
        One message per problem; empty when the template is usable.
    """
    values = {**variable_values(variables), **_SAMPLE}
    absent = missing(text, values)
    if absent:
        return [
            f"no value for ${{{name}}}: add {name.lower()} to variables "
            f"(or write ${{{name}:=default}} in the template)"
            for name in absent
        ]
    try:
        docs = render(text, values)
    except ManifestError as exc:
        return [str(exc)]
    problems: list[str] = []
    clusters = [d for d in docs if d["kind"] == "Cluster"]
    if len(clusters) != 1 or clusters[0]["metadata"]["name"] != _SAMPLE["CLUSTER_NAME"]:
        problems.append('needs exactly one Cluster, named "${CLUSTER_NAME}"')
    if sum(d["kind"] == "AWSCluster" for d in docs) != 1:
        problems.append(
            "needs exactly one AWSCluster (envbot puts the AWS tags in its spec.additionalTags)"
        )
    for doc in docs:
        what = f"{doc['kind']} {doc['metadata']['name']}"
        namespace = doc["metadata"].get("namespace")
        if namespace not in (None, _SAMPLE["NAMESPACE"]):
            problems.append(
                f"{what}: metadata.namespace is {namespace!r}; leave it out or write "
                "${NAMESPACE} (objects go in the workspace namespace)"
            )
        if doc["kind"] == "AWSMachineTemplate":
            spec = ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}
            ours = sorted(set(spec.get("additionalTags") or {}) & set(AWS_TAG_KEYS))
            if ours:
                problems.append(
                    f"{what}: spec.template.spec.additionalTags sets {', '.join(ours)}, which "
                    "envbot sets on the AWSCluster (a machine's tag would win over it)"
                )
    return problems
