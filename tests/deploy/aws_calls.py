"""The AWS operations trail-etl can call, worked out from its source.

Every operation of an AWS SDK crate the binary depends on is a folder under
that crate's `src/operation/` (found through `cargo metadata`); a call is the
fluent builder `client.<operation>()`. Functions are read from
`trail-etl/src/*.rs` and linked by name into a call graph (free calls to free
functions, method calls to methods: an over-approximation where names
repeat), so each command's entry function reaches the operations it can call.
`aws_config::sts::AssumeRoleProvider` is STS `AssumeRole`, made by the
credentials provider rather than by a client call.
"""
import json
import re
import subprocess
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "trail-etl" / "src"

# The SDK crates trail-etl uses, and the IAM service prefix of each.
SERVICES = {
    "aws-sdk-s3": "s3",
    "aws-sdk-athena": "athena",
    "aws-sdk-cloudtrail": "cloudtrail",
    "aws-sdk-identitystore": "identitystore",
    "aws-sdk-sts": "sts",
}

# S3 operations whose IAM action has another name
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html).
S3_ACTIONS = {
    "list_objects_v2": "s3:ListBucket",
    "head_object": "s3:GetObject",
    "create_multipart_upload": "s3:PutObject",
    "upload_part": "s3:PutObject",
    "complete_multipart_upload": "s3:PutObject",
    "list_multipart_uploads": "s3:ListBucketMultipartUploads",
    "list_parts": "s3:ListMultipartUploadParts",
    "delete_objects": "s3:DeleteObject",
    "head_bucket": "s3:ListBucket",
}

# The command-line commands and the function in cli.rs each one runs.
COMMANDS = {
    "run": "run_command",
    "enrich": "enrich_command",
    "compact": "compact_command",
    "verify": "verify_command",
    "identities": "identities_command",
    "status": "status_command",
    "athena-install": "install_command",
    "athena-report": "report_command",
}


def host():
    out = subprocess.run(["rustc", "-vV"], capture_output=True, text=True, check=True).stdout
    return next(line.split()[1] for line in out.splitlines() if line.startswith("host:"))


@lru_cache(maxsize=None)
def sdk_operations():
    """{operation (snake_case): service prefix} for the SDK crates in the lock file."""
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked", "--filter-platform", host()],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout)
    ops = {}
    for package in meta["packages"]:
        service = SERVICES.get(package["name"])
        if not service:
            continue
        for op in (Path(package["manifest_path"]).parent / "src" / "operation").iterdir():
            if op.is_dir():
                ops.setdefault(op.name, set()).add(service)
    return ops


def action_of(op, service):
    if service == "s3" and op in S3_ACTIONS:
        return S3_ACTIONS[op]
    return f"{service}:" + "".join(part.capitalize() for part in op.split("_"))


FN = re.compile(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)\s*(?:<[^(]*>)?\s*\(([^)]*)")


def strip(text):
    """Code without comments, string and char contents, and the unit tests."""
    text = re.split(r"#\[cfg\(test\)\]\s*mod tests", text)[0]
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text.startswith("/*", i):
            i = text.find("*/", i) + 2
        elif c == "r" and re.match(r'r#*"', text[i:]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = re.match(r'r(#*)"', text[i:]).group(1)
            close = '"' + hashes
            i = text.find(close, i + len(hashes) + 2) + len(close)
            out.append('""')
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            out.append('""')
        elif c == "'" and re.match(r"'(\\.|[^'\\])'", text[i:]):
            i += len(re.match(r"'(\\.|[^'\\])'", text[i:]).group(0))
            out.append("' '")
        else:
            out.append(c)
            i += 1
    return "".join(out)


# Method names std types share (maps, iterators, futures, writers...): a
# call of one of these on a receiver whose type is not known here is not
# linked to the crate's method of that name.
COMMON = {
    "get", "insert", "remove", "push", "map", "iter", "len", "fold", "run", "write", "read", "send",
    "next", "take", "sum", "find", "filter", "extend", "join", "contains", "clone", "new", "human",
    "add", "finish", "open", "put", "delete", "exists", "rows", "record", "entry", "min", "max",
}

IMPL = re.compile(r"\bimpl\b(?:\s*<[^{>]*>)?\s+(?:[\w:<>, ]+?\s+for\s+)?([A-Z]\w*)")


@lru_cache(maxsize=None)
def functions():
    """[(file, name, impl type or None, is_method, signature, body, services the file names)]."""
    out = []
    for path in sorted(SRC.glob("*.rs")):
        text = strip(path.read_text())
        services = {s for crate, s in SERVICES.items() if crate.replace("-", "_") in text}
        # impl blocks at the top level: (start, end, type)
        impls, depth, opened = [], 0, None
        for i, c in enumerate(text):
            if c == "{":
                if depth == 0:
                    header = text[text.rfind(";", 0, i) + 1:i]
                    header = header[header.rfind("}") + 1:]
                    m = IMPL.search(header)
                    opened = (i, m.group(1)) if m else None
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0 and opened:
                    impls.append((opened[0], i, opened[1]))
                    opened = None
        starts = list(FN.finditer(text))
        for i, m in enumerate(starts):
            end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
            owner = next((t for a, b, t in impls if a < m.start() < b), None)
            out.append((path.name, m.group(1), owner, "self" in m.group(2), m.group(2), text[m.end():end], services))
    return out


def local_types(f):
    """{variable: type} from a function's parameters and its `let`s."""
    _, _, owner, _, signature, body, _ = f
    types = {"self": owner} if owner else {}
    for name, ty in re.findall(r"(\w+)\s*:\s*&?\s*(?:mut\s+)?(?:Arc<|Option<|Box<)?([A-Z]\w*)", signature + body):
        types.setdefault(name, ty)
    for name, ty in re.findall(r"let\s+(?:mut\s+)?(\w+)\s*=\s*&?\s*([A-Z]\w*)\s*::", body):
        types.setdefault(name, ty)
    return types


@lru_cache(maxsize=None)
def imports(file):
    """{name: module} of the `use crate::module::{...}` lines of a file."""
    text = strip((SRC / file).read_text())
    out = {}
    for module, names in re.findall(r"use\s+crate::(\w+)::\{?([^;]*?)\}?;", text):
        for name in re.split(r"[,\s]+", names):
            if re.fullmatch(r"\w+", name):
                out[name] = module
    return out


def callees(f, index):
    """The crate functions `f` may call: free calls resolved as Rust does
    (the same file, else what the file imports, else a `module::` path);
    method calls by the receiver's type where it is known here."""
    methods, free = index
    file, body = f[0], f[5]
    types = local_types(f)
    used = imports(file)

    def free_fn(name, module=None):
        module = module or (file[:-3] if any(g[0] == file for g in free.get(name, [])) else used.get(name))
        return [g for g in free.get(name, []) if g[0] == f"{module}.rs"]

    out = []
    for receiver, name in re.findall(r"([\w)\]?]*)\s*\.\s*([a-z_][a-z0-9_]*)\s*(?:::<[^>]*>)?\s*\(", body):
        candidates = methods.get(name, [])
        ty = types.get(receiver) if re.fullmatch(r"\w+", receiver or "") else None
        if ty:
            out += [g for g in candidates if g[2] == ty]
        elif name not in COMMON:
            out += candidates
    for name in re.findall(r"(?<![.\w:])([a-z_][a-z0-9_]*)\s*(?:::<[^>]*>)?\s*\(", body):
        out += free_fn(name)
    for qualifier, name in re.findall(r"(\w+)\s*::\s*([a-z_][a-z0-9_]*)\s*(?:::<[^>]*>)?\s*\(", body):
        if qualifier[0].isupper():
            ty = f[2] if qualifier == "Self" else qualifier
            out += [g for g in methods.get(name, []) + free.get(name, []) if g[2] == ty]
        else:
            out += free_fn(name, qualifier)
    # Functions passed by name: `.map(parse)`, `.and_then(check)`.
    for name in re.findall(r"\.\s*\w+\s*\(\s*([a-z_][a-z0-9_]*)\s*\)", body):
        out += free_fn(name)
    return out


def direct_calls(body, services):
    ops = sdk_operations()
    found = set()
    for op in re.findall(r"\.\s*([a-z][a-z0-9_]*)\s*\(\s*\)", body):
        candidates = ops.get(op, set())
        # An operation of one SDK only is that SDK's; a name several share
        # goes to the SDKs the file names.
        for service in candidates if len(candidates) == 1 else candidates & services:
            found.add(action_of(op, service))
    if "AssumeRoleProvider" in body:
        found.add("sts:AssumeRole")
    return found


def _index():
    methods, free = {}, {}
    for f in functions():
        (methods if f[3] else free).setdefault(f[1], []).append(f)
    return methods, free


def walk(entry):
    """{function key: (function, parent key)} for everything `entry` in cli.rs reaches."""
    index = _index()
    start = [f for f in functions() if f[1] == entry and f[0] == "cli.rs"]
    assert start, f"no function {entry} in cli.rs"
    key = lambda f: (f[0], f[2], f[1])
    reached, todo = {key(f): (f, None) for f in start}, list(start)
    while todo:
        f = todo.pop(0)
        for g in callees(f, index):
            if key(g) not in reached:
                reached[key(g)] = (g, key(f))
                todo.append(g)
    return reached


def reached(entry):
    """The IAM actions of every SDK call reachable from the function `entry`."""
    actions = set()
    for f, _ in walk(entry).values():
        actions |= direct_calls(f[5], f[6])
    return actions


def explain(entry, action):
    """The chain of calls from `entry` to a call of `action`."""
    seen = walk(entry)
    for k, (f, parent) in seen.items():
        if action in direct_calls(f[5], f[6]):
            chain = [k]
            while parent:
                chain.append(parent)
                parent = seen[parent][1]
            return " <- ".join(f"{a}:{c + '::' if c else ''}{b}" for a, c, b in chain)
    return None


def every_call():
    """Every IAM action of every SDK call in the source."""
    out = set()
    for f in functions():
        out |= direct_calls(f[5], f[6])
    return out


if __name__ == "__main__":
    for command, entry in COMMANDS.items():
        print(command, sorted(reached(entry)))
