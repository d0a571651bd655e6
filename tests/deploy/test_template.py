"""deploy/trail.yaml: cfn-lint passes, its task role is deploy/iam/run.json, its
container command is one trail-etl accepts, and its alarms watch metrics the
binary prints."""
import json
import os
import subprocess
import sys

import cfnlint.decode
import pytest

from aws_calls import ROOT

TEMPLATE = ROOT / "deploy" / "trail.yaml"


def binary():
    return os.environ.get("TRAIL_ETL_BIN") or str(ROOT / "target" / "debug" / "trail-etl")


@pytest.fixture(scope="module")
def template():
    doc, problems = cfnlint.decode.decode(str(TEMPLATE))
    assert not problems, problems
    return doc


def plain(value):
    """A template value with `!Sub "x"` as "x"."""
    if isinstance(value, dict) and list(value) == ["Fn::Sub"]:
        return value["Fn::Sub"]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def test_cfn_lint_passes():
    cfn_lint = os.path.join(os.path.dirname(sys.executable), "cfn-lint")
    lint = subprocess.run([cfn_lint, str(TEMPLATE)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_the_task_role_is_the_run_policy(template):
    role = template["Resources"]["TaskRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    run = json.loads((ROOT / "deploy" / "iam" / "run.json").read_text())
    assert plain(role) == run


def test_the_container_command_is_accepted(template, tmp_path):
    container = template["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    command = container["Command"]
    assert command[0] == "run"
    # The bucket locations as local folders (the sample bucket in, a folder out), the rest as written.
    places = {"s3://${TrailBucket}/${TrailPrefix}": str(ROOT / "examples" / "bucket"),
              "s3://${LakeBucket}/${LakePrefix}": str(tmp_path / "lake")}
    args = []
    for value in command:
        value = plain(value)
        if isinstance(value, dict) and list(value) == ["Ref"]:
            value = str(template["Parameters"][value["Ref"]]["Default"])
        args.append(places.get(value, value))
    out = subprocess.run([binary(), *args, "--dry-run", "--end", "2030-01-01"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_the_alarms_watch_metrics_the_run_prints(template, tmp_path):
    out = subprocess.run([binary(), "run", "--source", str(ROOT / "examples" / "bucket"), "--dest",
                          str(tmp_path / "lake"), "--metrics", "emf", "--quiet"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    emf = json.loads(out.stdout.strip().splitlines()[-1])
    directive = emf["_aws"]["CloudWatchMetrics"][0]
    printed = {m["Name"] for m in directive["Metrics"]}
    alarms = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert {a["MetricName"] for a in alarms} == {"Runs", "Failed", "BadObjects", "Lag"}
    for alarm in alarms:
        assert alarm["Namespace"] == directive["Namespace"]
        assert alarm["MetricName"] in printed, alarm["MetricName"]
        dims = [d["Name"] for d in alarm["Dimensions"]]
        assert dims in directive["Dimensions"], dims
        assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {"Command": emf["Command"], "Shard": emf["Shard"]}
