"""The demo world in-process: what it points `envbot serve` at, what it hides of the real
environment (and gives back), what it seeds, and the fake's invocation method's refusals."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.demo.invocation import INVOCATION
from bot.demo.tour import KeepDbError, interactive
from bot.demo.world import World, WorldError
from bot.policy import load_policy

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "examples" / "policy.yaml"


def test_the_world_replaces_real_settings_seeds_kube_and_restores_on_exit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # setup: a shell with a real installation's settings
    monkeypatch.setenv("ENVBOT_SLACK__APP_TOKEN", "xapp-real")
    monkeypatch.setenv("AWS_PROFILE", "production")
    out = io.StringIO()

    # execution
    with World(load_policy(POLICY), POLICY, out) as world:
        inside = dict(os.environ)
        namespaces = {
            ns["metadata"]["name"] for ns in world.kube.objects("core", "v1", "namespaces")
        }
        clusterclass = world.kube.get_object(
            "cluster.x-k8s.io", "v1beta1", "clusterclasses", "production", "aws-quick-start"
        )
        env_file = world.env_file.read_text(encoding="utf-8")
        api = world.slack.api_url

        # validating: the fake refuses a wrong token, an unknown user and a missing button
        def invoke(token: str, **params: str) -> dict[str, str]:
            headers = {"Authorization": f"Bearer {token}"}
            answer: dict[str, str] = requests.post(
                api + INVOCATION, json=params, headers=headers, timeout=10
            ).json()
            return answer

        assert invoke("xoxb-wrong")["error"] == "invalid_auth"
        assert invoke(world.slack.token, user="mallory")["error"] == "not_found"
        missing = invoke(world.slack.token, user="bob", click="approve", ref="p1")
        assert (
            missing["detail"] == 'no button "approve" on a message mentioning "p1" visible to @bob'
        )

    # validating: inside, nothing real; serve's settings point into the world
    assert "ENVBOT_SLACK__APP_TOKEN" not in inside
    assert "AWS_PROFILE" not in inside
    assert inside["ENVBOT_SLACK__API_URL"] == api
    assert inside["ENVBOT_HTTP_HOST"] == "127.0.0.1"
    assert inside["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert f"ENVBOT_SLACK__API_URL={api}\n" in env_file
    # the workspaces' namespaces and prod-cluster's ClusterClass with the tags variable
    assert {"sandbox", "production", "team-a"} <= namespaces
    assert clusterclass is not None
    declared = {v["name"] for v in clusterclass["spec"]["variables"]}
    assert {"region", "controlPlaneMachineType", "workerMachineType", "additionalTags"} <= declared
    # afterwards the shell's settings are back and the temporary directory is gone
    assert os.environ["ENVBOT_SLACK__APP_TOKEN"] == "xapp-real"
    assert os.environ["AWS_PROFILE"] == "production"
    assert "ENVBOT_SLACK__API_URL" not in os.environ
    assert not world.dir.exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"crds": Path("/no/such/crds")}, "--crds /no/such/crds is not a directory of CRD files"),
        (
            {"keep_db": Path("/no/such/dir/demo.db")},
            "--keep-db /no/such/dir/demo.db: its directory does not exist",
        ),
    ],
)
def test_bad_options_are_refused_before_anything_starts(
    kwargs: dict[str, Any], message: str
) -> None:
    world = World(load_policy(POLICY), POLICY, io.StringIO(), **kwargs)
    with pytest.raises(WorldError) as refused, world:
        pass
    assert str(refused.value) == message
    assert not hasattr(world, "slack")  # nothing was started


def test_the_prompt_refuses_a_keep_db_in_a_missing_directory() -> None:
    with pytest.raises(KeepDbError, match="its directory does not exist"):
        interactive(POLICY, io.StringIO(), keep_db=Path("/no/such/dir/demo.db"))
