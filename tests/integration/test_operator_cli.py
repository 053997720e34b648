"""The operator's first hour, through the `envbot` console script: doctor prints a line per check
(never a traceback), `serve` refuses what it cannot run on with one line and exit 2, and
`/readyz` follows the schema revision."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from bot.db import migrate
from bot.db.revision import code_head, database_revision
from bot.db.session import make_engine

ROOT = Path(__file__).resolve().parents[2]
ENVBOT = [sys.executable, "-m", "bot.cli"]
POLICY = str(ROOT / "examples" / "policy.yaml")


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    """The process environment without any ENVBOT_ or kubeconfig variable, and a fresh home."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ENVBOT_", "AWS_")) and k != "KUBECONFIG"
    }
    env |= {
        "HOME": str(tmp_path / "home"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    return env


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ENVBOT, *args], capture_output=True, text=True, cwd=ROOT, check=False, env=env
    )


def marks(stdout: str) -> dict[str, str]:
    """check name -> its whole line, for the lines doctor printed."""
    return {line.split(":")[0].split(" ", 1)[1]: line for line in stdout.splitlines()}


def test_doctor_prints_a_line_for_each_failure_and_no_traceback(
    base_env: dict[str, str], tmp_path: Path
) -> None:
    # setup: Slack on a closed port, ENVBOT_DATABASE_URL empty, the policy file missing
    env = base_env | {
        "ENVBOT_SLACK__BOT_TOKEN": "xoxb-1",
        "ENVBOT_SLACK__SIGNING_SECRET": "s",
        "ENVBOT_SLACK__API_URL": f"http://127.0.0.1:{closed_port()}/api/",
        "ENVBOT_DATABASE_URL": "",
        "ENVBOT_POLICY_FILE": str(tmp_path / "missing.yaml"),
    }

    # execution
    result = run(env, "doctor")

    # validating
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    lines = marks(result.stdout)
    assert list(lines) == [
        "settings",
        "policy",
        "database",
        "ack journal",
        "slack",
        "slack scopes",
        "kubernetes",
        "admission",
        "clusterclasses",
        "aws",
        "approvals",
    ]
    assert lines["settings"] == "✓ settings: loaded"
    assert lines["policy"] == (
        f"✗ policy: no policy file at {tmp_path / 'missing.yaml'} (ENVBOT_POLICY_FILE is "
        f"{tmp_path / 'missing.yaml'}); set ENVBOT_POLICY_FILE to your policy file "
        "(examples/policy.yaml documents every key)"
    )
    default_db = tmp_path / "data" / "envbot" / "envbot.db"
    assert lines["database"] == (
        f"✗ database: {default_db} does not exist (ENVBOT_DATABASE_URL is unset, so the default "
        "SQLite file is used); run `envbot migrate` to create it"
    )
    assert not default_db.exists()  # doctor created nothing
    assert lines["ack journal"] == (
        f"✓ ack journal: {default_db}-acks (beside the SQLite database, once it exists)"
    )
    assert lines["slack"].startswith(
        f"✗ slack: cannot reach Slack at {env['ENVBOT_SLACK__API_URL']} (<urlopen error"
    )
    assert lines["slack"].endswith("check the network (or proxy) and ENVBOT_SLACK__API_URL")
    assert lines["slack scopes"].startswith("✗ slack scopes: skipped: auth.test failed (")
    assert lines["aws"] == "✗ aws: skipped: the policy is invalid"
    assert lines["approvals"] == "✗ approvals: skipped: the policy is invalid"


def test_doctor_says_which_setting_is_bad(base_env: dict[str, str]) -> None:
    result = run(base_env | {"ENVBOT_HTTP_PORT": "abc"}, "doctor")
    assert result.returncode == 1
    assert result.stdout == (
        "✗ settings: ENVBOT_HTTP_PORT is 'abc': input should be a valid integer, unable to parse "
        "string as an integer; fix it or unset it to use the default\n"
    )


def test_lowercase_log_level_is_accepted_and_a_bad_one_is_one_line(
    base_env: dict[str, str], tmp_path: Path
) -> None:
    # a lowercase level passes the settings: serve goes on to its next check (the policy)
    env = base_env | {"ENVBOT_POLICY_FILE": str(tmp_path / "missing.yaml")}
    ok = run(env | {"ENVBOT_LOG_LEVEL": "debug"}, "serve")
    assert ok.returncode == 2
    assert ok.stderr.splitlines()[-1].startswith(
        f"envbot serve: no policy file at {tmp_path / 'missing.yaml'}"
    )

    bad = run(env | {"ENVBOT_LOG_LEVEL": "loud"}, "serve")
    assert bad.returncode == 2
    assert bad.stderr == (
        "envbot serve: ENVBOT_LOG_LEVEL is 'LOUD': input should be 'DEBUG', 'INFO', 'WARNING' or "
        "'ERROR'; fix it or unset it to use the default\n"
    )


@pytest.fixture
def serve_env(base_env: dict[str, str]) -> dict[str, str]:
    return base_env | {
        "ENVBOT_SLACK__BOT_TOKEN": "xoxb-1",
        "ENVBOT_SLACK__SIGNING_SECRET": "s",
        "ENVBOT_POLICY_FILE": POLICY,
        "ENVBOT_LOG_LEVEL": "warning",
    }


def test_serve_refuses_an_unmigrated_database(serve_env: dict[str, str], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'envbot.db'}"
    result = run(serve_env | {"ENVBOT_DATABASE_URL": url}, "serve")
    assert result.returncode == 2
    assert result.stderr == (
        f"envbot serve: the database is at revision none (never migrated), the code needs "
        f"{code_head()}: run `envbot migrate` or `envbot serve --migrate`\n"
    )
    assert not (tmp_path / "envbot.db").exists()


def test_serve_refuses_a_database_behind_the_code(
    serve_env: dict[str, str], fresh_database_url: str
) -> None:
    # setup: migrated, then one revision back (an upgrade of envbot without `envbot migrate`)
    migrate.upgrade(fresh_database_url)
    command.downgrade(migrate.alembic_config(fresh_database_url), "-1")
    engine = make_engine(fresh_database_url)
    try:
        behind = database_revision(engine)
    finally:
        engine.dispose()
    assert behind not in (None, code_head())

    # execution
    result = run(serve_env | {"ENVBOT_DATABASE_URL": fresh_database_url}, "serve")

    # validating
    assert result.returncode == 2
    assert result.stderr == (
        f"envbot serve: the database is at revision {behind}, the code needs {code_head()}: "
        "run `envbot migrate` or `envbot serve --migrate`\n"
    )


def test_serve_says_in_one_line_that_the_database_is_unreachable(
    serve_env: dict[str, str],
) -> None:
    url = f"postgresql+psycopg://envbot:pw@127.0.0.1:{closed_port()}/envbot"
    result = run(serve_env | {"ENVBOT_DATABASE_URL": url}, "serve")
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("envbot serve: cannot reach the database (OperationalError: ")
    assert result.stderr.endswith("check ENVBOT_DATABASE_URL and that the database is up\n")


def test_migrate_says_in_one_line_that_the_database_is_unreachable(
    base_env: dict[str, str],
) -> None:
    url = f"postgresql+psycopg://envbot:pw@127.0.0.1:{closed_port()}/envbot"
    result = run(base_env | {"ENVBOT_DATABASE_URL": url}, "migrate")
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("envbot migrate: cannot reach the database (OperationalError: ")


def test_serve_says_in_one_line_that_the_policy_is_missing(
    serve_env: dict[str, str], tmp_path: Path
) -> None:
    result = run(serve_env | {"ENVBOT_POLICY_FILE": str(tmp_path / "nope.yaml")}, "serve")
    assert result.returncode == 2
    assert result.stderr == (
        f"envbot serve: no policy file at {tmp_path / 'nope.yaml'} (ENVBOT_POLICY_FILE is "
        f"{tmp_path / 'nope.yaml'}); set ENVBOT_POLICY_FILE to your policy file "
        "(examples/policy.yaml documents every key)\n"
    )


def test_serve_without_envbot_policy_file_names_the_default(
    serve_env: dict[str, str], tmp_path: Path
) -> None:
    env = {k: v for k, v in serve_env.items() if k != "ENVBOT_POLICY_FILE"}
    result = subprocess.run(
        [*ENVBOT, "serve"], capture_output=True, text=True, cwd=tmp_path, check=False, env=env
    )
    assert result.returncode == 2
    assert result.stderr == (
        f"envbot serve: no policy file at {tmp_path / 'policy.yaml'} (ENVBOT_POLICY_FILE is "
        "unset; the default is policy.yaml); set ENVBOT_POLICY_FILE to your policy file "
        "(examples/policy.yaml documents every key)\n"
    )


@pytest.fixture
def served(serve_env: dict[str, str], fresh_database_url: str) -> Iterator[str]:
    """`envbot serve --migrate` on a free loopback port; yields its base URL."""
    env = serve_env | {
        "ENVBOT_DATABASE_URL": fresh_database_url,
        "ENVBOT_HTTP_HOST": "127.0.0.1",
        "ENVBOT_HTTP_PORT": "0",
        "ENVBOT_LOG_LEVEL": "info",
        "ENVBOT_SHUTDOWN_DELAY": "0",  # SIGTERM at the end: no load balancer to wait for
    }
    with subprocess.Popen(
        [*ENVBOT, "serve", "--migrate"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    ) as proc:
        assert proc.stderr is not None
        seen: list[str] = []
        drain = threading.Thread(target=seen.extend, args=(proc.stderr,), daemon=True)
        try:
            for line in proc.stderr:
                seen.append(line)
                if "listening on " in line:
                    # keep reading its log, so a full pipe never blocks the server
                    drain.start()
                    yield line.split("listening on ")[1].strip()
                    break
            else:
                pytest.fail("serve ended before listening:\n" + "".join(seen))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            if drain.is_alive():
                drain.join(timeout=30)  # the pipe ends with the process


def readyz(base: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"{base}/readyz", timeout=10) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_readyz_follows_the_schema_revision(served: str, fresh_database_url: str) -> None:
    assert readyz(served) == (200, "ready")

    # a database taken one revision back under the running process is not ready
    command.downgrade(migrate.alembic_config(fresh_database_url), "-1")
    assert readyz(served) == (503, "not ready")

    migrate.upgrade(fresh_database_url)
    assert readyz(served) == (200, "ready")

    # a newer envbot's migration in a rolling update: this version keeps serving until replaced
    engine = make_engine(fresh_database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999_newer'"))
    finally:
        engine.dispose()
    assert readyz(served) == (200, "ready")


def test_serve_refuses_to_start_on_a_newer_schema(
    serve_env: dict[str, str], fresh_database_url: str
) -> None:
    migrate.upgrade(fresh_database_url)
    engine = make_engine(fresh_database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999_newer'"))
    finally:
        engine.dispose()
    # with or without --migrate: Alembic cannot take a schema it does not know anywhere
    for args in (["serve"], ["serve", "--migrate"]):
        result = run(serve_env | {"ENVBOT_DATABASE_URL": fresh_database_url}, *args)
        assert result.returncode == 2
        assert result.stderr == (
            "envbot serve: the database is at revision 9999_newer, which this code does not "
            f"know (a newer envbot migrated it); the code needs {code_head()}: run the newer "
            f"envbot, or that version's `envbot migrate --downgrade {code_head()}`\n"
        )
