"""deploy/ ships copies of the example policy and its cluster template (kustomize reads no file
outside deploy/): they must stay the same as the examples, and load."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.policy import load_policy

ROOT = Path(__file__).resolve().parents[2]
HEADER_LINES = 3  # deploy/policy.yaml opens with a note on why it is a copy


def test_the_deploy_policy_is_the_example_policy() -> None:
    deployed = (ROOT / "deploy" / "policy.yaml").read_text().splitlines(keepends=True)
    example = (ROOT / "examples" / "policy.yaml").read_text()
    assert all(line.startswith("#") for line in deployed[:HEADER_LINES])
    assert "".join(deployed[HEADER_LINES:]) == example, (
        "deploy/policy.yaml differs from examples/policy.yaml: "
        "re-copy it (see the first lines of deploy/policy.yaml)"
    )


def test_the_deploy_template_is_the_example_template_and_is_in_the_configmap() -> None:
    name = "dkp-aws.yaml"
    deployed = (ROOT / "deploy" / "templates" / name).read_text()
    assert deployed == (ROOT / "examples" / "templates" / name).read_text()
    kustomization = yaml.safe_load((ROOT / "deploy" / "kustomization.yaml").read_text())
    (generator,) = [g for g in kustomization["configMapGenerator"] if g["name"] == "envbot-policy"]
    assert f"{name}=templates/{name}" in generator["files"]


def test_the_deploy_policy_loads_with_its_template() -> None:
    policy = load_policy(ROOT / "deploy" / "policy.yaml")
    assert "sandbox" in policy.templates
