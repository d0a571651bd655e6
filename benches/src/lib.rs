//! A seeded generator of realistic CloudTrail traffic, for benchmarks.
//!
//! The mix follows what a data platform's trail holds: S3 data events (the
//! bulk), Glue catalog reads made by Athena on users' behalf (including
//! `BatchGetTable` lists), Lake Formation `GetDataAccess`, Athena query calls,
//! STS role assumptions with credentials in the response, KMS, EC2 describe
//! calls with long request parameters, and access-denied errors.
//!
//! ```
//! let mut g = benches::Generator::new(7);
//! let doc = g.object(100);
//! let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
//! assert_eq!(v["Records"].as_array().unwrap().len(), 100);
//! assert_eq!(doc, benches::Generator::new(7).object(100), "same seed, same bytes");
//! ```

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

/// Seeded CloudTrail record generator.
pub struct Generator {
    rng: fastrand::Rng,
    /// Milliseconds since the epoch of the next event (advances a little per record).
    clock: i64,
    seq: u64,
}

const ACCOUNTS: [&str; 4] = [
    "111122223333",
    "210987654321",
    "444455556666",
    "777788889999",
];
const REGIONS: [&str; 3] = ["eu-west-1", "us-east-1", "us-west-2"];
const PEOPLE: [&str; 8] = [
    "jane.doe@example.com",
    "marco.rossi@example.com",
    "li.wei@example.com",
    "amara.okafor@example.com",
    "sven.berg@example.com",
    "priya.nair@example.com",
    "tom.hardy@example.com",
    "ana.silva@example.com",
];
const DATABASES: [&str; 5] = ["sales", "marketing", "finance", "raw_events", "curated"];
const TABLES: [&str; 10] = [
    "orders",
    "customers",
    "campaigns",
    "invoices",
    "clicks",
    "sessions",
    "products",
    "regions",
    "payments",
    "refunds",
];
const WORKGROUPS: [&str; 5] = [
    "primary",
    "analysts",
    "airflow-marketing",
    "airflow-finance",
    "adhoc",
];

impl Generator {
    /// A generator starting at 2026-03-02T00:00:00Z.
    pub fn new(seed: u64) -> Generator {
        Generator {
            rng: fastrand::Rng::with_seed(seed),
            clock: 1_772_409_600_000,
            seq: 0,
        }
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.rng.usize(..items.len())]
    }

    fn time(&mut self) -> String {
        self.clock += self.rng.i64(0..400);
        let secs = self.clock / 1000;
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            rem / 60 % 60,
            rem % 60
        )
    }

    fn uuid(&mut self) -> String {
        let a = self.rng.u64(..);
        let b = self.rng.u64(..);
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            (b >> 48) | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }

    /// One `{"Records":[...]}` document with `records` records.
    pub fn object(&mut self, records: usize) -> String {
        let mut out = String::with_capacity(records * 1500 + 16);
        out.push_str("{\"Records\":[");
        for i in 0..records {
            if i > 0 {
                out.push(',');
            }
            self.record(&mut out);
        }
        out.push_str("]}");
        out
    }

    /// Append one record.
    pub fn record(&mut self, out: &mut String) {
        self.seq += 1;
        let account = self.pick(&ACCOUNTS);
        let region = self.pick(&REGIONS);
        let person = self.pick(&PEOPLE);
        let roll = self.rng.u32(..100);
        let via_athena = (35..58).contains(&roll);
        let identity = match self.rng.u32(..10) {
            0 => format!(
                r#"{{"type":"IAMUser","principalId":"AIDAEXAMPLE{0:08}","arn":"arn:aws:iam::{account}:user/svc-{0}","accountId":"{account}","accessKeyId":"AKIAEXAMPLE{0:09}","userName":"svc-{0}"}}"#,
                self.seq % 97
            ),
            1 if !via_athena => {
                r#"{"type":"AWSService","invokedBy":"glue.amazonaws.com"}"#.to_string()
            }
            _ => {
                let role = if self.rng.bool() {
                    "AWSReservedSSO_DataAnalyst_0123456789abcdef"
                } else {
                    "AWSReservedSSO_DataEngineer_fedcba9876543210"
                };
                format!(
                    r#"{{"type":"AssumedRole","principalId":"AROAEXAMPLE0000000001:{person}","arn":"arn:aws:sts::{account}:assumed-role/{role}/{person}","accountId":"{account}","accessKeyId":"ASIAEXAMPLE{:09}","sessionContext":{{"sessionIssuer":{{"type":"Role","principalId":"AROAEXAMPLE0000000001","arn":"arn:aws:iam::{account}:role/aws-reserved/sso.amazonaws.com/{region}/{role}","accountId":"{account}","userName":"{role}"}},"webIdFederationData":{{}},"attributes":{{"creationDate":"{}","mfaAuthenticated":"false"}}}}{}}}"#,
                    self.seq % 1000,
                    self.time(),
                    if via_athena {
                        r#","invokedBy":"athena.amazonaws.com""#
                    } else {
                        ""
                    }
                )
            }
        };
        let time = self.time();
        let db = self.pick(&DATABASES);
        let table = self.pick(&TABLES);
        let (source, name, params, response, extra, resources, read_only) = match roll {
            0..=34 => {
                let get = self.rng.u32(..4) != 0;
                let bucket = format!("example-lake-{account}");
                let key = format!(
                    "{db}/{table}/dt=2026-03-0{}/part-{:05}-{}.snappy.parquet",
                    self.rng.u32(1..10),
                    self.rng.u32(..3000),
                    self.uuid()
                );
                (
                    "s3.amazonaws.com",
                    if get { "GetObject" } else { "PutObject" },
                    format!(
                        r#"{{"bucketName":"{bucket}","Host":"{bucket}.s3.{region}.amazonaws.com","key":"{key}"}}"#
                    ),
                    "null".to_string(),
                    format!(
                        r#"{{"SignatureVersion":"SigV4","CipherSuite":"TLS_AES_128_GCM_SHA256","bytesTransferredIn":{},"AuthenticationMethod":"AuthHeader","x-amz-id-2":"{}","bytesTransferredOut":{}}}"#,
                        if get {
                            0
                        } else {
                            self.rng.u32(1000..50_000_000)
                        },
                        self.uuid(),
                        if get {
                            self.rng.u32(1000..50_000_000)
                        } else {
                            0
                        }
                    ),
                    format!(
                        r#"[{{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::{bucket}/{key}"}},{{"accountId":"{account}","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::{bucket}"}}]"#
                    ),
                    get,
                )
            }
            35..=49 => {
                let (name, params) = match self.rng.u32(..4) {
                    0 => (
                        "GetTable",
                        format!(
                            r#"{{"catalogId":"{account}","databaseName":"{db}","name":"{table}"}}"#
                        ),
                    ),
                    1 => (
                        "GetTables",
                        format!(
                            r#"{{"catalogId":"{account}","databaseName":"{db}","expression":"*"}}"#
                        ),
                    ),
                    2 => {
                        let n = self.rng.usize(1..8);
                        let names: Vec<String> = (0..n)
                            .map(|_| format!("\"{}\"", self.pick(&TABLES)))
                            .collect();
                        (
                            "BatchGetTable",
                            format!(
                                r#"{{"catalogId":"{account}","databaseName":"{db}","tablesToGet":[{}]}}"#,
                                names.join(",")
                            ),
                        )
                    }
                    _ => (
                        "GetPartitions",
                        format!(
                            r#"{{"catalogId":"{account}","databaseName":"{db}","tableName":"{table}","expression":"dt >= '2026-03-01' AND dt < '2026-03-02'","maxResults":1000,"excludeColumnSchema":true}}"#
                        ),
                    ),
                };
                (
                    "glue.amazonaws.com",
                    name,
                    params,
                    "null".into(),
                    "null".into(),
                    "null".into(),
                    true,
                )
            }
            50..=57 => {
                let q = self.uuid();
                (
                    "lakeformation.amazonaws.com",
                    "GetDataAccess",
                    format!(
                        r#"{{"tableArn":"arn:aws:glue:{region}:{account}:table/{db}/{table}","permissions":["SELECT"],"auditContext":{{"additionalAuditContext":"{{queryId: {q}}}"}},"cellLevelSecurityEnforced":true}}"#
                    ),
                    "null".into(),
                    format!(
                        r#"{{"requesterService":"ATHENA","LakeFormationTrustedCallerInvocation":"true","lakeFormationPrincipal":"arn:aws:iam::{account}:role/analyst","lakeFormationRoleSessionName":"AWSLF-00-AT-{account}-{}"}}"#,
                        self.seq
                    ),
                    "null".into(),
                    true,
                )
            }
            58..=65 => {
                let wg = self.pick(&WORKGROUPS);
                let q = self.uuid();
                if self.rng.bool() {
                    (
                        "athena.amazonaws.com",
                        "StartQueryExecution",
                        format!(
                            r#"{{"queryString":"***OMITTED***","clientRequestToken":"{}","queryExecutionContext":{{"catalog":"AwsDataCatalog","database":"{db}"}},"resultConfiguration":{{"outputLocation":"s3://example-athena-results-{account}/{wg}/"}},"workGroup":"{wg}"}}"#,
                            self.uuid()
                        ),
                        format!(r#"{{"queryExecutionId":"{q}"}}"#),
                        "null".into(),
                        "null".into(),
                        false,
                    )
                } else {
                    (
                        "athena.amazonaws.com",
                        "GetQueryExecution",
                        format!(r#"{{"queryExecutionId":"{q}"}}"#),
                        "null".into(),
                        "null".into(),
                        "null".into(),
                        true,
                    )
                }
            }
            66..=75 => (
                "sts.amazonaws.com",
                "AssumeRole",
                format!(
                    r#"{{"roleArn":"arn:aws:iam::{account}:role/etl-{table}","roleSessionName":"airflow-{}","durationSeconds":3600}}"#,
                    self.seq
                ),
                format!(
                    r#"{{"credentials":{{"accessKeyId":"ASIAEXAMPLE{:09}","sessionToken":"IQoJb3JpZ2luX2VjEXAMPLE{}","expiration":"Mar 2, 2026, 1:00:00 PM"}},"assumedRoleUser":{{"assumedRoleId":"AROAEXAMPLE:airflow-{}","arn":"arn:aws:sts::{account}:assumed-role/etl-{table}/airflow-{}"}}}}"#,
                    self.seq,
                    "A".repeat(self.rng.usize(200..600)),
                    self.seq,
                    self.seq
                ),
                "null".into(),
                format!(
                    r#"[{{"accountId":"{account}","type":"AWS::IAM::Role","ARN":"arn:aws:iam::{account}:role/etl-{table}"}}]"#
                ),
                true,
            ),
            76..=85 => (
                "kms.amazonaws.com",
                if self.rng.bool() {
                    "Decrypt"
                } else {
                    "GenerateDataKey"
                },
                format!(
                    r#"{{"encryptionContext":{{"aws:s3:arn":"arn:aws:s3:::example-lake-{account}/{db}/{table}/"}},"encryptionAlgorithm":"SYMMETRIC_DEFAULT"}}"#
                ),
                "null".into(),
                "null".into(),
                format!(
                    r#"[{{"accountId":"{account}","type":"AWS::KMS::Key","ARN":"arn:aws:kms:{region}:{account}:key/{}"}}]"#,
                    self.uuid()
                ),
                true,
            ),
            _ => {
                let n = self.rng.usize(1..60);
                let mut ids = String::new();
                for i in 0..n {
                    let _ = write!(
                        ids,
                        "{}{{\"value\":\"i-{:017x}\"}}",
                        if i > 0 { "," } else { "" },
                        self.rng.u64(..)
                    );
                }
                (
                    "ec2.amazonaws.com",
                    "DescribeInstances",
                    format!(
                        r#"{{"instancesSet":{{"items":[{ids}]}},"filterSet":{{"items":[{{"name":"instance-state-name","valueSet":{{"items":[{{"value":"running"}}]}}}}]}}}}"#
                    ),
                    "null".into(),
                    "null".into(),
                    "null".into(),
                    true,
                )
            }
        };
        let denied = self.rng.u32(..100) < 4;
        let error = if denied {
            format!(
                r#""errorCode":"AccessDenied","errorMessage":"User is not authorized to perform: {name} on resource: {db}/{table}","#
            )
        } else {
            String::new()
        };
        let (ip, agent) = if via_athena {
            (
                "athena.amazonaws.com".to_string(),
                "athena.amazonaws.com".to_string(),
            )
        } else {
            (
                format!("203.0.113.{}", self.rng.u8(1..255)),
                "aws-sdk-java/2.25.0 Linux/6.1 OpenJDK_64-Bit_Server_VM/17.0.9+9 Java/17.0.9 vendor/Amazon.com_Inc. exec-env/AWS_ECS_FARGATE io/sync http/Apache cfg/retry-mode/adaptive".to_string(),
            )
        };
        let data_event = source == "s3.amazonaws.com";
        let _ = write!(
            out,
            r#"{{"eventVersion":"1.11","userIdentity":{identity},"eventTime":"{time}","eventSource":"{source}","eventName":"{name}","awsRegion":"{region}","sourceIPAddress":"{ip}","userAgent":"{agent}",{error}"requestParameters":{params},"responseElements":{response},"additionalEventData":{extra},"requestID":"{}","eventID":"{}","readOnly":{read_only},"resources":{resources},"eventType":"AwsApiCall","managementEvent":{},"recipientAccountId":"{account}","eventCategory":"{}","tlsDetails":{{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"{}.{region}.amazonaws.com"}}}}"#,
            self.uuid(),
            self.uuid(),
            !data_event,
            if data_event { "Data" } else { "Management" },
            source.split('.').next().unwrap_or("s3"),
        );
    }
}

/// Gzip `bytes` as CloudTrail does (one member, default level).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = e.write_all(bytes);
    e.finish().unwrap_or_default()
}

/// Write a bucket of about `json_bytes` of uncompressed JSON under `dir`, in
/// CloudTrail's key layout: files of 50 to 2,000 records, a few large ones,
/// each delivered in the folder of the day its first event happened (as
/// CloudTrail does, within minutes). Returns (files, JSON bytes).
pub fn write_bucket(dir: &Path, json_bytes: u64, seed: u64) -> std::io::Result<(u64, u64)> {
    let mut g = Generator::new(seed);
    let (mut files, mut total) = (0u64, 0u64);
    while total < json_bytes {
        let records = match g.rng.u32(..100) {
            0 => 30_000,
            1..=30 => g.rng.usize(50..200),
            _ => g.rng.usize(200..2000),
        };
        let account = ACCOUNTS[files as usize % ACCOUNTS.len()];
        let region = REGIONS[(files as usize / ACCOUNTS.len()) % REGIONS.len()];
        let secs = g.clock / 1000;
        let (y, m, d) = civil(secs.div_euclid(86_400));
        let (hh, mm) = (secs.rem_euclid(86_400) / 3600, secs.rem_euclid(3600) / 60);
        let doc = g.object(records);
        let folder = dir.join(format!(
            "AWSLogs/o-exampleorg1/{account}/CloudTrail/{region}/{y:04}/{m:02}/{d:02}"
        ));
        std::fs::create_dir_all(&folder)?;
        let name = format!(
            "{account}_CloudTrail_{region}_{y:04}{m:02}{d:02}T{hh:02}{mm:02}Z_{files:016x}.json.gz"
        );
        std::fs::write(folder.join(name), gzip(doc.as_bytes()))?;
        files += 1;
        total += doc.len() as u64;
    }
    Ok((files, total))
}

/// Write a bucket shaped like a quiet organization trail: 40 accounts and 4
/// regions, each delivering a file of 1 to 30 records (8 on average) in about one in eight
/// of the 5-minute slots (CloudTrail delivers about every 5 minutes per
/// account and region), slot after slot from 2026-03-02 until about
/// `json_bytes` of JSON are written (150 MiB: some 11,000 objects over two
/// days). Returns (files, JSON bytes).
pub fn write_small_bucket(dir: &Path, json_bytes: u64, seed: u64) -> std::io::Result<(u64, u64)> {
    let mut g = Generator::new(seed);
    let accounts: Vec<String> = (0..40)
        .map(|i| format!("{:012}", 100_000_000_000u64 + i * 7_919))
        .collect();
    let regions = ["eu-west-1", "us-east-1", "us-west-2", "ap-southeast-2"];
    let start = g.clock;
    let (mut files, mut total) = (0u64, 0u64);
    let mut slot = 0i64;
    while total < json_bytes {
        for account in &accounts {
            for region in regions {
                if total >= json_bytes || g.rng.u32(..8) != 0 {
                    continue;
                }
                let delivered = start + slot * 300_000;
                // Events from the 5 minutes before delivery.
                g.clock = delivered - 300_000 + g.rng.i64(0..60_000);
                // Quiet regions dominate: 1 to 30 records, 8 on average.
                let records = 1 + g.rng.usize(0..30) * g.rng.usize(0..30) / 30;
                let doc = g.object(records);
                let secs = delivered / 1000;
                let (y, m, d) = civil(secs.div_euclid(86_400));
                let (hh, mm) = (secs.rem_euclid(86_400) / 3600, secs.rem_euclid(3600) / 60);
                let folder = dir.join(format!(
                    "AWSLogs/o-exampleorg1/{account}/CloudTrail/{region}/{y:04}/{m:02}/{d:02}"
                ));
                std::fs::create_dir_all(&folder)?;
                let name = format!(
                    "{account}_CloudTrail_{region}_{y:04}{m:02}{d:02}T{hh:02}{mm:02}Z_{files:016x}.json.gz"
                );
                std::fs::write(folder.join(name), gzip(doc.as_bytes()))?;
                files += 1;
                total += doc.len() as u64;
            }
        }
        slot += 1;
    }
    Ok((files, total))
}

/// Write unsigned CloudTrail digest files for the log objects under `dir`
/// (as [`write_bucket`] and [`write_small_bucket`] lay them out): per
/// account, region and hour of delivery, one digest listing that hour's
/// objects with the SHA-256 of their inflated bytes, chained to the previous
/// hour's, delivered in the next hour's folder. Signatures would need
/// CloudTrail's key: this is for timing `trail-etl verify` on a local
/// folder, which cannot check them. Returns the digests written.
pub fn write_digests(dir: &Path, bucket: &str) -> std::io::Result<u64> {
    use std::collections::BTreeMap;
    use std::io::Read as _;
    /// Hour (`YYYYMMDDTHH`) → the (key, hash) of the objects delivered in it.
    type Hours = BTreeMap<String, Vec<(String, String)>>;
    let mut chains: BTreeMap<(String, String), Hours> = BTreeMap::new();
    let mut stack = vec![dir.join("AWSLogs")];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let key = path
                .strip_prefix(dir)
                .map_err(std::io::Error::other)?
                .to_string_lossy()
                .replace('\\', "/");
            let Some(at) = key.find("/CloudTrail/") else {
                continue;
            };
            let base = key[..at + 1].to_string();
            let region = key[at + 12..].split('/').next().unwrap_or("").to_string();
            let name = key.rsplit('/').next().unwrap_or("");
            let Some(stamp) = name.split('_').find(|p| p.len() == 14 && p.ends_with('Z')) else {
                continue;
            };
            let mut json = Vec::new();
            flate2::read::GzDecoder::new(std::fs::File::open(&path)?).read_to_end(&mut json)?;
            let hash: String = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &json)
                .as_ref()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            chains
                .entry((base, region))
                .or_default()
                .entry(stamp[..11].to_string())
                .or_default()
                .push((key, hash));
        }
    }
    let mut written = 0;
    for ((base, region), hours) in chains {
        let account = base.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        let mut previous: Option<String> = None;
        for (hour, logs) in hours {
            let (y, m, d, h) = (&hour[0..4], &hour[4..6], &hour[6..8], &hour[9..11]);
            let start = format!("{y}-{m}-{d}T{h}:00:00Z");
            let next = civil_hour(&hour, 1);
            let end = format!(
                "{}-{}-{}T{}:00:00Z",
                &next[0..4],
                &next[4..6],
                &next[6..8],
                &next[9..11]
            );
            let key = format!(
                "{base}CloudTrail-Digest/{region}/{}/{}/{}/{account}_CloudTrail-Digest_{region}_bench_us-east-1_{}0000Z.json.gz",
                &next[0..4], &next[4..6], &next[6..8], next
            );
            let files: Vec<serde_json::Value> = logs
                .iter()
                .map(|(k, hash)| serde_json::json!({"s3Bucket": bucket, "s3Object": k, "hashValue": hash, "hashAlgorithm": "SHA-256"}))
                .collect();
            let doc = serde_json::json!({
                "awsAccountId": account, "digestStartTime": start, "digestEndTime": end,
                "digestS3Bucket": bucket, "digestS3Object": key,
                "digestPublicKeyFingerprint": "bench", "digestSignatureAlgorithm": "SHA256withRSA",
                "previousDigestS3Bucket": previous.as_ref().map(|_| bucket),
                "previousDigestS3Object": previous, "previousDigestSignature": null,
                "logFiles": files,
            });
            let path = dir.join(&key);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, gzip(doc.to_string().as_bytes()))?;
            previous = Some(key);
            written += 1;
        }
    }
    Ok(written)
}

/// `YYYYMMDDTHH` plus `hours`.
fn civil_hour(hour: &str, hours: i64) -> String {
    let num = |r: std::ops::Range<usize>| hour[r].parse::<i64>().unwrap_or(0);
    let days = days_from_civil(num(0..4), num(4..6), num(6..8));
    let total = days * 24 + num(9..11) + hours;
    let (y, m, d) = civil(total.div_euclid(24));
    format!("{y:04}{m:02}{d:02}T{:02}", total.rem_euclid(24))
}

/// (year, month, day) → days since the epoch (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since the epoch → (year, month, day) (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2026, 3, 2), 20_514);
        assert_eq!(civil_hour("20260302T23", 1), "20260303T00");
        assert_eq!(civil(20_514), (2026, 3, 2));
    }

    #[test]
    fn generated_records_decode_cleanly_with_every_table() {
        let doc = Generator::new(1).object(2000);
        let mut d = trail_parse::DecoderBuilder::new().build();
        let (_, s) = d.decode_all("gen.json", doc.as_bytes()).unwrap();
        assert_eq!(s.records, 2000);
        assert!(s.bad_records.is_empty());
        assert!(
            s.rows.table_access > 200 && s.rows.athena_queries > 20,
            "{:?}",
            s.rows
        );
    }
}
