//! `trail-etl verify` over a trail the test writes and signs as CloudTrail
//! does (hourly digests chained by their signatures, SHA256withRSA, the
//! signature in the digest object's S3 metadata), served by s3s-fs, with the
//! public key from a local stand-in for CloudTrail's ListPublicKeys
//! (tests/cloudtrail/fake_cloudtrail.py), through the real aws-sdk-cloudtrail
//! client and AWS_ENDPOINT_URL_CLOUDTRAIL.

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};

use crate::s3server::{env, S3Server};
use crate::util::{copy_tree, run_at, StandIn};

const ORG: &str = "o-verifyorg1";
const BUCKET: &str = "trail";
const FINGERPRINT: &str = "5f3e1ab2c4d6e8f00112233445566778";

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn base64(bytes: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
        if pad {
            out.push_str(&"=".repeat(3 - chunk.len()));
        }
    }
    out
}

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A trail of one day, 06:00 to 12:00, for two accounts of an organization
/// in two regions: a log object every 20 minutes, an hourly digest listing
/// the hour's objects, each digest signed and chained to the previous one.
/// `444455556666/us-east-1` has no digest for 09:00-10:00 (validation was
/// off): its chain starts again at 10:00. Returns each digest's key and
/// signature (hex), which CloudTrail puts in the object's metadata.
fn write_trail(dir: &Path, key: &KeyPair) -> Vec<(String, String)> {
    let rng = SystemRandom::new();
    let mut signatures = Vec::new();
    let mut n = 0;
    for account in ["111122223333", "444455556666"] {
        for region in ["eu-west-1", "us-east-1"] {
            let gap = account == "444455556666" && region == "us-east-1";
            let mut previous: Option<(String, String)> = None;
            for hour in 6..12 {
                let mut logs = Vec::new();
                for minute in [5, 25, 45] {
                    n += 1;
                    let time = format!("2026-03-02T{hour:02}:{minute:02}:00Z");
                    let doc = format!(
                        r#"{{"Records":[{{"eventVersion":"1.11","eventTime":"{time}","eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"verify-{n}","recipientAccountId":"{account}","userIdentity":{{"type":"IAMUser","userName":"u{n}"}}}}]}}"#
                    );
                    let log_key = format!(
                        "AWSLogs/{ORG}/{account}/CloudTrail/{region}/2026/03/02/{account}_CloudTrail_{region}_20260302T{hour:02}{minute:02}Z_verify{n:04}.json.gz"
                    );
                    std::fs::create_dir_all(dir.join(&log_key).parent().unwrap()).unwrap();
                    std::fs::write(dir.join(&log_key), gz(doc.as_bytes())).unwrap();
                    logs.push(serde_json::json!({
                        "s3Bucket": BUCKET,
                        "s3Object": log_key,
                        "hashValue": sha256_hex(doc.as_bytes()),
                        "hashAlgorithm": "SHA-256",
                        "newestEventTime": time,
                        "oldestEventTime": time,
                    }));
                }
                if gap && hour == 9 {
                    previous = None;
                    continue;
                }
                let end = format!("2026-03-02T{:02}:00:00Z", hour + 1);
                let digest_key = format!(
                    "AWSLogs/{ORG}/{account}/CloudTrail-Digest/{region}/2026/03/02/{account}_CloudTrail-Digest_{region}_org-trail_us-east-1_20260302T{:02}0000Z.json.gz",
                    hour + 1
                );
                let doc = serde_json::json!({
                    "awsAccountId": account,
                    "digestStartTime": format!("2026-03-02T{hour:02}:00:00Z"),
                    "digestEndTime": end,
                    "digestS3Bucket": BUCKET,
                    "digestS3Object": digest_key,
                    "digestPublicKeyFingerprint": FINGERPRINT,
                    "digestSignatureAlgorithm": "SHA256withRSA",
                    "newestEventTime": format!("2026-03-02T{hour:02}:45:00Z"),
                    "oldestEventTime": format!("2026-03-02T{hour:02}:05:00Z"),
                    "previousDigestS3Bucket": previous.as_ref().map(|_| BUCKET),
                    "previousDigestS3Object": previous.as_ref().map(|p| p.0.clone()),
                    "previousDigestHashValue": previous.as_ref().map(|_| "00"),
                    "previousDigestHashAlgorithm": previous.as_ref().map(|_| "SHA-256"),
                    "previousDigestSignature": previous.as_ref().map(|p| p.1.clone()),
                    "logFiles": logs,
                });
                let json = serde_json::to_vec(&doc).unwrap();
                let to_sign = format!(
                    "{end}\n{BUCKET}/{digest_key}\n{}\n{}",
                    sha256_hex(&json),
                    previous.as_ref().map_or("null", |p| p.1.as_str())
                );
                let mut signature = vec![0; key.public_modulus_len()];
                key.sign(&RSA_PKCS1_SHA256, &rng, to_sign.as_bytes(), &mut signature)
                    .unwrap();
                let signature = hex(&signature);
                std::fs::create_dir_all(dir.join(&digest_key).parent().unwrap()).unwrap();
                std::fs::write(dir.join(&digest_key), gz(&json)).unwrap();
                signatures.push((digest_key.clone(), signature.clone()));
                previous = Some((digest_key, signature));
            }
        }
    }
    signatures
}

/// The S3 user metadata of a digest, as s3s-fs 0.14 keeps it (a file beside the buckets).
fn set_signature(server: &S3Server, key: &str, signature: &str) {
    let name = format!(
        ".bucket-{}.object-{}.metadata.json",
        base64(BUCKET.as_bytes(), URL_SAFE, false),
        base64(key.as_bytes(), URL_SAFE, false)
    );
    let meta = serde_json::json!({"user_metadata": {"signature": signature, "signature-algorithm": "SHA256withRSA"}});
    std::fs::write(server.root.path().join(name), meta.to_string()).unwrap();
}

struct FakeCloudTrail(StandIn);

impl FakeCloudTrail {
    fn start(key: &KeyPair) -> FakeCloudTrail {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys.json");
        let der = key.public_key().as_ref().to_vec();
        let other = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let doc = serde_json::json!({"keys": [
            // Another key of the same period first: the right one is on the second page.
            {"Fingerprint": "00000000000000000000000000000000",
             "Value": base64(other.public_key().as_ref(), STANDARD, true),
             "ValidityStartTime": 1_767_225_600, "ValidityEndTime": 1_798_761_600},
            {"Fingerprint": FINGERPRINT, "Value": base64(&der, STANDARD, true),
             "ValidityStartTime": 1_767_225_600, "ValidityEndTime": 1_798_761_600},
        ]});
        std::fs::write(&keys, doc.to_string()).unwrap();
        FakeCloudTrail(StandIn::start(
            "cloudtrail/fake_cloudtrail.py",
            dir,
            &[std::ffi::OsStr::new("--keys"), keys.as_os_str()],
        ))
    }

    fn requests(&self) -> Vec<serde_json::Value> {
        self.0.requests()
    }
}

struct Verified {
    code: i32,
    report: serde_json::Value,
    stderr: String,
}

impl Verified {
    fn kinds(&self) -> Vec<(String, String)> {
        self.report["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["kind"].as_str().unwrap().to_string(),
                    p["key"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }
}

fn verify(source: &str, extra: &[&str], endpoints: &[(&str, String)]) -> Verified {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trail-etl"));
    cmd.args([
        "verify",
        "--source",
        source,
        "--start",
        "2026-03-02",
        "--end",
        "2026-03-02",
        "--json",
    ])
    .args(extra);
    for (k, v) in env() {
        cmd.env(k, v);
    }
    for (k, v) in endpoints {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    Verified {
        code: out.status.code().unwrap_or(-1),
        report: serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}")),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn verify_proves_the_tables_hold_what_cloudtrail_signed_and_names_every_problem() {
    let key = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let server = S3Server::start(&[BUCKET, "lake"]);
    let signatures = write_trail(&server.bucket_dir(BUCKET), &key);
    for (k, s) in &signatures {
        set_signature(&server, k, s);
    }
    let cloudtrail = FakeCloudTrail::start(&key);
    let endpoints = vec![
        ("AWS_ENDPOINT_URL_S3", server.endpoint()),
        ("AWS_ENDPOINT_URL_CLOUDTRAIL", cloudtrail.0.endpoint()),
    ];

    // Ingest, then verify: everything valid, every listed object ingested.
    let mut args = server.args();
    args.push("--start".into());
    args.push("2026-03-02".into());
    let ingest = run_at("s3://trail", "s3://lake/tables", &args, &env());
    assert_eq!(ingest.code, 0, "{}", ingest.stderr);
    let lake = ["--dest", "s3://lake/tables", "--force-path-style"];
    let clean = verify("s3://trail", &lake, &endpoints);
    assert_eq!(clean.code, 0, "{}\n{}", clean.report, clean.stderr);
    let r = &clean.report;
    assert_eq!(
        (r["digests"].as_u64(), r["digests_valid"].as_u64()),
        (Some(23), Some(23)),
        "{r}"
    );
    assert_eq!(
        (r["logs"].as_u64(), r["logs_valid"].as_u64()),
        (Some(69), Some(69)),
        "{r}"
    );
    assert_eq!(r["logs_ingested"], 69);
    assert_eq!(r["signatures_checked"], true);
    // Objects within 15 minutes of an edge of the covered hours are not
    // counted (named when written, listed when delivered): 06:05 in every
    // chain, and 09:05 to 10:05 around the gap.
    assert_eq!(r["log_objects_seen"], 64, "{r}");
    let gaps = r["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "{r}");
    assert!(gaps[0]
        .as_str()
        .unwrap()
        .contains("between 2026-03-02T09:00:00Z and 2026-03-02T10:00:00Z"));
    assert!(
        clean.stderr.contains("23/23 digest files valid"),
        "{}",
        clean.stderr
    );
    assert!(
        clean.stderr.contains("69/69 log files valid"),
        "{}",
        clean.stderr
    );
    // ListPublicKeys was asked with both bounds (a missing one means now), every page followed.
    let asked = cloudtrail.requests();
    assert!(!asked.is_empty());
    for request in &asked {
        assert!(request["body"]["StartTime"].is_number(), "{request}");
        assert!(request["body"]["EndTime"].is_number(), "{request}");
    }

    // Without metadata (a local copy) the signatures cannot be checked; the rest is.
    let local = tempfile::tempdir().unwrap();
    copy_tree(&server.bucket_dir(BUCKET), local.path());
    let copy = verify(&local.path().to_string_lossy(), &[], &[]);
    assert_eq!(copy.code, 0, "{}", copy.report);
    assert_eq!(copy.report["signatures_checked"], false);
    assert_eq!(copy.report["logs_valid"], 69);

    // An empty destination: every listed object is not ingested.
    let empty = verify(
        "s3://trail",
        &["--dest", "s3://lake/nothing", "--force-path-style"],
        &endpoints,
    );
    assert_eq!(empty.code, 3);
    assert_eq!(empty.report["logs_ingested"], 0);
    assert!(empty.kinds().iter().all(|(k, _)| k == "log_not_ingested"));

    // Now tamper with the bucket, one way per problem kind.
    let trail = server.bucket_dir(BUCKET);
    let log = |account: &str, region: &str, hhmm: &str| -> String {
        let folder = format!("AWSLogs/{ORG}/{account}/CloudTrail/{region}/2026/03/02/");
        let name = std::fs::read_dir(trail.join(&folder))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .find(|n| n.contains(&format!("T{hhmm}Z")))
            .unwrap();
        format!("{folder}{name}")
    };
    // A record altered (and re-gzipped): the hash differs, and from what was ingested.
    let altered = log("111122223333", "eu-west-1", "0725");
    let text = String::from_utf8(
        std::io::Read::bytes(flate2::read::GzDecoder::new(
            &std::fs::read(trail.join(&altered)).unwrap()[..],
        ))
        .map(|b| b.unwrap())
        .collect(),
    )
    .unwrap();
    std::fs::write(
        trail.join(&altered),
        gz(text.replace("GetObject", "PutObject").as_bytes()),
    )
    .unwrap();
    // Records appended as a second gzip member.
    let appended = log("111122223333", "us-east-1", "0845");
    let mut bytes = std::fs::read(trail.join(&appended)).unwrap();
    bytes.extend(gz(br#"{"Records":[{"eventName":"Forged"}]}"#));
    std::fs::write(trail.join(&appended), bytes).unwrap();
    // A log object deleted.
    let deleted = log("444455556666", "eu-west-1", "1105");
    std::fs::remove_file(trail.join(&deleted)).unwrap();
    // A log object added in a covered hour.
    let added = format!(
        "AWSLogs/{ORG}/444455556666/CloudTrail/eu-west-1/2026/03/02/444455556666_CloudTrail_eu-west-1_20260302T0830Z_forged.json.gz"
    );
    std::fs::write(trail.join(&added), gz(br#"{"Records":[]}"#)).unwrap();
    // A digest deleted in the middle of its chain.
    let digest = |account: &str, region: &str, hh: &str| {
        format!("AWSLogs/{ORG}/{account}/CloudTrail-Digest/{region}/2026/03/02/{account}_CloudTrail-Digest_{region}_org-trail_us-east-1_20260302T{hh}0000Z.json.gz")
    };
    let gone = digest("111122223333", "us-east-1", "10");
    std::fs::remove_file(trail.join(&gone)).unwrap();
    // A digest's signature altered.
    let forged = digest("444455556666", "us-east-1", "08");
    let (_, signature) = signatures.iter().find(|(k, _)| *k == forged).unwrap();
    let flipped: String = signature
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i == 10 {
                if c == '0' {
                    '1'
                } else {
                    '0'
                }
            } else {
                c
            }
        })
        .collect();
    set_signature(&server, &forged, &flipped);

    let tampered = verify("s3://trail", &lake, &endpoints);
    assert_eq!(tampered.code, 3, "{}", tampered.stderr);
    let kinds = tampered.kinds();
    for (kind, key) in [
        ("log_hash_mismatch", &altered),
        ("log_not_ingested", &altered),
        ("log_hash_mismatch", &appended),
        ("log_not_ingested", &appended),
        ("log_missing", &deleted),
        ("log_not_in_digest", &added),
        ("digest_missing", &gone),
        ("digest_signature_invalid", &forged),
    ] {
        assert!(
            kinds.contains(&(kind.to_string(), key.clone())),
            "{kind} {key}: {kinds:#?}"
        );
        assert!(
            tampered.stderr.contains(&format!("{kind}\t{key}")),
            "{kind} on stderr: {}",
            tampered.stderr
        );
    }
    let appended_detail = tampered.report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"] == appended.as_str())
        .unwrap()["detail"]
        .to_string();
    assert!(
        appended_detail.contains("appended member"),
        "{appended_detail}"
    );
    assert_eq!(tampered.report["digests"], 22, "{}", tampered.report);
    assert_eq!(tampered.report["digests_valid"], 21);
    assert!(
        tampered
            .stderr
            .contains("21/22 digest files valid, 1 INVALID"),
        "{}",
        tampered.stderr
    );
    // The deleted and forged digests' logs are listed by no valid digest,
    // but their hours are no longer covered: not reported as such.
    assert_eq!(kinds.len(), 8, "{kinds:#?}");
}

#[test]
fn verify_without_cloudtrail_fails_to_run_naming_the_call() {
    let key = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let server = S3Server::start(&[BUCKET]);
    for (k, s) in write_trail(&server.bucket_dir(BUCKET), &key) {
        set_signature(&server, &k, &s);
    }
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoints = vec![
        ("AWS_ENDPOINT_URL_S3", server.endpoint()),
        (
            "AWS_ENDPOINT_URL_CLOUDTRAIL",
            format!("http://127.0.0.1:{closed}"),
        ),
        ("AWS_MAX_ATTEMPTS", "1".to_string()),
    ];
    let out = verify("s3://trail", &["--force-path-style"], &endpoints);
    assert_eq!(out.code, 1, "{}", out.report);
    let error = out.report["error"].as_str().unwrap();
    assert!(error.contains("ListPublicKeys"), "{error}");
}

#[test]
fn the_bundled_bucket_verifies_against_its_own_tables() {
    let dest = tempfile::tempdir().unwrap();
    let bucket = crate::util::bucket();
    assert_eq!(crate::util::run(&bucket, dest.path(), &[]).code, 0);
    let out = verify(
        &bucket.to_string_lossy(),
        &["--dest", &dest.path().to_string_lossy()],
        &[],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.report, out.stderr);
    assert_eq!(out.report["digests_valid"], 1);
    assert_eq!(out.report["logs_valid"], 1);
    assert_eq!(
        out.report["logs_ingested"], 1,
        "run recorded the object's SHA-256"
    );
    assert_eq!(out.report["signatures_checked"], false);
}
