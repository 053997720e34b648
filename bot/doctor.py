"""`envbot doctor`: checks the settings, policy, database, Slack, Kubernetes, AWS and the
ClusterClasses of topology templates, and says what is wrong in words an operator can act on.
Each check is independent and guarded, so one failure (even an unexpected exception) hides no
other and never becomes a traceback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError

from bot.db.install import InstallIdError, load_install_id
from bot.db.revision import code_head, database_revision, missing_sqlite_file, schema_problem
from bot.db.session import make_engine
from bot.environments.spec import topology_spec
from bot.errors import BackendError, PermanentError
from bot.lifecycle.thresholds import threshold_warnings
from bot.policy import Policy, TopologyCluster, check_policy_file, file_warnings, load_policy
from bot.services.journal import path_problem
from bot.settings import (
    Settings,
    SettingsError,
    default_database_url,
    load_settings,
    missing_policy_file,
)
from bot.slack.client import make_client, whoami
from bot.slack.directory import SlackDirectory
from bot.slack.scopes import SCOPE_USES, granted_scopes, missing_scopes
from provisioning.base import EnvSpec
from provisioning.kube.capi import cluster_resource, machine_deployment_resource
from provisioning.kube.client import KubeClients, KubeConfigError
from provisioning.kube.clusterclass import topology_problems
from provisioning.kube.templates import topology_variables
from provisioning.kube.version import admission_policy_note


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    warn: bool = False  # ok, but something the operator should know (printed as WARN)


def _policy(settings: Settings) -> tuple[Check, Policy | None]:
    missing = missing_policy_file(settings)
    if missing:
        return Check("policy", False, missing), None
    errors = check_policy_file(settings.policy_file)
    if errors:
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        detail = "; ".join(errors[:5]) + more + "; `envbot policy check` lists every error"
        return Check("policy", False, detail), None
    policy = load_policy(settings.policy_file)
    file = settings.policy_file
    warnings = file_warnings(file, policy)
    if warnings:  # valid, but what `envbot policy check` warns about
        return Check(
            "policy", True, f"{file} is valid; warning: " + "; ".join(warnings), True
        ), policy
    return Check("policy", True, f"{file} is valid"), policy


def _database(settings: Settings) -> Check:
    url = settings.database_url.get_secret_value()
    source = (
        "ENVBOT_DATABASE_URL is unset, so the default SQLite file is used"
        if url == default_database_url()
        else "check ENVBOT_DATABASE_URL"
    )
    missing = missing_sqlite_file(url)
    if missing is not None:
        return Check(
            "database",
            False,
            f"{missing} does not exist ({source}); run `envbot migrate` to create it",
        )
    try:
        engine = make_engine(url)
    except (SQLAlchemyError, ImportError) as exc:
        return Check(
            "database",
            False,
            f"not a usable database URL ({_first_line(exc)}); {source} "
            "(e.g. postgresql+psycopg://envbot:pw@db/envbot)",
        )
    try:
        try:
            current = database_revision(engine)
        except SQLAlchemyError as exc:
            return Check(
                "database",
                False,
                f"cannot connect ({exc.__class__.__name__}: {_first_line(exc)}); {source}",
            )
        problem = schema_problem(current, code_head())
        if problem:
            return Check("database", False, problem)
        try:
            install = load_install_id(engine, settings.install_id)
        except (InstallIdError, SQLAlchemyError) as exc:
            return Check("database", False, _first_line(exc))
    finally:
        engine.dispose()
    return Check(
        "database", True, f"{engine.dialect.name}, schema at {current}, install id {install}"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def _slack(settings: Settings) -> Check:
    slack = settings.slack
    if slack.bot_token is None:
        return Check("slack", False, "ENVBOT_SLACK__BOT_TOKEN is not set")
    if slack.app_token is None and slack.signing_secret is None:
        return Check(
            "slack",
            False,
            "HTTP mode needs ENVBOT_SLACK__SIGNING_SECRET (or set "
            "ENVBOT_SLACK__APP_TOKEN for Socket Mode)",
        )
    client = make_client(slack.bot_token.get_secret_value(), slack.api_url)
    try:
        who = whoami(client)
    except OSError as exc:  # refused, DNS, TLS, timeout: urllib's errors
        return Check(
            "slack",
            False,
            f"cannot reach Slack at {slack.api_url} ({_first_line(exc)}); check the network "
            "(or proxy) and ENVBOT_SLACK__API_URL",
        )
    except PermanentError as exc:
        return Check(
            "slack",
            False,
            f"auth.test failed: {exc}; check the bot token and that the app is installed",
        )
    mode = "Socket Mode" if slack.app_token else "HTTP"
    if slack.team_id and who.team_id and slack.team_id != who.team_id:
        return Check(
            "slack",
            False,
            f"ENVBOT_SLACK__TEAM_ID is {slack.team_id} but the token is installed in "
            f"{who.team} ({who.team_id}); every request would be refused",
        )
    pin = ""
    if not slack.team_id and who.team_id:
        # Doctor only reports; pinning the workspace is a deliberate configuration change.
        pin = f"; set ENVBOT_SLACK__TEAM_ID={who.team_id} to refuse other workspaces"
        if who.enterprise_id:
            pin += f" (and ENVBOT_SLACK__ENTERPRISE_ID={who.enterprise_id})"
    return Check("slack", True, f"{mode}, bot @{who.user} in {who.team}{pin}")


def _slack_scopes(settings: Settings) -> Check:
    """The bot token's scopes (auth.test's `x-oauth-scopes`) against those envbot uses."""
    token = settings.slack.bot_token
    if token is None:
        return Check("slack scopes", False, "skipped: ENVBOT_SLACK__BOT_TOKEN is not set")
    try:
        granted = granted_scopes(make_client(token.get_secret_value(), settings.slack.api_url))
    except (OSError, PermanentError) as exc:
        return Check("slack scopes", False, f"skipped: auth.test failed ({_first_line(exc)})")
    if granted is None:
        return Check(
            "slack scopes",
            True,
            "Slack named no scopes (no x-oauth-scopes header); check the app's OAuth & "
            "Permissions page against manifest.yaml",
            warn=True,
        )
    missing = missing_scopes(granted)
    if missing:
        lines = "; ".join(f"{scope} (without it: {use})" for scope, use in missing.items())
        return Check(
            "slack scopes",
            False,
            f"the bot token lacks {lines}. Add them under OAuth & Permissions (or update the "
            "app from manifest.yaml) and reinstall the app",
        )
    return Check("slack scopes", True, f"the token has all {len(SCOPE_USES)} scopes envbot uses")


def _clients(settings: Settings, policy: Policy) -> KubeClients:
    contexts = {name: c.context for name, c in policy.clusters.items()}
    return KubeClients(
        str(settings.kubeconfig) if settings.kubeconfig else None, settings.kube_context, contexts
    )


def _kubernetes(settings: Settings, policy: Policy | None) -> Check:
    if policy is None:
        return Check("kubernetes", False, "skipped: the policy is invalid")
    clients = _clients(settings, policy)
    seen: list[str] = []
    try:
        for name, ws in policy.workspaces.items():
            if ws.access_backend == "kommander" and ws.namespace:
                # MachineDeployments too: READY waits for their replicas (deploy/rbac.yaml).
                for res in (cluster_resource("v1beta1"), machine_deployment_resource("v1beta1")):
                    clients.management().list(res, "envbot.io/managed=true", ws.namespace)
                seen.append(f"{name} ({ws.namespace})")
    except KubeConfigError as exc:
        return Check("kubernetes", False, str(exc))
    except BackendError as exc:
        return Check(
            "kubernetes",
            False,
            f"{exc}; check ENVBOT_KUBECONFIG / the ServiceAccount's RBAC in deploy/rbac.yaml",
        )
    finally:
        clients.close()
    return Check(
        "kubernetes",
        True,
        "can list clusters and machinedeployments in " + (", ".join(seen) or "no workspace"),
    )


def _cluster_classes(settings: Settings, policy: Policy | None) -> Check:
    """Every topology template's variables against its ClusterClass, as create() checks them."""
    if policy is None:
        return Check("clusterclasses", False, "skipped: the policy is invalid")
    topologies = [
        (name, t.cluster.topology, policy.workspaces[t.workspace].namespace or t.workspace)
        for name, t in policy.templates.items()
        if isinstance(t.cluster, TopologyCluster) and t.workspace in policy.workspaces
    ]
    if not topologies:
        return Check("clusterclasses", True, "no topology templates")
    clients = _clients(settings, policy)
    problems: list[str] = []
    try:
        for name, topo, namespace in topologies:
            sample = EnvSpec(
                env_id="doctor",
                name="doctor",
                workspace="",
                namespace=namespace,
                template=name,
                owner_id="doctor",
                owner_email="doctor@example.com",
                expires_at=datetime.now(UTC),
                topology=topology_spec(topo),
            )
            problems += topology_problems(
                clients.management(),
                "v1beta1",
                namespace,
                name,
                topo.class_,
                topology_variables(sample),
            )
    except KubeConfigError as exc:
        return Check("clusterclasses", False, str(exc))
    except BackendError as exc:
        return Check("clusterclasses", False, f"{exc}; check the RBAC for clusterclasses")
    finally:
        clients.close()
    if problems:
        return Check("clusterclasses", False, "; ".join(problems))
    names = ", ".join(f"{n} ({t.class_})" for n, t, _ in topologies)
    return Check("clusterclasses", True, f"variables fit the ClusterClass of {names}")


def _admission(settings: Settings, policy: Policy | None) -> Check:
    """Each target cluster's /version against what deploy/target-cluster/admission needs."""
    if policy is None:
        return Check("admission", False, "skipped: the policy is invalid")
    if not policy.clusters:
        return Check("admission", True, "no target clusters in the policy's `clusters:` map")
    clients = _clients(settings, policy)
    fine: list[str] = []
    notes: list[str] = []
    try:
        for name in sorted(policy.clusters):
            try:
                info = clients.cluster(name).server_version()
            except KubeConfigError as exc:
                return Check("admission", False, f"target cluster {name}: {exc}")
            except BackendError as exc:
                return Check(
                    "admission",
                    False,
                    f"cannot read /version of {name}: {exc}; check its context "
                    f"`{policy.clusters[name].context}` in ENVBOT_KUBECONFIG",
                )
            note = admission_policy_note(name, info)
            if note:
                notes.append(note)
            else:
                fine.append(f"{name} ({info.get('gitVersion')})")
    finally:
        clients.close()
    if notes:
        return Check("admission", True, "; ".join(notes), warn=True)
    return Check(
        "admission",
        True,
        f"{', '.join(fine)} can run the admission policy "
        "(kubectl apply -k deploy/target-cluster/admission)",
    )


def _aws(policy: Policy | None) -> Check:
    """Each AWS identity the cloud cleanup would act as: `sts:GetCallerIdentity` (and the role)."""
    if policy is None:
        return Check("aws", False, "skipped: the policy is invalid")
    region = policy.cleanup.region or ""
    used = {name: ws.aws for name, ws in policy.workspaces.items() if ws.aws is not None or region}
    if not used:
        return Check("aws", True, "skipped: no workspace uses AWS (no `aws:`, no cleanup.region)")
    from provisioning.aws.session import AssumedRole

    seen: list[str] = []
    for name, aws in sorted(used.items()):
        try:
            seen.append(f"{name}: {AssumedRole(aws, region=region).identity()}")
        except BackendError as exc:
            return Check(
                "aws",
                False,
                f"workspace {name}: {exc}; check envbot's AWS credentials and that the role "
                "trusts them",
            )
    return Check("aws", True, "; ".join(seen))


def _approvals(settings: Settings, policy: Policy | None) -> Check:
    """Approval thresholds against the approvers who resolve in Slack (a warning each)."""
    if policy is None:
        return Check("approvals", False, "skipped: the policy is invalid")
    if settings.slack.bot_token is None:
        return Check("approvals", True, "skipped: no Slack token to resolve the approvers")
    client = make_client(settings.slack.bot_token.get_secret_value(), settings.slack.api_url)
    problems = threshold_warnings(policy, SlackDirectory(client))
    if problems:
        return Check("approvals", True, "; ".join(problems), warn=True)
    return Check("approvals", True, "every approval threshold can be met")


def _ack_journal(settings: Settings) -> Check:
    """Where `serve` journals its acks (ENVBOT_ACK_JOURNAL), and whether it can."""
    path = settings.ack_journal_path()
    if path is None:
        return Check("ack journal", True, "off: each ack waits for its database write")
    beside = not settings.ack_journal  # the default: beside the SQLite database file
    if beside and not path.parent.is_dir():  # the database check says what is missing
        return Check("ack journal", True, f"{path} (beside the SQLite database, once it exists)")
    if problem := path_problem(path):
        return Check(
            "ack journal",
            False,
            f"{problem}; mount a writable volume there for ENVBOT_ACK_JOURNAL={path}, or set "
            "ENVBOT_ACK_JOURNAL=off (serve would ack through the database)",
        )
    where = " (beside the SQLite database)" if beside else ""
    return Check("ack journal", True, f"{path}{where}")


# What to do when a check fails in a way it does not describe itself.
_HINTS = {
    "database": "check ENVBOT_DATABASE_URL",
    "slack": "check ENVBOT_SLACK__API_URL and the bot token",
    "slack scopes": "check the app's OAuth & Permissions page against manifest.yaml",
    "kubernetes": "check ENVBOT_KUBECONFIG / ENVBOT_KUBE_CONTEXT",
    "admission": "check the policy's clusters and their kubeconfig contexts",
    "clusterclasses": "check the RBAC for clusterclasses",
    "aws": "check envbot's AWS credentials and the workspaces' aws.role_arn",
    "approvals": "check the bot token's usergroups:read and users:read.email scopes",
}


def _guarded(name: str, check: Callable[[], Check]) -> Check:
    """Run one check; whatever it raises becomes a failed line with what to check."""
    try:
        return check()
    except Exception as exc:  # noqa: BLE001 - doctor prints a line, never a traceback
        return Check(
            name,
            False,
            f"{exc.__class__.__name__}: {_first_line(exc)}; {_HINTS.get(name, 'see the logs')}",
        )


def _load_policy(settings: Settings) -> tuple[Check, Policy | None]:
    try:
        return _policy(settings)
    except Exception as exc:  # noqa: BLE001 - as in _guarded
        return Check("policy", False, f"{_first_line(exc)}; check ENVBOT_POLICY_FILE"), None


def iter_checks() -> Iterator[Check]:
    """Every check, in order, each yielded as soon as it has run; never raises."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        yield Check("settings", False, str(exc))
        return
    yield Check("settings", True, "loaded")
    policy_check, policy = _load_policy(settings)
    yield policy_check
    checks: list[tuple[str, Callable[[], Check]]] = [
        ("database", lambda: _database(settings)),
        ("ack journal", lambda: _ack_journal(settings)),
        ("slack", lambda: _slack(settings)),
        ("slack scopes", lambda: _slack_scopes(settings)),
        ("kubernetes", lambda: _kubernetes(settings, policy)),
        ("admission", lambda: _admission(settings, policy)),
        ("clusterclasses", lambda: _cluster_classes(settings, policy)),
        ("aws", lambda: _aws(policy)),
        ("approvals", lambda: _approvals(settings, policy)),
    ]
    for name, check in checks:
        yield _guarded(name, check)


def run_checks() -> list[Check]:
    """Every check, in order; never raises."""
    return list(iter_checks())
