//! Object storage: a local folder or an S3 bucket prefix, behind one small
//! interface (list one level, list everything, get, put, delete).
//!
//! Keys are relative to the location's root (the folder, or the bucket prefix)
//! and always use `/`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;

use crate::health::Health;
use crate::listing::Listed;
use crate::location::Location;

/// How to reach S3 (or an S3-compatible store).
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    /// Custom endpoint, e.g. `http://127.0.0.1:8014` (else `AWS_ENDPOINT_URL[_S3]` or AWS).
    pub endpoint_url: Option<String>,
    /// Address buckets as `endpoint/bucket` rather than `bucket.endpoint`.
    pub force_path_style: bool,
    /// Named profile (else AWS_PROFILE or the default chain).
    pub profile: Option<String>,
    /// Region (else AWS_REGION or the profile's).
    pub region: Option<String>,
    /// A run stops when S3 answers nothing for this long (default 30 s; see [`Health`]).
    pub give_up: Option<Duration>,
}

impl S3Options {
    /// How long a run waits for an S3 endpoint that answers nothing.
    pub fn give_up(&self) -> Duration {
        self.give_up.unwrap_or(Duration::from_secs(30))
    }

    /// The S3 endpoint these options reach, for messages: the endpoint URL
    /// given (option, `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`), else AWS's
    /// regional endpoint.
    pub fn endpoint(&self, client: &aws_sdk_s3::Client) -> String {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        self.endpoint_url
            .clone()
            .or_else(|| env("AWS_ENDPOINT_URL_S3"))
            .or_else(|| env("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|| match client.config().region() {
                Some(r) => format!("https://s3.{r}.amazonaws.com"),
                None => "https://s3.amazonaws.com".into(),
            })
    }
}

/// Files at or above this size are uploaded in parts.
const MULTIPART_THRESHOLD: u64 = 64 << 20;
/// Size of each uploaded part.
const PART_SIZE: usize = 32 << 20;
/// Attempts for one GET whose body is cut or whose request fails.
const GET_ATTEMPTS: u32 = 4;

/// A source or destination.
#[derive(Debug, Clone)]
pub enum Store {
    /// A local folder.
    Local {
        /// The folder.
        root: PathBuf,
    },
    /// An S3 bucket and key prefix.
    S3 {
        /// The client.
        client: aws_sdk_s3::Client,
        /// Bucket.
        bucket: String,
        /// Prefix without trailing slash ("" for the whole bucket).
        prefix: String,
    },
}

/// The runtime of a command that mostly waits on AWS: two workers.
pub fn io_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the I/O runtime")
}

/// Open `location`, with an S3 client of `opts` when it is in S3.
pub async fn connect(location: &Location, opts: &S3Options) -> Result<Store> {
    let client = match location {
        Location::S3 { .. } => Some(s3_client(opts).await),
        Location::Local(_) => None,
    };
    Store::open(location, client.as_ref())
}

/// Build one S3 client for the run (shared by source and destination).
pub async fn s3_client(opts: &S3Options) -> aws_sdk_s3::Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(p) = &opts.profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = &opts.region {
        loader = loader.region(aws_config::Region::new(r.clone()));
    }
    if let Some(url) = &opts.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let shared = loader.load().await;
    let mut conf = aws_sdk_s3::config::Builder::from(&shared);
    if opts.force_path_style {
        conf = conf.force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(conf.build())
}

impl Store {
    /// Open a location; `client` is needed for `s3://` locations.
    pub fn open(location: &Location, client: Option<&aws_sdk_s3::Client>) -> Result<Store> {
        Ok(match location {
            Location::Local(root) => Store::Local { root: root.clone() },
            Location::S3 { bucket, prefix } => Store::S3 {
                client: client
                    .context("an S3 client is needed for s3:// locations")?
                    .clone(),
                bucket: bucket.clone(),
                prefix: prefix.clone(),
            },
        })
    }

    /// Whether this is a local folder.
    pub fn local_root(&self) -> Option<&Path> {
        match self {
            Store::Local { root } => Some(root),
            Store::S3 { .. } => None,
        }
    }

    fn full_key(prefix: &str, key: &str) -> String {
        if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}/{key}")
        }
    }

    pub(crate) fn local_path(root: &Path, key: &str) -> Result<PathBuf> {
        // Keys come from listings and from trail itself; refuse anything that could leave the root.
        if key.split('/').any(|p| p == ".." || p == ".")
            || key.starts_with('/')
            || key.contains('\\')
        {
            bail!("refusing key {key:?}: it would leave {}", root.display());
        }
        Ok(root.join(key))
    }

    /// One level under `dir` (a key prefix ending with `/`, or "" for the root):
    /// the sub-folders (relative keys ending with `/`) and the objects.
    pub async fn list_dir(&self, dir: &str) -> Result<(Vec<String>, Vec<Listed>)> {
        match self {
            Store::Local { root } => {
                let path = if dir.is_empty() {
                    root.clone()
                } else {
                    Store::local_path(root, dir.trim_end_matches('/'))?
                };
                let dir = dir.to_string();
                let root = root.clone();
                tokio::task::spawn_blocking(move || list_local_dir(&root, &path, &dir)).await?
            }
            Store::S3 {
                client,
                bucket,
                prefix,
            } => s3_list(client, bucket, prefix, dir, true).await,
        }
    }

    /// Every object under `dir` (recursively), sorted by key.
    pub async fn list_all(&self, dir: &str) -> Result<Vec<Listed>> {
        let mut out = match self {
            Store::Local { .. } => {
                let mut out = Vec::new();
                let mut stack = vec![dir.to_string()];
                while let Some(d) = stack.pop() {
                    let (dirs, objects) = self.list_dir(&d).await?;
                    out.extend(objects);
                    stack.extend(dirs);
                }
                out
            }
            Store::S3 {
                client,
                bucket,
                prefix,
            } => s3_list(client, bucket, prefix, dir, false).await?.1,
        };
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// The whole object. S3 GETs are retried when the request fails or the
    /// body is cut midway (the SDK retries the former, never the latter).
    pub async fn get(&self, key: &str) -> Result<Bytes> {
        self.get_watched(key, None).await
    }

    /// [`get`](Store::get), with the endpoint's [`Health`] watched: a
    /// failed attempt counts against the object (which is given up after
    /// four) only when S3 answered meanwhile; while it answers nothing the
    /// object is tried again until it does, or until `health` judges the
    /// endpoint unreachable (an [`Unreachable`] error).
    pub async fn get_watched(&self, key: &str, health: Option<&Health>) -> Result<Bytes> {
        match self {
            Store::Local { root } => {
                let path = Store::local_path(root, key)?;
                Ok(Bytes::from(
                    tokio::fs::read(&path)
                        .await
                        .with_context(|| format!("reading {}", path.display()))?,
                ))
            }
            Store::S3 {
                client,
                bucket,
                prefix,
            } => get_s3(client, bucket, &Store::full_key(prefix, key), health).await,
        }
    }

    /// The object and its user metadata (`x-amz-meta-*`, without the
    /// prefix; none for a local folder), or `None` when it does not exist.
    pub async fn get_with_metadata(
        &self,
        key: &str,
    ) -> Result<Option<(Bytes, std::collections::HashMap<String, String>)>> {
        match self {
            Store::Local { .. } => Ok(self
                .get_optional(key)
                .await?
                .map(|b| (b, Default::default()))),
            Store::S3 {
                client,
                bucket,
                prefix,
            } => {
                let full = Store::full_key(prefix, key);
                match client.get_object().bucket(bucket).key(&full).send().await {
                    Ok(out) => {
                        let metadata = out.metadata().cloned().unwrap_or_default();
                        let body = out
                            .body
                            .collect()
                            .await
                            .with_context(|| format!("reading s3://{bucket}/{full}"))?
                            .into_bytes();
                        Ok(Some((body, metadata)))
                    }
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
                    Err(e) => {
                        Err(sdk_error(e)).with_context(|| format!("reading s3://{bucket}/{full}"))
                    }
                }
            }
        }
    }

    /// The bucket and key prefix of an S3 store (`None` for a local folder).
    pub fn s3_bucket(&self) -> Option<(&str, &str)> {
        match self {
            Store::S3 { bucket, prefix, .. } => Some((bucket, prefix)),
            Store::Local { .. } => None,
        }
    }

    /// The full S3 key of a key relative to this store (the key itself for a local folder).
    pub fn full_key_of(&self, key: &str) -> String {
        match self {
            Store::S3 { prefix, .. } => Store::full_key(prefix, key),
            Store::Local { .. } => key.to_string(),
        }
    }

    /// The object, or `None` when it does not exist.
    pub async fn get_optional(&self, key: &str) -> Result<Option<Bytes>> {
        match self {
            Store::Local { root } => {
                let path = Store::local_path(root, key)?;
                match tokio::fs::read(&path).await {
                    Ok(b) => Ok(Some(Bytes::from(b))),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
                }
            }
            Store::S3 {
                client,
                bucket,
                prefix,
            } => {
                let full = Store::full_key(prefix, key);
                match client.get_object().bucket(bucket).key(&full).send().await {
                    Ok(out) => Ok(Some(
                        out.body
                            .collect()
                            .await
                            .with_context(|| format!("reading s3://{bucket}/{full}"))?
                            .into_bytes(),
                    )),
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
                    Err(e) => {
                        Err(sdk_error(e)).with_context(|| format!("reading s3://{bucket}/{full}"))
                    }
                }
            }
        }
    }

    /// Write a small object atomically (local: temporary file, sync, rename).
    pub async fn put(&self, key: &str, body: Bytes) -> Result<()> {
        match self {
            Store::Local { root } => {
                let path = Store::local_path(root, key)?;
                tokio::task::spawn_blocking(move || write_atomic(&path, &body)).await?
            }
            Store::S3 {
                client,
                bucket,
                prefix,
            } => {
                let full = Store::full_key(prefix, key);
                client
                    .put_object()
                    .bucket(bucket)
                    .key(&full)
                    .body(ByteStream::from(body))
                    .send()
                    .await
                    .map_err(sdk_error)
                    .with_context(|| format!("writing s3://{bucket}/{full}"))?;
                Ok(())
            }
        }
    }

    /// Publish a finished local file under `key`: a rename for a local
    /// destination (the file must be on the same file system), an upload for
    /// S3 (in parts for large files; the object appears only when complete).
    pub async fn publish_file(&self, key: &str, file: &Path) -> Result<()> {
        match self {
            Store::Local { root } => {
                let target = Store::local_path(root, key)?;
                let file = file.to_path_buf();
                tokio::task::spawn_blocking(move || -> Result<()> {
                    if let Some(dir) = target.parent() {
                        std::fs::create_dir_all(dir)
                            .with_context(|| format!("creating {}", dir.display()))?;
                    }
                    // Cheap: the run's syncer has synced it already (syncer.rs).
                    std::fs::File::open(&file)
                        .and_then(|f| f.sync_all())
                        .with_context(|| format!("syncing {}", file.display()))?;
                    std::fs::rename(&file, &target).with_context(|| {
                        format!("publishing {} as {}", file.display(), target.display())
                    })
                })
                .await?
            }
            Store::S3 {
                client,
                bucket,
                prefix,
            } => {
                let full = Store::full_key(prefix, key);
                let len = tokio::fs::metadata(file).await?.len();
                let result = if len < MULTIPART_THRESHOLD {
                    let body = ByteStream::from_path(file).await?;
                    client
                        .put_object()
                        .bucket(bucket)
                        .key(&full)
                        .body(body)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(sdk_error)
                } else {
                    upload_parts(client, bucket, &full, file).await
                };
                result.with_context(|| {
                    format!("uploading {} to s3://{bucket}/{full}", file.display())
                })?;
                tokio::fs::remove_file(file).await.ok();
                Ok(())
            }
        }
    }

    /// Copy an object to a local file (streamed, never whole in memory).
    pub async fn download(&self, key: &str, to: &Path) -> Result<()> {
        use tokio::io::AsyncWriteExt;
        match self {
            Store::Local { root } => {
                let path = Store::local_path(root, key)?;
                tokio::fs::copy(&path, to)
                    .await
                    .with_context(|| format!("copying {} to {}", path.display(), to.display()))?;
                Ok(())
            }
            Store::S3 {
                client,
                bucket,
                prefix,
            } => {
                let full = Store::full_key(prefix, key);
                let what = || format!("downloading s3://{bucket}/{full} to {}", to.display());
                let out = client
                    .get_object()
                    .bucket(bucket)
                    .key(&full)
                    .send()
                    .await
                    .map_err(sdk_error)
                    .with_context(what)?;
                let mut body = out.body;
                let mut file = tokio::fs::File::create(to).await.with_context(what)?;
                while let Some(chunk) = body.try_next().await.with_context(what)? {
                    file.write_all(&chunk).await.with_context(what)?;
                }
                file.flush().await.with_context(what)?;
                Ok(())
            }
        }
    }

    /// Whether an object exists.
    pub async fn exists(&self, key: &str) -> Result<bool> {
        match self {
            Store::Local { root } => {
                let path = Store::local_path(root, key)?;
                match tokio::fs::metadata(&path).await {
                    Ok(m) => Ok(m.is_file()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                    Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
                }
            }
            Store::S3 {
                client,
                bucket,
                prefix,
            } => {
                let full = Store::full_key(prefix, key);
                match client.head_object().bucket(bucket).key(&full).send().await {
                    Ok(_) => Ok(true),
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
                    Err(e) => {
                        Err(sdk_error(e)).with_context(|| format!("checking s3://{bucket}/{full}"))
                    }
                }
            }
        }
    }

    /// Delete an object; a missing one is not an error.
    pub async fn delete(&self, key: &str) -> Result<()> {
        match self {
            Store::Local { root } => {
                let path = Store::local_path(root, key)?;
                match tokio::fs::remove_file(&path).await {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
                }
            }
            Store::S3 {
                client,
                bucket,
                prefix,
            } => {
                let full = Store::full_key(prefix, key);
                client
                    .delete_object()
                    .bucket(bucket)
                    .key(&full)
                    .send()
                    .await
                    .map_err(sdk_error)
                    .with_context(|| format!("deleting s3://{bucket}/{full}"))?;
                Ok(())
            }
        }
    }

    /// Abort unfinished multipart uploads under `dir` whose key contains `tag`
    /// (left by a run killed while uploading). Local folders have none.
    pub async fn abort_uploads(&self, dir: &str, tag: &str) -> Result<usize> {
        let Store::S3 {
            client,
            bucket,
            prefix,
        } = self
        else {
            return Ok(0);
        };
        let full = Store::full_key(prefix, dir);
        let out = match client
            .list_multipart_uploads()
            .bucket(bucket)
            .prefix(&full)
            .send()
            .await
        {
            Ok(out) => out,
            // Some S3-compatible stores (s3s-fs among them) do not list uploads: nothing to abort there.
            Err(e)
                if e.as_service_error().and_then(|s| s.meta().code()) == Some("NotImplemented") =>
            {
                tracing::debug!("s3://{bucket}/{full}: the store cannot list multipart uploads");
                return Ok(0);
            }
            Err(e) => {
                return Err(sdk_error(e)).with_context(|| {
                    format!("listing multipart uploads under s3://{bucket}/{full}")
                })
            }
        };
        let mut aborted = 0;
        for u in out.uploads() {
            let (Some(key), Some(id)) = (u.key(), u.upload_id()) else {
                continue;
            };
            if key.contains(tag) {
                client
                    .abort_multipart_upload()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(id)
                    .send()
                    .await
                    .map_err(sdk_error)?;
                aborted += 1;
            }
        }
        Ok(aborted)
    }
}

impl std::fmt::Display for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Store::Local { root } => write!(f, "{}", root.display()),
            Store::S3 { bucket, prefix, .. } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// List `dir` under the bucket prefix, one level (`by_folder`: sub-folders
/// and objects) or recursively (objects only), following every page.
async fn s3_list(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    dir: &str,
    by_folder: bool,
) -> Result<(Vec<String>, Vec<Listed>)> {
    let full = Store::full_key(prefix, dir);
    let strip = if prefix.is_empty() {
        0
    } else {
        prefix.len() + 1
    };
    let mut dirs = Vec::new();
    let mut objects = Vec::new();
    let mut request = client.list_objects_v2().bucket(bucket).prefix(&full);
    if by_folder {
        request = request.delimiter("/");
    }
    let mut pages = request.into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.with_context(|| format!("listing s3://{bucket}/{full}"))?;
        for p in page.common_prefixes() {
            if let Some(p) = p.prefix() {
                dirs.push(p[strip.min(p.len())..].to_string());
            }
        }
        for o in page.contents() {
            if let Some(k) = o.key() {
                objects.push(s3_listed(k, strip, o));
            }
        }
    }
    Ok((dirs, objects))
}

/// An SDK error with its whole chain of causes in the message (the SDK's own
/// Display says only "service error").
/// [`Store::get_watched`] for S3: attempts until one succeeds, four count
/// against the object, or the endpoint is judged unreachable.
async fn get_s3(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    full: &str,
    health: Option<&Health>,
) -> Result<Bytes> {
    let started = Instant::now();
    let (mut tries, mut counted) = (0u32, 0u32);
    let mut last = None;
    while counted < GET_ATTEMPTS {
        if tries > 0 {
            let delay = Duration::from_millis((200u64 << tries.min(4)).min(2000));
            match health {
                Some(h) => h.pause(started, delay).await?,
                None => tokio::time::sleep(delay).await,
            }
        }
        tries += 1;
        let attempt = health.map(Health::attempt);
        let once = get_once(client, bucket, full, health);
        let result = match health {
            Some(h) => h.watch(started, once).await?,
            None => once.await,
        };
        match result {
            Ok(bytes) => return Ok(bytes),
            Err(e) => {
                tracing::debug!(key = %full, tries, "GET failed, retrying: {e:#}");
                last = Some(e);
            }
        }
        let counts = match (health, &attempt) {
            (Some(h), Some(a)) => h.counts(a),
            _ => true,
        };
        if counts {
            counted += 1;
        }
    }
    Err(last.unwrap_or_else(|| anyhow!("no attempt made")))
        .with_context(|| format!("reading s3://{bucket}/{full} ({GET_ATTEMPTS} attempts)"))
}

/// No answer or no body bytes for this long: the attempt is given up (and
/// the GET tried again).
const BODY_STALL: Duration = Duration::from_secs(30);

/// One GET attempt (the SDK's own retries included), telling `health` what
/// the endpoint did: answered (a response that is not a 5xx, body bytes)
/// or not.
async fn get_once(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    health: Option<&Health>,
) -> Result<Bytes> {
    let answered = || {
        if let Some(h) = health {
            h.answered();
        }
    };
    let request = client.get_object().bucket(bucket).key(key).send();
    let out = match tokio::time::timeout(BODY_STALL, request).await {
        Ok(Ok(out)) => out,
        Err(_) => {
            let e = anyhow!("no answer in {} s", BODY_STALL.as_secs());
            if let Some(h) = health {
                h.failed(&e.to_string());
            }
            return Err(e);
        }
        Ok(Err(e)) => {
            let status = e.raw_response().map(|r| r.status().as_u16());
            let e = sdk_error(e);
            match (status, health) {
                (Some(s), _) if s < 500 => answered(),
                (_, Some(h)) => h.failed(&format!("{e:#}")),
                _ => {}
            }
            return Err(e);
        }
    };
    answered();
    let expected = out.content_length().map(|n| n.max(0) as usize);
    let mut body = out.body;
    let mut bytes = Vec::with_capacity(expected.unwrap_or(0));
    loop {
        match tokio::time::timeout(BODY_STALL, body.try_next()).await {
            Ok(Ok(Some(chunk))) => {
                answered();
                bytes.extend_from_slice(&chunk);
            }
            Ok(Ok(None)) => break,
            Ok(Err(e)) => bail!("body cut after {} bytes: {e}", bytes.len()),
            Err(_) => bail!(
                "body stalled after {} bytes (nothing for {} s)",
                bytes.len(),
                BODY_STALL.as_secs()
            ),
        }
    }
    match expected {
        Some(n) if n != bytes.len() => bail!("body cut after {} of {n} bytes", bytes.len()),
        _ => Ok(Bytes::from(bytes)),
    }
}

fn sdk_error<E: std::error::Error>(e: E) -> anyhow::Error {
    anyhow!(aws_sdk_s3::error::DisplayErrorContext(e).to_string())
}

fn s3_listed(key: &str, strip: usize, o: &aws_sdk_s3::types::Object) -> Listed {
    Listed {
        key: key[strip.min(key.len())..].to_string(),
        size: o.size().unwrap_or(0).max(0) as u64,
        etag: o.e_tag().unwrap_or_default().trim_matches('"').to_string(),
        path: None,
    }
}

fn list_local_dir(root: &Path, path: &Path, dir: &str) -> Result<(Vec<String>, Vec<Listed>)> {
    let mut dirs = Vec::new();
    let mut objects = Vec::new();
    let entries = match std::fs::read_dir(path) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((dirs, objects)),
        Err(e) => return Err(e).with_context(|| format!("listing {}", path.display())),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let meta = entry.metadata()?;
        if meta.is_dir() {
            dirs.push(format!("{dir}{name}/"));
        } else {
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            objects.push(Listed {
                key: format!("{dir}{name}"),
                size: meta.len(),
                etag: format!("{}-{mtime}", meta.len()),
                path: Some(root.join(format!("{dir}{name}"))),
            });
        }
    }
    dirs.sort();
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    Ok((dirs, objects))
}

fn write_atomic(path: &Path, body: &[u8]) -> Result<()> {
    let dir = path.parent().context("no parent folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path.file_name().context("no file name")?.to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, body).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

async fn upload_parts(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    file: &Path,
) -> Result<()> {
    use tokio::io::AsyncReadExt;
    let created = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(sdk_error)?;
    let id = created.upload_id().context("no upload id")?.to_string();
    let result: Result<Vec<CompletedPart>> = async {
        let mut f = tokio::fs::File::open(file).await?;
        let mut parts = Vec::new();
        let mut n = 1;
        loop {
            let mut buf = Vec::with_capacity(PART_SIZE);
            (&mut f)
                .take(PART_SIZE as u64)
                .read_to_end(&mut buf)
                .await?;
            if buf.is_empty() {
                break;
            }
            let part = client
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(&id)
                .part_number(n)
                .body(ByteStream::from(buf))
                .send()
                .await
                .map_err(sdk_error)?;
            parts.push(
                CompletedPart::builder()
                    .part_number(n)
                    .set_e_tag(part.e_tag().map(String::from))
                    .build(),
            );
            n += 1;
        }
        Ok(parts)
    }
    .await;
    match result {
        Ok(parts) => {
            client
                .complete_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(&id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .map_err(sdk_error)?;
            Ok(())
        }
        Err(e) => {
            let _ = client
                .abort_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(&id)
                .send()
                .await;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_never_leave_the_root() {
        let root = Path::new("/data/dest");
        for key in [
            "../etc/passwd",
            "a/../../b",
            "/abs/path",
            "a/./b",
            "a\\..\\b",
            "..",
        ] {
            assert!(Store::local_path(root, key).is_err(), "{key}");
        }
        assert_eq!(
            Store::local_path(root, "events/event_date=2024-01-01/x.parquet").unwrap(),
            root.join("events/event_date=2024-01-01/x.parquet")
        );
        assert!(Store::local_path(root, "key with spaces %20 ü").is_ok());
    }

    #[tokio::test]
    async fn local_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::Local {
            root: dir.path().to_path_buf(),
        };
        store
            .put("a/b.txt", Bytes::from_static(b"hi"))
            .await
            .unwrap();
        assert_eq!(
            store.get("a/b.txt").await.unwrap(),
            Bytes::from_static(b"hi")
        );
        assert_eq!(store.get_optional("a/none").await.unwrap(), None);
        let (dirs, objects) = store.list_dir("").await.unwrap();
        assert_eq!((dirs, objects.len()), (vec!["a/".to_string()], 0));
        store.delete("a/b.txt").await.unwrap();
        store.delete("a/b.txt").await.unwrap();
        assert!(store.list_all("").await.unwrap().is_empty());
    }
}
