//! `trail-etl identities`: who the IAM Identity Center user ids in the
//! tables are.
//!
//! A call made through trusted identity propagation names the person by an
//! Identity Center user id (`on_behalf_of_user_id`, and the identity store in
//! `on_behalf_of_identity_store_arn`). This collects the ids seen in `events`
//! (the days asked for), asks the Identity Store API for each id not known
//! yet (`DescribeUser`, one id per call: there is no batch read; a few calls
//! in flight, throttling retried by the SDK with back-off) and writes the
//! `identities` table, one row per id: user id, store id, user name, display
//! name, primary e-mail, fetched at. Nothing else DescribeUser answers is
//! kept. An id the store does not know (a deleted user, or another store) is
//! recorded with the store asked and empty names, and asked again only after
//! [`RETRY_UNKNOWN_DAYS`]; a known one is refreshed after
//! [`REFRESH_KNOWN_DAYS`].
//!
//! The table is one Parquet file, `DEST/identities/identities.parquet`,
//! rewritten whole (it holds one row per person): readers see the old file or
//! the new one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use bytes::Bytes;
use chrono::NaiveDate;
use futures::stream::{self, StreamExt};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use serde::Serialize;

use crate::location::Location;
use crate::store::{S3Options, Store};

/// The table's name.
pub const IDENTITIES_TABLE: &str = "identities";
/// Its one file.
pub const IDENTITIES_FILE: &str = "identities/identities.parquet";
/// An id the store did not know is asked again after this many days.
pub const RETRY_UNKNOWN_DAYS: i64 = 7;
/// A known id is asked again (names change) after this many days.
pub const REFRESH_KNOWN_DAYS: i64 = 30;
/// DescribeUser calls in flight.
const CONCURRENCY: usize = 4;

/// The columns of the `identities` table.
pub fn identities_schema() -> SchemaRef {
    let text = |n: &str| Field::new(n, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        text("user_id"),
        text("identity_store_id"),
        text("user_name"),
        text("display_name"),
        text("email"),
        Field::new(
            "fetched_at",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
    ]))
}

/// What `identities` needs.
#[derive(Debug, Clone, Default)]
pub struct IdentitiesArgs {
    /// The tables' destination.
    pub dest: Option<Location>,
    /// First `events` partition day to collect ids from (all when `None`).
    pub start: Option<NaiveDate>,
    /// Last partition day.
    pub end: Option<NaiveDate>,
    /// How to reach S3 (and the Identity Store: same profile).
    pub s3: S3Options,
    /// The Identity Store's region (the ARN names none): else the S3 region.
    pub store_region: Option<String>,
    /// A role to assume in the account that owns the identity store.
    pub role_arn: Option<String>,
    /// "Now" in milliseconds since the epoch, for tests; default the clock.
    pub now_ms: Option<i64>,
}

/// What `identities` did.
#[derive(Debug, Default, Serialize)]
pub struct IdentitiesSummary {
    /// The destination.
    pub dest: String,
    /// Distinct user ids seen in the partitions read.
    pub ids_seen: u64,
    /// Of which known and fresh: not asked.
    pub already_known: u64,
    /// DescribeUser calls made.
    pub asked: u64,
    /// Ids the store knew.
    pub found: u64,
    /// Ids the store did not know (recorded, asked again after a week).
    pub unknown: u64,
    /// Ids that could not be asked (kept as they were, asked next time).
    pub failed: u64,
    /// The first failure, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_failure: Option<String>,
    /// Rows in the table now.
    pub rows: u64,
    /// Why it could not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// 0 all good, 3 some ids could not be asked, 1 failed.
    pub exit_code: i32,
    /// Wall time.
    pub duration_ms: u64,
}

impl IdentitiesSummary {
    /// One line for people.
    pub fn human(&self) -> String {
        format!(
            "trail: identities: {} user ids seen, {} already known, {} asked of the Identity Store: {} found, {} unknown to it, {} failed; {} rows\n",
            self.ids_seen, self.already_known, self.asked, self.found, self.unknown, self.failed, self.rows
        )
    }
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq)]
struct Person {
    user_id: String,
    store_id: Option<String>,
    user_name: Option<String>,
    display_name: Option<String>,
    email: Option<String>,
    fetched_at: Option<i64>,
}

/// The identity store id in an identity store ARN
/// (`arn:aws:identitystore::ACCOUNT:identitystore/d-1234567890` → `d-1234567890`).
///
/// ```
/// use trail_etl::identities::store_id;
/// assert_eq!(store_id("arn:aws:identitystore::111122223333:identitystore/d-9067642ac7"), Some("d-9067642ac7"));
/// assert_eq!(store_id("d-9067642ac7"), Some("d-9067642ac7"));
/// assert_eq!(store_id(""), None);
/// ```
pub fn store_id(arn: &str) -> Option<&str> {
    arn.rsplit('/').next().filter(|s| !s.is_empty())
}

/// Resolve the ids; `Err` when it could not run.
pub fn identities(args: &IdentitiesArgs) -> Result<IdentitiesSummary> {
    let rt = crate::store::io_runtime()?;
    rt.block_on(identities_async(args))
}

async fn identities_async(args: &IdentitiesArgs) -> Result<IdentitiesSummary> {
    let started = Instant::now();
    let dest_loc = args.dest.as_ref().context("a destination is needed")?;
    let dest = crate::store::connect(dest_loc, &args.s3).await?;
    let mut summary = IdentitiesSummary {
        dest: dest.to_string(),
        ..IdentitiesSummary::default()
    };
    let now = args
        .now_ms
        .unwrap_or_else(|| chrono::Utc::now().timestamp_millis());

    // The ids seen, with their store.
    let seen = ids_seen(&dest, args.start, args.end).await?;
    summary.ids_seen = seen.len() as u64;
    let mut people = read_table(&dest).await?;
    let day_ms = 86_400_000;
    let mut ask: Vec<(String, String)> = Vec::new();
    for (id, store) in &seen {
        let Some(store) = store else { continue };
        let stale = match people.get(id) {
            None => true,
            Some(p) => {
                let age = now - p.fetched_at.unwrap_or(0);
                let limit = if p.user_name.is_some() {
                    REFRESH_KNOWN_DAYS
                } else {
                    RETRY_UNKNOWN_DAYS
                };
                age >= limit * day_ms || p.store_id.as_deref() != Some(store.as_str())
            }
        };
        if stale {
            ask.push((id.clone(), store.clone()));
        } else {
            summary.already_known += 1;
        }
    }

    if !ask.is_empty() {
        let client = identity_store_client(args).await;
        let answers: Vec<(String, String, Result<Option<Person>, String>)> =
            stream::iter(ask.into_iter().map(|(id, store)| {
                let client = &client;
                async move {
                    let answer = describe(client, &store, &id, now).await;
                    (id, store, answer)
                }
            }))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for (id, store, answer) in answers {
            summary.asked += 1;
            match answer {
                Ok(Some(person)) => {
                    summary.found += 1;
                    people.insert(id, person);
                }
                Ok(None) => {
                    summary.unknown += 1;
                    people.insert(
                        id.clone(),
                        Person {
                            user_id: id,
                            store_id: Some(store),
                            user_name: None,
                            display_name: None,
                            email: None,
                            fetched_at: Some(now),
                        },
                    );
                }
                Err(e) => {
                    summary.failed += 1;
                    summary.first_failure.get_or_insert(format!("{id}: {e}"));
                }
            }
        }
        write_table(&dest, &people).await?;
    } else if people.is_empty() && !dest.exists(IDENTITIES_FILE).await? {
        // An empty table, so readers find its file and schema.
        write_table(&dest, &people).await?;
    }
    summary.rows = people.len() as u64;
    summary.exit_code = if summary.failed > 0 { 3 } else { 0 };
    summary.duration_ms = started.elapsed().as_millis() as u64;
    Ok(summary)
}

/// Distinct Identity Center user ids in `events` (partitions in range), with their store id.
async fn ids_seen(
    dest: &Store,
    start: Option<NaiveDate>,
    end: Option<NaiveDate>,
) -> Result<BTreeMap<String, Option<String>>> {
    let mut seen: BTreeMap<String, Option<String>> = BTreeMap::new();
    let (partitions, _) = dest.list_dir("events/").await?;
    for p in partitions {
        let day = crate::listing::folder_name(&p)
            .strip_prefix("event_date=")
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        if !day.is_none_or(|d| start.is_none_or(|s| d >= s) && end.is_none_or(|e| d <= e)) {
            continue;
        }
        for obj in dest.list_all(&p).await? {
            if !obj.key.ends_with(".parquet") {
                continue;
            }
            let bytes = dest.get(&obj.key).await?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)
                .with_context(|| format!("reading {}", obj.key))?;
            let wanted = ["on_behalf_of_user_id", "on_behalf_of_identity_store_arn"];
            let columns: Vec<usize> = builder
                .schema()
                .fields()
                .iter()
                .enumerate()
                .filter(|(_, f)| wanted.contains(&f.name().as_str()))
                .map(|(i, _)| i)
                .collect();
            if columns.len() < wanted.len() {
                continue; // written before these columns existed: no ids
            }
            let mask = ProjectionMask::roots(builder.parquet_schema(), columns);
            for batch in builder.with_projection(mask).build()? {
                let batch = batch.with_context(|| format!("reading {}", obj.key))?;
                let (Some(ids), Some(stores)) = (
                    batch.column_by_name(wanted[0]),
                    batch.column_by_name(wanted[1]),
                ) else {
                    continue;
                };
                let (ids, stores) = (ids.as_string::<i32>(), stores.as_string::<i32>());
                for i in 0..batch.num_rows() {
                    if ids.is_null(i) || ids.value(i).is_empty() {
                        continue;
                    }
                    let store = stores
                        .is_valid(i)
                        .then(|| store_id(stores.value(i)).map(str::to_string))
                        .flatten();
                    let slot = seen.entry(ids.value(i).to_string()).or_default();
                    if slot.is_none() {
                        *slot = store;
                    }
                }
            }
        }
    }
    Ok(seen)
}

async fn identity_store_client(args: &IdentitiesArgs) -> aws_sdk_identitystore::Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(8));
    if let Some(p) = &args.s3.profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = args.store_region.as_ref().or(args.s3.region.as_ref()) {
        loader = loader.region(aws_config::Region::new(r.clone()));
    }
    let shared = loader.load().await;
    match &args.role_arn {
        Some(role) => {
            let provider = aws_config::sts::AssumeRoleProvider::builder(role)
                .session_name("trail-identities")
                .configure(&shared)
                .build()
                .await;
            let conf = aws_sdk_identitystore::config::Builder::from(&shared)
                .credentials_provider(provider)
                .build();
            aws_sdk_identitystore::Client::from_conf(conf)
        }
        None => aws_sdk_identitystore::Client::new(&shared),
    }
}

/// DescribeUser: `Ok(None)` when the store does not know the id.
async fn describe(
    client: &aws_sdk_identitystore::Client,
    store: &str,
    id: &str,
    now: i64,
) -> Result<Option<Person>, String> {
    match client
        .describe_user()
        .identity_store_id(store)
        .user_id(id)
        .send()
        .await
    {
        Ok(user) => {
            let email = user
                .emails()
                .iter()
                .find(|e| e.primary())
                .or_else(|| user.emails().first())
                .and_then(|e| e.value())
                .map(str::to_string);
            Ok(Some(Person {
                user_id: id.to_string(),
                store_id: Some(store.to_string()),
                user_name: user.user_name().map(str::to_string),
                display_name: user.display_name().map(str::to_string),
                email,
                fetched_at: Some(now),
            }))
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(aws_sdk_identitystore::error::DisplayErrorContext(e).to_string()),
    }
}

/// The table as it is (empty when it does not exist yet).
async fn read_table(dest: &Store) -> Result<BTreeMap<String, Person>> {
    let mut people = BTreeMap::new();
    let Some(bytes) = dest.get_optional(IDENTITIES_FILE).await? else {
        return Ok(people);
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .with_context(|| format!("reading {IDENTITIES_FILE}"))?
        .build()?;
    for batch in reader {
        let batch = batch.with_context(|| format!("reading {IDENTITIES_FILE}"))?;
        let text = |name: &str| -> Result<StringArray> {
            Ok(batch
                .column_by_name(name)
                .ok_or_else(|| anyhow!("{IDENTITIES_FILE} has no {name} column"))?
                .as_string::<i32>()
                .clone())
        };
        let (ids, stores, names, displays, emails) = (
            text("user_id")?,
            text("identity_store_id")?,
            text("user_name")?,
            text("display_name")?,
            text("email")?,
        );
        let fetched = batch
            .column_by_name("fetched_at")
            .ok_or_else(|| anyhow!("{IDENTITIES_FILE} has no fetched_at column"))?
            .as_primitive::<TimestampMillisecondType>()
            .clone();
        let get = |a: &StringArray, i: usize| a.is_valid(i).then(|| a.value(i).to_string());
        for i in 0..batch.num_rows() {
            let Some(id) = get(&ids, i) else { continue };
            people.insert(
                id.clone(),
                Person {
                    user_id: id,
                    store_id: get(&stores, i),
                    user_name: get(&names, i),
                    display_name: get(&displays, i),
                    email: get(&emails, i),
                    fetched_at: fetched.is_valid(i).then(|| fetched.value(i)),
                },
            );
        }
    }
    Ok(people)
}

/// Write the whole table as one file, replacing the old one.
async fn write_table(dest: &Store, people: &BTreeMap<String, Person>) -> Result<()> {
    let rows: Vec<&Person> = people.values().collect();
    let text = |f: &dyn Fn(&Person) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from(
            rows.iter().map(|p| f(p)).collect::<Vec<_>>(),
        ))
    };
    let columns: Vec<ArrayRef> = vec![
        text(&|p| Some(p.user_id.clone())),
        text(&|p| p.store_id.clone()),
        text(&|p| p.user_name.clone()),
        text(&|p| p.display_name.clone()),
        text(&|p| p.email.clone()),
        Arc::new(
            TimestampMillisecondArray::from(rows.iter().map(|p| p.fetched_at).collect::<Vec<_>>())
                .with_timezone("UTC"),
        ),
    ];
    let batch = RecordBatch::try_new(identities_schema(), columns)?;
    let mut out = Vec::new();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .build();
    let mut writer = ArrowWriter::try_new(&mut out, identities_schema(), Some(props))?;
    writer.write(&batch)?;
    writer.close()?;
    dest.put(IDENTITIES_FILE, Bytes::from(out))
        .await
        .with_context(|| format!("writing {IDENTITIES_FILE} in {dest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_round_trips() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let dest = Store::Local {
            root: dir.path().to_path_buf(),
        };
        let mut people = BTreeMap::new();
        people.insert(
            "u-1".to_string(),
            Person {
                user_id: "u-1".into(),
                store_id: Some("d-1".into()),
                user_name: Some("ana".into()),
                display_name: Some("Ana Silva".into()),
                email: Some("ana@example.com".into()),
                fetched_at: Some(1_772_618_520_000),
            },
        );
        people.insert(
            "u-2".to_string(),
            Person {
                user_id: "u-2".into(),
                store_id: Some("d-1".into()),
                user_name: None,
                display_name: None,
                email: None,
                fetched_at: Some(1),
            },
        );
        rt.block_on(write_table(&dest, &people)).unwrap();
        assert_eq!(rt.block_on(read_table(&dest)).unwrap(), people);
    }
}
