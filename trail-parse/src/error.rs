//! The one error type of this crate.

use std::fmt;

/// Why an object, or a record inside it, could not be decoded.
///
/// Every variant names the S3 object key (or local path) it concerns, so a
/// message can be shown to a user as it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes could not be read or decompressed (corrupt gzip, I/O failure).
    #[error("cannot read object {key}: {source}")]
    Read {
        /// Object key or path.
        key: String,
        /// What the reader or the gzip decoder reported.
        #[source]
        source: std::io::Error,
    },
    /// The object holds no bytes at all (or only whitespace after decompression).
    #[error("object {key} is empty")]
    Empty {
        /// Object key or path.
        key: String,
    },
    /// The decompressed bytes are not a `{"Records":[...]}` document.
    #[error("object {key} is not a CloudTrail log document: {reason} (at byte {offset} of the decompressed JSON)")]
    Envelope {
        /// Object key or path.
        key: String,
        /// Byte offset in the decompressed stream where the problem was seen.
        offset: u64,
        /// What was expected and what was found.
        reason: String,
    },
    /// The stream ended in the middle of the document: a truncated upload or a cut download.
    #[error("object {key} ends in the middle of its Records array (after {records} complete records): truncated upload or cut stream")]
    Truncated {
        /// Object key or path.
        key: String,
        /// Records read completely before the end.
        records: u64,
    },
    /// A record could not be used and the policy is [`BadRecordPolicy::Fail`](crate::BadRecordPolicy::Fail).
    #[error("object {key}, {record}")]
    BadRecord {
        /// Object key or path.
        key: String,
        /// The record and the reason.
        record: RecordError,
    },
    /// An object key does not follow any CloudTrail layout.
    #[error("{key} is not a CloudTrail object key: {reason}")]
    Key {
        /// The key.
        key: String,
        /// What part of the layout did not match.
        reason: String,
    },
    /// Arrow refused a batch (a bug in trail: please report it with the object key).
    #[error("object {key}: building the {table} batch failed: {source}")]
    Arrow {
        /// Object key or path.
        key: String,
        /// Output table.
        table: &'static str,
        /// Arrow's error.
        #[source]
        source: arrow_schema::ArrowError,
    },
}

impl Error {
    /// The object key or path the error concerns.
    pub fn key(&self) -> &str {
        match self {
            Error::Read { key, .. }
            | Error::Empty { key }
            | Error::Envelope { key, .. }
            | Error::Truncated { key, .. }
            | Error::BadRecord { key, .. }
            | Error::Key { key, .. }
            | Error::Arrow { key, .. } => key,
        }
    }
}

/// A single record that could not be turned into a row.
///
/// With [`BadRecordPolicy::Skip`](crate::BadRecordPolicy::Skip) these are
/// collected in [`ObjectSummary::bad_records`](crate::ObjectSummary) and the
/// other records of the object still land.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// Zero-based position in the object's `Records` array.
    pub index: u64,
    /// The field concerned, when one is to blame.
    pub field: Option<&'static str>,
    /// What is wrong, as a sentence fragment.
    pub reason: String,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "record {}", self.index)?;
        if let Some(field) = self.field {
            write!(f, ", field {field}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl std::error::Error for RecordError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_object_record_and_field() {
        let e = Error::BadRecord {
            key: "AWSLogs/1/x.json.gz".into(),
            record: RecordError {
                index: 7,
                field: Some("userIdentity"),
                reason: "not an object".into(),
            },
        };
        assert_eq!(
            e.to_string(),
            "object AWSLogs/1/x.json.gz, record 7, field userIdentity: not an object"
        );
        assert_eq!(e.key(), "AWSLogs/1/x.json.gz");
    }
}
