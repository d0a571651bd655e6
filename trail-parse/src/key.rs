//! Classify S3 object keys of a CloudTrail bucket.
//!
//! CloudTrail writes `[prefix/]AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/FILE`.
//! Siblings such as `CloudTrail-Digest/`, `CloudTrail-Insight/` and `Config/` share the
//! prefix. A bare file name in CloudTrail's own naming
//! (`ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHmmZ_UNIQUE.json.gz`) is recognised too, for
//! folders of downloaded logs that lost their directories.

use chrono::NaiveDate;

use crate::Error;

/// What an object in a CloudTrail bucket holds, decided from its key alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyKind {
    /// A CloudTrail event log (`.../CloudTrail/...`).
    Log,
    /// An hourly integrity digest (`.../CloudTrail-Digest/...`): not events.
    Digest,
    /// CloudTrail Insights events (`.../CloudTrail-Insight/...`): same envelope as logs.
    Insight,
    /// Anything else under `AWSLogs/` (`Config/`, `ConfigWritabilityCheckFile`, ...).
    Other,
}

impl KeyKind {
    /// Whether objects of this kind hold `{"Records":[...]}` event documents.
    pub fn has_records(self) -> bool {
        matches!(self, KeyKind::Log | KeyKind::Insight)
    }

    /// Lower-case name used in summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Log => "log",
            KeyKind::Digest => "digest",
            KeyKind::Insight => "insight",
            KeyKind::Other => "other",
        }
    }
}

/// The parts of a CloudTrail object key.
///
/// ```
/// use trail_parse::{ObjectKey, KeyKind};
/// let k = ObjectKey::parse(
///     "logs/AWSLogs/o-abc123defg/111122223333/CloudTrail/eu-west-1/2024/05/06/\
///      111122223333_CloudTrail_eu-west-1_20240506T1205Z_AbCd.json.gz").unwrap();
/// assert_eq!(k.kind, KeyKind::Log);
/// assert_eq!(k.org_id.as_deref(), Some("o-abc123defg"));
/// assert_eq!(k.account.as_deref(), Some("111122223333"));
/// assert_eq!(k.delivery_date.unwrap().to_string(), "2024-05-06");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectKey {
    /// What the object holds.
    pub kind: KeyKind,
    /// Everything before `AWSLogs/` (without the trailing slash), empty when none.
    pub prefix: String,
    /// Organization id (`o-...`) of an organization trail.
    pub org_id: Option<String>,
    /// 12-digit account id (absent only for [`KeyKind::Other`]).
    pub account: Option<String>,
    /// Region folder (absent only for [`KeyKind::Other`]).
    pub region: Option<String>,
    /// The delivery date of the folder (absent only for [`KeyKind::Other`]).
    pub delivery_date: Option<NaiveDate>,
}

impl ObjectKey {
    /// Classify `key`. Keys that are under `AWSLogs/` but not CloudTrail's are
    /// [`KeyKind::Other`]; keys that follow no CloudTrail layout at all, or a
    /// CloudTrail folder with a malformed account, region or date, are an error.
    pub fn parse(key: &str) -> Result<ObjectKey, Error> {
        let err = |reason: &str| Error::Key {
            key: key.to_string(),
            reason: reason.to_string(),
        };
        let parts: Vec<&str> = key.split('/').collect();
        let Some(root) = parts.iter().position(|p| *p == "AWSLogs") else {
            let file = parts.last().copied().unwrap_or_default();
            if file == "ConfigWritabilityCheckFile" {
                return Ok(ObjectKey::other(String::new()));
            }
            return parse_file_name(file).ok_or_else(|| {
                err("no AWSLogs/ folder, and the file name is not ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHmmZ_ID.json[.gz]")
            });
        };
        let prefix = parts[..root].join("/");
        let mut rest = &parts[root + 1..];
        let mut org_id = None;
        if let Some(first) = rest.first() {
            if is_org_id(first) {
                org_id = Some(first.to_string());
                rest = &rest[1..];
            }
        }
        // ACCOUNT / SERVICE / REGION / YYYY / MM / DD / FILE
        let service = rest.get(1).copied().unwrap_or_default();
        let kind = match service {
            "CloudTrail" => KeyKind::Log,
            "CloudTrail-Digest" => KeyKind::Digest,
            "CloudTrail-Insight" => KeyKind::Insight,
            _ => {
                let mut other = ObjectKey::other(prefix);
                other.org_id = org_id;
                other.account = rest
                    .first()
                    .filter(|a| is_account(a))
                    .map(|a| a.to_string());
                return Ok(other);
            }
        };
        let account = rest[0];
        if !is_account(account) {
            return Err(err("the account folder is not a 12-digit account id"));
        }
        if rest.len() != 7 {
            return Err(err(
                "expected ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/FILE after AWSLogs/",
            ));
        }
        let region = rest[2];
        if !is_region(region) {
            return Err(err("the region folder is not a region name"));
        }
        let date = folder_date(rest[3], rest[4], rest[5])
            .ok_or_else(|| err("the YYYY/MM/DD folders are not a valid date"))?;
        if rest[6].is_empty() {
            return Err(err(
                "the key ends with a slash (a folder marker, not a file)",
            ));
        }
        Ok(ObjectKey {
            kind,
            prefix,
            org_id,
            account: Some(account.to_string()),
            region: Some(region.to_string()),
            delivery_date: Some(date),
        })
    }

    fn other(prefix: String) -> ObjectKey {
        ObjectKey {
            kind: KeyKind::Other,
            prefix,
            org_id: None,
            account: None,
            region: None,
            delivery_date: None,
        }
    }
}

/// `ACCOUNT_CloudTrail[-Insight]_REGION_YYYYMMDDTHHmmZ_UNIQUE.json[.gz]`
fn parse_file_name(file: &str) -> Option<ObjectKey> {
    let stem = file
        .strip_suffix(".json.gz")
        .or_else(|| file.strip_suffix(".json"))?;
    let mut it = stem.splitn(5, '_');
    let account = it.next()?;
    let service = it.next()?;
    let region = it.next()?;
    let stamp = it.next()?;
    let unique = it.next()?;
    let kind = match service {
        "CloudTrail" => KeyKind::Log,
        "CloudTrail-Insight" => KeyKind::Insight,
        _ => return None,
    };
    if !is_account(account) || !is_region(region) || unique.is_empty() {
        return None;
    }
    let bytes = stamp.as_bytes();
    if bytes.len() != 14 || bytes[8] != b'T' || bytes[13] != b'Z' {
        return None;
    }
    let date = folder_date(&stamp[0..4], &stamp[4..6], &stamp[6..8])?;
    Some(ObjectKey {
        kind,
        prefix: String::new(),
        org_id: None,
        account: Some(account.to_string()),
        region: Some(region.to_string()),
        delivery_date: Some(date),
    })
}

fn folder_date(y: &str, m: &str, d: &str) -> Option<NaiveDate> {
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(y, 4) && digits(m, 2) && digits(d, 2)) {
        return None;
    }
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `o-` followed by 10 to 32 lower-case letters or digits (the Organizations id format).
pub(crate) fn is_org_id(s: &str) -> bool {
    s.strip_prefix("o-").is_some_and(|id| {
        (10..=32).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

fn is_region(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LOG: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/31/111122223333_CloudTrail_us-east-1_20240131T2355Z_abc.json.gz";

    #[test]
    fn plain_log_key() {
        let k = ObjectKey::parse(LOG).unwrap();
        assert_eq!(k.kind, KeyKind::Log);
        assert_eq!(k.prefix, "");
        assert_eq!(k.org_id, None);
        assert_eq!(k.region.as_deref(), Some("us-east-1"));
        assert_eq!(k.delivery_date, NaiveDate::from_ymd_opt(2024, 1, 31));
    }

    #[test]
    fn prefixed_org_digest_and_insight_keys() {
        let k = ObjectKey::parse("a/b/AWSLogs/o-aa11bb22cc/111122223333/CloudTrail-Digest/eu-west-1/2024/02/29/111122223333_CloudTrail-Digest_eu-west-1_t_eu-west-1_20240229T000000Z.json.gz").unwrap();
        assert_eq!(k.kind, KeyKind::Digest);
        assert_eq!(k.prefix, "a/b");
        assert_eq!(k.org_id.as_deref(), Some("o-aa11bb22cc"));
        let k = ObjectKey::parse(
            "AWSLogs/111122223333/CloudTrail-Insight/us-east-1/2024/01/02/x.json.gz",
        )
        .unwrap();
        assert_eq!(k.kind, KeyKind::Insight);
        assert!(k.kind.has_records());
    }

    #[test]
    fn siblings_are_other() {
        for key in [
            "AWSLogs/111122223333/Config/us-east-1/2024/1/2/ConfigHistory/x.json.gz",
            "AWSLogs/111122223333/Config/ConfigWritabilityCheckFile",
            "ConfigWritabilityCheckFile",
            "AWSLogs/",
        ] {
            assert_eq!(ObjectKey::parse(key).unwrap().kind, KeyKind::Other, "{key}");
        }
    }

    #[test]
    fn malformed_cloudtrail_keys_are_errors_naming_the_part() {
        let cases = [
            (
                "AWSLogs/12345/CloudTrail/us-east-1/2024/01/02/f.json.gz",
                "12-digit",
            ),
            (
                "AWSLogs/111122223333/CloudTrail/us-east-1/2024/02/30/f.json.gz",
                "valid date",
            ),
            (
                "AWSLogs/111122223333/CloudTrail/US_EAST/2024/02/03/f.json.gz",
                "region",
            ),
            (
                "AWSLogs/111122223333/CloudTrail/us-east-1/2024/02/",
                "expected",
            ),
            ("random/file.txt", "no AWSLogs"),
        ];
        for (key, want) in cases {
            let e = ObjectKey::parse(key).unwrap_err().to_string();
            assert!(e.contains(key) && e.contains(want), "{key}: {e}");
        }
    }

    #[test]
    fn bare_file_name() {
        let k = ObjectKey::parse(
            "downloads/111122223333_CloudTrail_us-west-2_20190201T0325Z_X6rLKvG5v9mFY1HG.json.gz",
        )
        .unwrap();
        assert_eq!(k.kind, KeyKind::Log);
        assert_eq!(k.delivery_date, NaiveDate::from_ymd_opt(2019, 2, 1));
    }

    proptest! {
        #[test]
        fn every_generated_layout_round_trips(
            prefix in proptest::option::of("[a-z0-9]{1,8}(/[a-z0-9]{1,8}){0,2}"),
            org in proptest::option::of("[a-z0-9]{10,32}"),
            account in "[0-9]{12}",
            region in "[a-z]{2}(-[a-z]{2,9}){1,2}-[0-9]",
            date in (1970i32..2100, 1u32..13, 1u32..29),
            kind in prop_oneof![Just("CloudTrail"), Just("CloudTrail-Digest"), Just("CloudTrail-Insight")],
            unique in "[A-Za-z0-9]{16}",
        ) {
            let (y, m, d) = date;
            let mut key = String::new();
            if let Some(p) = &prefix { key.push_str(p); key.push('/'); }
            key.push_str("AWSLogs/");
            if let Some(o) = &org { key.push_str("o-"); key.push_str(o); key.push('/'); }
            key.push_str(&format!("{account}/{kind}/{region}/{y:04}/{m:02}/{d:02}/{account}_{kind}_{region}_{y:04}{m:02}{d:02}T0000Z_{unique}.json.gz"));
            let k = ObjectKey::parse(&key).unwrap();
            prop_assert_eq!(k.prefix, prefix.unwrap_or_default());
            prop_assert_eq!(k.org_id, org.map(|o| format!("o-{o}")));
            prop_assert_eq!(k.account, Some(account));
            prop_assert_eq!(k.region, Some(region));
            prop_assert_eq!(k.delivery_date, NaiveDate::from_ymd_opt(y, m, d));
            prop_assert_eq!(k.kind.has_records(), kind != "CloudTrail-Digest");
        }

        #[test]
        fn never_panics_on_arbitrary_keys(key in "\\PC{0,80}(/\\PC{0,20}){0,9}") {
            let _ = ObjectKey::parse(&key);
        }
    }
}
