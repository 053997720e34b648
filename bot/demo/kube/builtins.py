"""Built-in kinds and the fallback CRD table (no ../shared/crds) for the fake API server."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal

from bot.demo.kube.schema import PRESERVE, Cause, Json, ResourceType
from bot.policy.quantity import quantity_value


def _obj(props: Mapping[str, Json], required: Iterable[str] = ()) -> Json:
    schema: Json = {"type": "object", "properties": dict(props)}
    if required:
        schema["required"] = list(required)
    return schema


_STR: Json = {"type": "string"}
_STRS: Json = {"type": "array", "items": _STR}
_STR_MAP: Json = {"type": "object", "additionalProperties": _STR}
_INT_OR_STR: Json = {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, _STR]}
_QTY_MAP: Json = {"type": "object", "additionalProperties": _INT_OR_STR}
_POLICY_RULE = _obj(
    {
        "apiGroups": _STRS,
        "resources": _STRS,
        "resourceNames": _STRS,
        "nonResourceURLs": _STRS,
        "verbs": _STRS,
    },
    ["verbs"],
)
_SUBJECTS: Json = {
    "type": "array",
    "items": _obj(
        {"apiGroup": _STR, "kind": _STR, "name": _STR, "namespace": _STR}, ["kind", "name"]
    ),
}
_ROLE_REF = _obj({"apiGroup": _STR, "kind": _STR, "name": _STR}, ["apiGroup", "kind", "name"])


def _root(props: Mapping[str, Json], required: Iterable[str] = ()) -> Json:
    return _obj(
        {"apiVersion": _STR, "kind": _STR, "metadata": {"type": "object"}, **props}, required
    )


def _builtin(
    group: str,
    version: str,
    plural: str,
    kind: str,
    namespaced: bool,
    schema: Json,
    *,
    short_names: tuple[str, ...] = (),
    name_rule: str = "subdomain",
    fields: tuple[str, ...] = (),
) -> ResourceType:
    return ResourceType(
        group=group,
        plural=plural,
        kind=kind,
        namespaced=namespaced,
        versions=(version,),
        schemas={version: schema},
        singular=kind.lower(),
        short_names=short_names,
        custom=False,
        name_rule=name_rule,
        extra_field_selectors=fields,
    )


def builtin_types() -> list[ResourceType]:
    """Core, RBAC and coordination resources with hand-written minimal schemas."""
    rbac = "rbac.authorization.k8s.io"
    return [
        _builtin(
            "",
            "v1",
            "namespaces",
            "Namespace",
            False,
            _root({"spec": _obj({"finalizers": _STRS}), "status": PRESERVE}),
            short_names=("ns",),
            name_rule="label",
            fields=("status.phase",),
        ),
        _builtin(
            "",
            "v1",
            "resourcequotas",
            "ResourceQuota",
            True,
            _root(
                {
                    "spec": _obj({"hard": _QTY_MAP, "scopes": _STRS, "scopeSelector": PRESERVE}),
                    "status": PRESERVE,
                }
            ),
            short_names=("quota",),
        ),
        _builtin(
            "",
            "v1",
            "limitranges",
            "LimitRange",
            True,
            _root(
                {
                    "spec": _obj(
                        {
                            "limits": {
                                "type": "array",
                                "items": _obj(
                                    {
                                        "type": _STR,
                                        "max": _QTY_MAP,
                                        "min": _QTY_MAP,
                                        "default": _QTY_MAP,
                                        "defaultRequest": _QTY_MAP,
                                        "maxLimitRequestRatio": _QTY_MAP,
                                    },
                                    ["type"],
                                ),
                            }
                        },
                        ["limits"],
                    )
                }
            ),
            short_names=("limits",),
        ),
        _builtin(
            "",
            "v1",
            "serviceaccounts",
            "ServiceAccount",
            True,
            _root(
                {
                    "secrets": {"type": "array", "items": PRESERVE},
                    "imagePullSecrets": {"type": "array", "items": _obj({"name": _STR})},
                    "automountServiceAccountToken": {"type": "boolean"},
                }
            ),
            short_names=("sa",),
        ),
        _builtin(
            "",
            "v1",
            "secrets",
            "Secret",
            True,
            _root(
                {
                    "data": _STR_MAP,
                    "stringData": _STR_MAP,
                    "type": _STR,
                    "immutable": {"type": "boolean"},
                }
            ),
            fields=("type",),
        ),
        _builtin(
            "",
            "v1",
            "configmaps",
            "ConfigMap",
            True,
            _root({"data": _STR_MAP, "binaryData": _STR_MAP, "immutable": {"type": "boolean"}}),
            short_names=("cm",),
        ),
        _builtin(
            rbac,
            "v1",
            "roles",
            "Role",
            True,
            _root({"rules": {"type": "array", "items": _POLICY_RULE}}),
            name_rule="path",
        ),
        _builtin(
            rbac,
            "v1",
            "rolebindings",
            "RoleBinding",
            True,
            _root({"subjects": _SUBJECTS, "roleRef": _ROLE_REF}, ["roleRef"]),
            name_rule="path",
        ),
        _builtin(
            rbac,
            "v1",
            "clusterroles",
            "ClusterRole",
            False,
            _root(
                {
                    "rules": {"type": "array", "items": _POLICY_RULE},
                    "aggregationRule": _obj(
                        {"clusterRoleSelectors": {"type": "array", "items": PRESERVE}}
                    ),
                }
            ),
            name_rule="path",
        ),
        _builtin(
            rbac,
            "v1",
            "clusterrolebindings",
            "ClusterRoleBinding",
            False,
            _root({"subjects": _SUBJECTS, "roleRef": _ROLE_REF}, ["roleRef"]),
            name_rule="path",
        ),
        _builtin(
            "coordination.k8s.io",
            "v1",
            "leases",
            "Lease",
            True,
            _root(
                {
                    "spec": _obj(
                        {
                            "holderIdentity": _STR,
                            "leaseDurationSeconds": {"type": "integer"},
                            "acquireTime": _STR,
                            "renewTime": _STR,
                            "leaseTransitions": {"type": "integer"},
                            "strategy": _STR,
                            "preferredHolder": _STR,
                        }
                    )
                }
            ),
        ),
    ]


def _fallback_schema(required: Mapping[str, list[str]]) -> Json:
    """A permissive schema (unknown fields kept) that only enforces the given required fields."""
    root: Json = _root({"spec": {"type": "object", **PRESERVE}, "status": PRESERVE})
    for path, names in sorted(required.items(), key=lambda item: item[0].count(".")):
        node = root
        if path:
            for part in path.split("."):
                node = node["properties"].setdefault(
                    part, {"type": "object", "properties": {}, **PRESERVE}
                )
                node.setdefault("properties", {})
        node["required"] = list(names)
    return root


_WS = "workspaces.kommander.mesosphere.io"
_KOM = "kommander.mesosphere.io"
_REFS = "virtualGroupRef"
_CAPI = ("v1beta1", "v1beta2")
_INFRA = "infrastructure.cluster.x-k8s.io"
# (group, versions, plural, kind, namespaced, shortNames, status subresource,
#  {version: {path: required}})
_FALLBACK_CRDS: list[
    tuple[
        str, tuple[str, ...], str, str, bool, tuple[str, ...], bool, dict[str, dict[str, list[str]]]
    ]
] = [
    (
        "cluster.x-k8s.io",
        ("v1beta1", "v1beta2"),
        "clusters",
        "Cluster",
        True,
        ("cl",),
        True,
        {
            "v1beta1": {"spec.topology": ["class", "version"]},
            "v1beta2": {
                "": ["spec"],
                "spec.topology": ["classRef", "version"],
                "spec.topology.classRef": ["name"],
                "spec.controlPlaneRef": ["apiGroup", "kind", "name"],
                "spec.infrastructureRef": ["apiGroup", "kind", "name"],
            },
        },
    ),
    (_KOM, ("v1beta1",), "kommanderclusters", "KommanderCluster", True, ("komm",), True, {}),
    ("cluster.x-k8s.io", _CAPI, "clusterclasses", "ClusterClass", True, ("cc",), True, {}),
    (
        "cluster.x-k8s.io",
        _CAPI,
        "machinedeployments",
        "MachineDeployment",
        True,
        ("md",),
        True,
        {"v1beta1": {"spec": ["clusterName", "selector", "template"]}},
    ),
    (  # CAPI's MachineHealthCheckSpec: clusterName and selector are the required fields
        "cluster.x-k8s.io",
        _CAPI,
        "machinehealthchecks",
        "MachineHealthCheck",
        True,
        ("mhc",),
        True,
        {v: {"spec": ["clusterName", "selector"]} for v in _CAPI},
    ),
    (
        "controlplane.cluster.x-k8s.io",
        _CAPI,
        "kubeadmcontrolplanes",
        "KubeadmControlPlane",
        True,
        ("kcp",),
        True,
        {"v1beta1": {"spec": ["kubeadmConfigSpec", "machineTemplate", "version"]}},
    ),
    (
        "bootstrap.cluster.x-k8s.io",
        _CAPI,
        "kubeadmconfigtemplates",
        "KubeadmConfigTemplate",
        True,
        (),
        False,
        {"v1beta1": {"spec": ["template"]}},
    ),
    (_INFRA, ("v1beta2",), "awsclusters", "AWSCluster", True, (), True, {}),
    (
        _INFRA,
        ("v1beta2",),
        "awsmachinetemplates",
        "AWSMachineTemplate",
        True,
        (),
        False,
        {"v1beta2": {"spec": ["template"], "spec.template": ["spec"]}},
    ),
    (_KOM, ("v1beta1",), "virtualgroups", "VirtualGroup", False, (), False, {}),
    (
        _KOM,
        ("v1beta1",),
        "virtualgroupclusterrolebindings",
        "VirtualGroupClusterRoleBinding",
        False,
        (),
        False,
        {"v1beta1": {"": ["spec"], "spec": ["clusterRoleRef", _REFS]}},
    ),
    (_WS, ("v1alpha1",), "workspaces", "Workspace", False, ("ws",), True, {}),
    (_WS, ("v1alpha1",), "workspaceroles", "WorkspaceRole", True, (), True, {}),
    (_WS, ("v1alpha1",), "kommanderworkspaceroles", "KommanderWorkspaceRole", True, (), True, {}),
    (_WS, ("v1alpha1",), "projects", "Project", True, (), True, {}),
    (_WS, ("v1alpha1",), "projectroles", "ProjectRole", True, (), True, {}),
    (_WS, ("v1alpha1",), "kommanderprojectroles", "KommanderProjectRole", True, (), True, {}),
    (
        _WS,
        ("v1alpha1",),
        "virtualgroupworkspacerolebindings",
        "VirtualGroupWorkspaceRoleBinding",
        True,
        (),
        True,
        {"v1alpha1": {"": ["spec"], "spec": [_REFS, "workspaceRoleRef"]}},
    ),
    (
        _WS,
        ("v1alpha1",),
        "virtualgroupkommanderworkspacerolebindings",
        "VirtualGroupKommanderWorkspaceRoleBinding",
        True,
        (),
        True,
        {"v1alpha1": {"": ["spec"], "spec": ["kommanderWorkspaceRoleRef", _REFS]}},
    ),
    (
        _WS,
        ("v1alpha1",),
        "virtualgroupkommanderclusterrolebindings",
        "VirtualGroupKommanderClusterRoleBinding",
        False,
        (),
        True,
        {"v1alpha1": {"": ["spec"], "spec": ["clusterRoleRef", _REFS]}},
    ),
    (
        _WS,
        ("v1alpha1",),
        "virtualgroupprojectrolebindings",
        "VirtualGroupProjectRoleBinding",
        True,
        (),
        True,
        {"v1alpha1": {"": ["spec"], "spec": ["projectRoleRef", _REFS]}},
    ),
    (
        _WS,
        ("v1alpha1",),
        "virtualgroupkommanderprojectrolebindings",
        "VirtualGroupKommanderProjectRoleBinding",
        True,
        (),
        True,
        {"v1alpha1": {"": ["spec"], "spec": ["kommanderProjectRoleRef", _REFS]}},
    ),
]


def fallback_crd_types() -> list[ResourceType]:
    """The CRD kinds envbot uses, with required-field checks only (for clones without ../shared)."""
    types = []
    for group, versions, plural, kind, namespaced, short, status, required in _FALLBACK_CRDS:
        types.append(
            ResourceType(
                group=group,
                plural=plural,
                kind=kind,
                namespaced=namespaced,
                versions=versions,
                schemas={v: _fallback_schema(required.get(v, {})) for v in versions},
                singular=kind.lower(),
                short_names=short,
                status_subresource=status,
            )
        )
    return types


def builtin_semantics(rt: ResourceType, obj: Json) -> list[Cause]:
    """Checks beyond the schema that the real apiserver makes for built-in kinds."""
    causes: list[Cause] = []
    if rt.kind in ("RoleBinding", "ClusterRoleBinding"):
        ref = obj.get("roleRef") or {}
        allowed = ("ClusterRole",) if rt.kind == "ClusterRoleBinding" else ("Role", "ClusterRole")
        if ref.get("kind") and ref["kind"] not in allowed:
            causes.append(
                {
                    "reason": "FieldValueNotSupported",
                    "message": f"Unsupported value: {json.dumps(ref['kind'])}: supported "
                    f"values: {', '.join(json.dumps(a) for a in allowed)}",
                    "field": "roleRef.kind",
                }
            )
        if ref.get("apiGroup") not in (None, "rbac.authorization.k8s.io"):
            causes.append(
                {
                    "reason": "FieldValueNotSupported",
                    "message": f"Unsupported value: {json.dumps(ref['apiGroup'])}: supported "
                    'values: "rbac.authorization.k8s.io"',
                    "field": "roleRef.apiGroup",
                }
            )
        for index, subject in enumerate(obj.get("subjects") or []):
            if subject.get("kind") not in ("User", "Group", "ServiceAccount"):
                causes.append(
                    {
                        "reason": "FieldValueNotSupported",
                        "message": f"Unsupported value: {json.dumps(subject.get('kind'))}: "
                        'supported values: "ServiceAccount", "User", "Group"',
                        "field": f"subjects[{index}].kind",
                    }
                )
            elif (
                subject["kind"] == "ServiceAccount"
                and rt.kind == "ClusterRoleBinding"
                and not subject.get("namespace")
            ):
                causes.append(
                    {
                        "reason": "FieldValueRequired",
                        "message": "Required value",
                        "field": f"subjects[{index}].namespace",
                    }
                )
    if rt.kind == "LimitRange":
        causes += _limit_range_causes(obj)
    if rt.kind in ("Role", "ClusterRole"):
        for index, rule in enumerate(obj.get("rules") or []):
            if not rule.get("nonResourceURLs") and not rule.get("resources"):
                causes.append(
                    {
                        "reason": "FieldValueRequired",
                        "message": "Required value: resource rules must supply at least one "
                        "resource",
                        "field": f"rules[{index}].resources",
                    }
                )
            if not rule.get("verbs"):
                causes.append(
                    {
                        "reason": "FieldValueRequired",
                        "message": "Required value: verbs must contain at least one value",
                        "field": f"rules[{index}].verbs",
                    }
                )
    return causes


# `ValidateLimitRange`: within one item of spec.limits, for each resource,
# min <= defaultRequest <= default <= max (the pairs it compares, in its order and words).
_LIMIT_ORDER = (
    ("min", "max", "max", "min value {a} is greater than max value {b}"),
    (
        "min",
        "defaultRequest",
        "defaultRequest",
        "min value {a} is greater than default request value {b}",
    ),
    (
        "defaultRequest",
        "max",
        "defaultRequest",
        "default request value {a} is greater than max value {b}",
    ),
    (
        "defaultRequest",
        "default",
        "defaultRequest",
        "default request value {a} is greater than default limit value {b}",
    ),
    ("min", "default", "default", "min value {a} is greater than default value {b}"),
    ("default", "max", "default", "default value {a} is greater than max value {b}"),
)


_BAD_QUANTITY = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)


def _limit_range_causes(obj: Json) -> list[Cause]:
    causes: list[Cause] = []
    seen_types: set[str] = set()
    for index, item in enumerate((obj.get("spec") or {}).get("limits") or []):
        path = f"spec.limits[{index}]"
        kind = str(item.get("type", ""))
        if kind in seen_types:
            causes.append(
                {
                    "reason": "FieldValueDuplicate",
                    "message": f"Duplicate value: {json.dumps(kind)}",
                    "field": f"{path}.type",
                }
            )
        seen_types.add(kind)
        if kind == "Pod":
            for key in ("default", "defaultRequest"):
                if item.get(key):
                    causes.append(
                        {
                            "reason": "FieldValueForbidden",
                            "message": "Forbidden: may not be specified when `type` is 'Pod'",
                            "field": f"{path}.{key}",
                        }
                    )
        values: dict[str, dict[str, tuple[str, Decimal]]] = {}
        for key in ("min", "max", "default", "defaultRequest"):
            for resource, raw in (item.get(key) or {}).items():
                try:
                    values.setdefault(key, {})[resource] = (str(raw), quantity_value(str(raw)))
                except ValueError:
                    causes.append(
                        {
                            "reason": "FieldValueInvalid",
                            "message": f"Invalid value: {json.dumps(raw)}: {_BAD_QUANTITY}",
                            "field": f"{path}.{key}[{resource}]",
                        }
                    )
        resources = sorted({r for by in values.values() for r in by})
        for resource in resources:
            for low, high, at, words in _LIMIT_ORDER:
                a, b = values.get(low, {}).get(resource), values.get(high, {}).get(resource)
                if a is None or b is None or not a[1] > b[1]:
                    continue
                shown = a if at == low else b
                causes.append(
                    {
                        "reason": "FieldValueInvalid",
                        "message": f"Invalid value: {json.dumps(shown[0])}: "
                        + words.format(a=a[0], b=b[0]),
                        "field": f"{path}.{at}[{resource}]",
                    }
                )
    return causes
