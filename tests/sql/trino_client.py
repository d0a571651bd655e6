"""A minimal client for Trino's HTTP protocol (POST /v1/statement, follow nextUri)."""

import json
import time
import urllib.request


class TrinoError(Exception):
    pass


def execute(base_url: str, sql: str, catalog: str = "hive", schema: str = "cloudtrail", timeout: float = 300):
    """Run one statement; return (column names, rows)."""
    request = urllib.request.Request(
        f"{base_url}/v1/statement",
        data=sql.encode(),
        headers={"X-Trino-User": "trail", "X-Trino-Catalog": catalog, "X-Trino-Schema": schema, "X-Trino-Time-Zone": "UTC"},
        method="POST",
    )
    deadline = time.time() + timeout
    columns, rows = None, []
    with urllib.request.urlopen(request, timeout=60) as response:
        payload = json.load(response)
    while True:
        if "error" in payload:
            error = payload["error"]
            raise TrinoError(f"{error.get('errorName')}: {error.get('message')}\n--- statement ---\n{sql}")
        if payload.get("columns") and columns is None:
            columns = [c["name"] for c in payload["columns"]]
        rows.extend(payload.get("data") or [])
        next_uri = payload.get("nextUri")
        if not next_uri:
            return columns or [], [tuple(r) for r in rows]
        if time.time() > deadline:
            raise TrinoError(f"timed out after {timeout}s: {sql}")
        with urllib.request.urlopen(next_uri, timeout=60) as response:
            payload = json.load(response)


def statements(text: str):
    """Split a file of statements on ';' at line ends, dropping comment-only parts."""
    parts = []
    for chunk in text.split(";\n"):
        body = "\n".join(line for line in chunk.splitlines() if not line.strip().startswith("--")).strip().rstrip(";")
        if body:
            parts.append(body)
    return parts
