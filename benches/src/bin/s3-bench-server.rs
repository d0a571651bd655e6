//! A fast, read-only S3 endpoint for benchmarks: serves a folder, held in
//! memory, as a bucket (path-style ListObjectsV2, GetObject and HeadObject
//! over HTTP/1.1 with keep-alive), answering every request after a delay,
//! as S3 does (about 30 ms to the first byte).
//!
//! ```text
//! s3-bench-server DIR BUCKET [--port P] [--latency-ms N]
//! ```
//!
//! Prints `listening on http://127.0.0.1:PORT (N objects)` once ready.
//!
//! The tests use s3s-fs, a real S3 implementation. This exists because s3s-fs
//! is the bottleneck of a throughput bench: it walks its folder tree for every
//! listing and hashes every object it serves, and answers only about 900 GETs
//! a second on these machines. The delay is added by the server itself rather
//! than by a proxy in front of it: a proxy process would take CPU from the two
//! cores the run is measured on, which S3 does not.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

struct Object {
    body: Vec<u8>,
    etag: String,
}

struct Bucket {
    name: String,
    objects: BTreeMap<String, Object>,
    latency: Duration,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut positional = Vec::new();
    let (mut port, mut latency_ms) = (0u16, 0u64);
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--port" => {
                i += 1;
                port = args.get(i).and_then(|v| v.parse().ok()).unwrap_or(0);
            }
            "--latency-ms" => {
                i += 1;
                latency_ms = args.get(i).and_then(|v| v.parse().ok()).unwrap_or(0);
            }
            other => positional.push(other.to_string()),
        }
        i += 1;
    }
    let [dir, name] = positional.as_slice() else {
        eprintln!("usage: s3-bench-server DIR BUCKET [--port P] [--latency-ms N]");
        std::process::exit(2);
    };
    let mut objects = BTreeMap::new();
    if let Err(e) = load(Path::new(dir), "", &mut objects) {
        eprintln!("s3-bench-server: reading {dir}: {e}");
        std::process::exit(1);
    }
    let bucket = Arc::new(Bucket {
        name: name.clone(),
        objects,
        latency: Duration::from_millis(latency_ms),
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("s3-bench-server: {e}");
            std::process::exit(1)
        });
    rt.block_on(async move {
        let listener = match TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("s3-bench-server: port {port}: {e}");
                std::process::exit(1)
            }
        };
        let addr = listener.local_addr().map(|a| a.port()).unwrap_or(port);
        println!(
            "listening on http://127.0.0.1:{addr} ({} objects)",
            bucket.objects.len()
        );
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            let _ = socket.set_nodelay(true);
            let bucket = Arc::clone(&bucket);
            tokio::spawn(async move {
                let _ = serve(socket, &bucket).await;
            });
        }
    });
}

/// Every file under `dir` (dot files left out), keyed by its path below it.
fn load(dir: &Path, prefix: &str, out: &mut BTreeMap<String, Object>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let key = format!("{prefix}{name}");
        if entry.file_type()?.is_dir() {
            load(&entry.path(), &format!("{key}/"), out)?;
        } else {
            let body = std::fs::read(entry.path())?;
            let mut hash = 0xcbf2_9ce4_8422_2325u64;
            for b in &body {
                hash = (hash ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
            }
            let etag = format!("\"{hash:016x}{:016x}\"", body.len());
            out.insert(key, Object { body, etag });
        }
    }
    Ok(())
}

/// One connection: requests one after another (keep-alive).
async fn serve(mut socket: TcpStream, bucket: &Bucket) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(8192);
    loop {
        let head_end = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let mut chunk = [0u8; 8192];
            let n = socket.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let body_len: usize = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + body_len {
            let mut chunk = [0u8; 8192];
            let n = socket.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        buf.drain(..head_end + body_len);
        let mut words = head.split_whitespace();
        let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or("/"));
        if !bucket.latency.is_zero() {
            tokio::time::sleep(bucket.latency).await;
        }
        let (status, headers, body) = answer(bucket, method, target);
        let mut out = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
        for (k, v) in headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        socket.write_all(out.as_bytes()).await?;
        if method != "HEAD" {
            socket.write_all(&body).await?;
        }
    }
}

type Answer<'a> = (&'static str, Vec<(&'static str, String)>, Cow<'a, [u8]>);

fn answer<'a>(bucket: &'a Bucket, method: &str, target: &str) -> Answer<'a> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = decode(path);
    let rest = path.trim_start_matches('/');
    let (name, key) = rest.split_once('/').unwrap_or((rest, ""));
    if name != bucket.name || !(method == "GET" || method == "HEAD") {
        return error("404 Not Found", "NoSuchBucket");
    }
    if key.is_empty() {
        let params: BTreeMap<String, String> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect();
        let xml = list(bucket, &params);
        let headers = vec![("Content-Type", "application/xml".to_string())];
        return ("200 OK", headers, Cow::Owned(xml.into_bytes()));
    }
    match bucket.objects.get(key) {
        Some(o) => (
            "200 OK",
            vec![
                ("ETag", o.etag.clone()),
                ("Last-Modified", "Mon, 02 Mar 2026 00:00:00 GMT".to_string()),
                ("Content-Type", "application/octet-stream".to_string()),
            ],
            Cow::Borrowed(&o.body),
        ),
        None => error("404 Not Found", "NoSuchKey"),
    }
}

fn error(status: &'static str, code: &str) -> Answer<'static> {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{code}</Message></Error>"
    );
    let headers = vec![("Content-Type", "application/xml".to_string())];
    (status, headers, Cow::Owned(xml.into_bytes()))
}

/// ListObjectsV2: `prefix`, `delimiter`, `max-keys`, `continuation-token`
/// (the last key or common prefix of the previous page), `start-after`.
fn list(bucket: &Bucket, params: &BTreeMap<String, String>) -> String {
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    let prefix = get("prefix");
    let delimiter = get("delimiter");
    let max_keys: usize = get("max-keys").parse().unwrap_or(1000).clamp(1, 1000);
    let after = match (get("continuation-token"), get("start-after")) {
        ("", "") => None,
        ("", after) | (after, _) => Some(after.to_string()),
    };
    let start = match &after {
        Some(a) if a.as_str() >= prefix => Bound::Excluded(a.clone()),
        _ => Bound::Included(prefix.to_string()),
    };
    let (mut contents, mut prefixes) = (String::new(), String::new());
    let (mut count, mut last, mut truncated) = (0usize, String::new(), false);
    for (key, o) in bucket.objects.range((start, Bound::Unbounded)) {
        if !key.starts_with(prefix) {
            break;
        }
        // A page that ended on a common prefix resumes after all its keys.
        if let Some(a) = &after {
            if !delimiter.is_empty() && a.ends_with(delimiter) && key.starts_with(a.as_str()) {
                continue;
            }
        }
        let rest = &key[prefix.len()..];
        let common = (!delimiter.is_empty())
            .then(|| rest.find(delimiter))
            .flatten()
            .map(|at| &key[..prefix.len() + at + delimiter.len()]);
        if let Some(cp) = common {
            if cp == last {
                continue;
            }
        }
        if count == max_keys {
            truncated = true;
            break;
        }
        count += 1;
        match common {
            Some(cp) => {
                prefixes.push_str(&format!(
                    "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
                    escape(cp)
                ));
                last = cp.to_string();
            }
            None => {
                contents.push_str(&format!(
                    "<Contents><Key>{}</Key><LastModified>2026-03-02T00:00:00.000Z</LastModified><ETag>{}</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
                    escape(key),
                    escape(&o.etag),
                    o.body.len()
                ));
                last = key.clone();
            }
        }
    }
    let token = if truncated {
        format!(
            "<NextContinuationToken>{}</NextContinuationToken>",
            escape(&last)
        )
    } else {
        String::new()
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>{}</Name><Prefix>{}</Prefix><KeyCount>{count}</KeyCount><MaxKeys>{max_keys}</MaxKeys><Delimiter>{}</Delimiter><IsTruncated>{truncated}</IsTruncated>{token}{contents}{prefixes}</ListBucketResult>",
        escape(&bucket.name),
        escape(prefix),
        escape(delimiter)
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Percent-decoding (`+` stays a plus, as S3 reads paths).
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
