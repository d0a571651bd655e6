"""The IAM policies in deploy/iam/ against the AWS operations the code calls.

For each command, the operations its entry function in cli.rs can reach
(tests/deploy/aws_calls.py) must be allowed by deploy/iam/<command>.json,
and the policy may allow nothing else but what Athena does with the caller's
permissions for the statements that command runs (the catalog actions of
each statement kind, the query results location, and the lake where Athena
reads it). Resources are scoped to the template's parameters, never `*`
where the action has resource types.
"""
import json
import re
import subprocess

import pytest

from aws_calls import COMMANDS, ROOT, SRC, explain, every_call, functions, direct_calls, reached, walk

IAM = ROOT / "deploy" / "iam"

# What Athena does with the caller's permissions, per statement kind
# (Athena user guide: "Configure access to databases and tables in the AWS Glue
# Data Catalog", and "Control access to Amazon S3 from Athena").
GLUE_FOR = {
    "CREATE DATABASE": {"glue:CreateDatabase", "glue:GetDatabase"},
    "CREATE EXTERNAL TABLE": {"glue:CreateTable", "glue:GetTable", "glue:GetDatabase"},
    "DROP TABLE": {"glue:DeleteTable", "glue:GetTable", "glue:GetPartitions", "glue:BatchDeletePartition"},
    "CREATE OR REPLACE VIEW": {"glue:CreateTable", "glue:UpdateTable", "glue:GetTable"},
    "SELECT": {"glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartitions"},
}
# Every statement writes its results to the output location.
RESULTS = {"s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket", "s3:ListBucketMultipartUploads",
           "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload", "s3:PutObject"}
# A table's LOCATION is checked; a SELECT over the views reads the lake.
LAKE_FOR = {
    "CREATE EXTERNAL TABLE": {"s3:GetBucketLocation", "s3:ListBucket"},
    "SELECT over the views": {"s3:GetBucketLocation", "s3:ListBucket", "s3:GetObject"},
}
# Actions that have no resource types (IAM's service authorization reference).
NO_RESOURCE_TYPES = {"cloudtrail:ListPublicKeys"}


def trail_etl(*args):
    import os
    binary = os.environ.get("TRAIL_ETL_BIN") or str(ROOT / "target" / "debug" / "trail-etl")
    return subprocess.run([binary, *args], capture_output=True, text=True, check=True).stdout


def statement_kinds(command):
    """The kinds of statement a command sends to Athena, from its SQL."""
    if command == "athena-install":
        text = trail_etl("athena", "install", "--dest", "s3://lake/cloudtrail", "--database", "cloudtrail",
                         "--dry-run")
        text += (SRC / "athena_install.rs").read_text()  # statements made at run time (DROP TABLE, information_schema)
    elif command == "athena-report":
        dashboard = json.loads(trail_etl("athena", "dashboard", "--database", "cloudtrail"))
        text = "\n".join(p["targets"][0]["rawSQL"] for p in dashboard["panels"])
        assert all(p["targets"][0]["rawSQL"].lstrip().upper().startswith("SELECT") for p in dashboard["panels"])
    else:
        return set()
    kinds = {k for k in GLUE_FOR if re.search(r"(?<![A-Z_])" + k.replace(" ", r"\s+") + r"\b", text, re.I)}
    if command == "athena-report":
        kinds.add("SELECT over the views")
    return kinds


def implied(command, actions):
    if "athena:StartQueryExecution" not in actions:
        return set()
    out = set(RESULTS)
    for kind in statement_kinds(command):
        out |= GLUE_FOR.get(kind, set()) | LAKE_FOR.get(kind, set())
    return out


def policy(command):
    doc = json.loads((IAM / f"{command}.json").read_text())
    assert doc["Version"] == "2012-10-17"
    return doc


def allowed(doc):
    out = set()
    for st in doc["Statement"]:
        assert st["Effect"] == "Allow", st
        out |= set(st["Action"])
    return out


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_policy_allows_what_the_command_calls_and_nothing_else(command):
    calls = reached(COMMANDS[command])
    doc = policy(command)
    allows = allowed(doc)
    missing = calls - allows
    assert not missing, "\n".join(f"{a} is called but not allowed: {explain(COMMANDS[command], a)}" for a in missing)
    unused = allows - calls - implied(command, calls)
    assert not unused, f"deploy/iam/{command}.json allows {sorted(unused)}, which nothing in `{command}` calls"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_resources_are_scoped(command):
    for st in policy(command)["Statement"]:
        for action in st["Action"]:
            assert "*" not in action, f"{command}: wildcard action {action}"
        for resource in st["Resource"]:
            if resource == "*":
                assert set(st["Action"]) <= NO_RESOURCE_TYPES, f"{command}: {st['Sid']} on every resource"
                continue
            assert resource.startswith("arn:${AWS::Partition}:") or resource.startswith("${"), resource
            if ":s3:::" in resource:
                assert re.match(r"arn:\$\{AWS::Partition\}:s3:::\$\{(TrailBucket|LakeBucket|AthenaResultsBucket)\}", resource), resource
                bucket_only = "/" not in resource.split(":::", 1)[1]
                object_actions = {a for a in st["Action"] if a in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts")}
                assert not (bucket_only and object_actions), f"{command}: object actions on a bucket ARN"
                if not bucket_only:
                    assert "${" in resource.split(":::", 1)[1].split("/", 1)[1] or resource.endswith("/*"), resource


def test_every_aws_call_in_the_code_is_reached_from_a_command():
    """The call graph is not missing links: each function calling AWS is reached by some command."""
    reached_keys = set()
    for entry in COMMANDS.values():
        reached_keys |= set(walk(entry))
    callers = [(f[0], f[2], f[1]) for f in functions() if direct_calls(f[5], f[6])]
    assert callers, "no AWS call found: the derivation is broken"
    orphans = [c for c in callers if c not in reached_keys]
    assert not orphans, f"functions calling AWS that no command reaches: {orphans}"
    assert every_call() == set().union(*(reached(e) for e in COMMANDS.values()))


def test_the_derivation_sees_a_new_call(tmp_path, monkeypatch):
    """A control: the same derivation on a copy of the source with one more call finds it."""
    import aws_calls
    src = tmp_path / "src"
    src.mkdir()
    for f in SRC.glob("*.rs"):
        text = f.read_text()
        if f.name == "status.rs":
            text = text.replace("pub fn status(args: &StatusArgs) -> Result<Status> {",
                                "pub fn status(args: &StatusArgs) -> Result<Status> {\n    let _ = client.delete_bucket();")
        (src / f.name).write_text(text)
    monkeypatch.setattr(aws_calls, "SRC", src)
    aws_calls.functions.cache_clear()
    aws_calls.imports.cache_clear()
    try:
        assert "s3:DeleteBucket" in aws_calls.reached("status_command")
        assert "s3:DeleteBucket" not in aws_calls.reached("compact_command")
    finally:
        aws_calls.functions.cache_clear()
        aws_calls.imports.cache_clear()
