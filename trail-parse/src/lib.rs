//! Decode AWS CloudTrail log objects into Arrow record batches.
//!
//! CloudTrail delivers gzipped JSON documents `{"Records":[...]}` with
//! free-form request parameters. This crate streams such an object (gzip,
//! multi-member gzip or plain JSON, from any [`std::io::Read`], or from memory
//! with [`Decoder::decode_slice`], which inflates whole objects with
//! libdeflate) one record at a time into Arrow builders. Each record is
//! parsed in place, once, by a small validating JSON scanner: no copy per
//! record, no `serde_json::Value` tree, free-form objects kept as their exact
//! text. There are three tables:
//!
//! | table | one row per | built by |
//! |---|---|---|
//! | `events` | CloudTrail record, every documented field as a column | [`mod@events`] |
//! | `table_access` | Glue table/database touched, Lake Formation `GetDataAccess` | [`table_access`] |
//! | `athena_queries` | Athena `StartQueryExecution` | [`athena`] |
//!
//! It has no network code and no async runtime: where the bytes come from is
//! the caller's business (see `trail-etl`).
//!
//! ```
//! use std::io::Write;
//! use trail_parse::{DecoderBuilder, Table};
//!
//! // A gzipped CloudTrail object, as found in the trail bucket.
//! let json = br#"{"Records":[{"eventVersion":"1.11","eventTime":"2024-05-06T07:08:09Z",
//!   "eventSource":"glue.amazonaws.com","eventName":"BatchGetTable",
//!   "userIdentity":{"type":"AssumedRole",
//!     "arn":"arn:aws:sts::111122223333:assumed-role/Analyst/ana@example.com"},
//!   "requestParameters":{"databaseName":"sales","tablesToGet":["orders","customers"]}}]}"#;
//! let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
//! gz.write_all(json).unwrap();
//! let object = gz.finish().unwrap();
//!
//! let mut decoder = DecoderBuilder::new().build();
//! let key = "AWSLogs/111122223333/CloudTrail/eu-west-1/2024/05/06/x.json.gz";
//! let (batches, summary) = decoder.decode_all(key, &object[..]).unwrap();
//! assert_eq!(summary.rows.events, 1);
//! assert_eq!(summary.rows.table_access, 2); // one row per table in tablesToGet
//! assert_eq!(batches.get(Table::TableAccess)[0].num_rows(), 2);
//! ```
//!
//! Nothing is dropped: unknown top-level fields, and known fields whose value
//! does not fit their column (an object where a string is documented, a
//! boolean written as `"maybe"`), are kept as JSON in `additional_fields`. A
//! record that is not a JSON object is skipped and reported with its index
//! ([`BadRecordPolicy`]); an object that is not a CloudTrail document at all is
//! an [`Error`] naming the object and the reason.

mod builders;
mod columns;
mod decoder;
mod envelope;
mod error;
mod inflate;
mod json;
mod window;

pub mod actor;
pub mod athena;
pub mod events;
pub mod key;
pub mod redact;
pub mod schema_doc;
pub mod table_access;
pub mod time;

pub use decoder::{
    BadRecordPolicy, Batches, Decoder, DecoderBuilder, ObjectSummary, Table, TableCounts,
    PARTITION_COLUMN,
};
pub use error::{Error, RecordError};
pub use key::{KeyKind, ObjectKey};
