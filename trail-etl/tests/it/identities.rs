//! `trail-etl identities` against a local stand-in for the Identity Store
//! API (tests/identitystore/fake_identitystore.py: DescribeUser, throttling,
//! an unknown id), through the real aws-sdk-identitystore client and
//! AWS_ENDPOINT_URL_IDENTITYSTORE.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use arrow_array::cast::AsArray;
use arrow_array::Array;

use crate::util::{bucket, copy_tree, root, run, table_rows, StandIn};

const ANA: &str = "976710cc5d-9d976f61-3b89-4b98-88db-2ea3bbc1f3fa";
const GONE: &str = "9067642ac7-00000000-0000-4000-8000-00000000dead";

struct FakeIdentityStore(StandIn);

impl FakeIdentityStore {
    fn start(extra: &[&str]) -> FakeIdentityStore {
        let users = root().join("tests/identitystore/users.json");
        let mut args = vec![std::ffi::OsStr::new("--users"), users.as_os_str()];
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        FakeIdentityStore(StandIn::start(
            "identitystore/fake_identitystore.py",
            tempfile::tempdir().unwrap(),
            &args,
        ))
    }

    fn endpoint(&self) -> String {
        self.0.endpoint()
    }

    /// The user ids asked, in order (throttled requests included).
    fn asked(&self) -> Vec<String> {
        self.0
            .requests()
            .iter()
            .map(|r| r["body"]["UserId"].as_str().unwrap().to_string())
            .collect()
    }

    fn identities(&self, dest: &Path) -> serde_json::Value {
        self.identities_at(dest, chrono::Utc::now().timestamp_millis())
    }

    /// `trail-etl identities` as if run at `now_ms`.
    fn identities_at(&self, dest: &Path, now_ms: i64) -> serde_json::Value {
        let out = Command::new(env!("CARGO_BIN_EXE_trail-etl"))
            .args([
                "identities",
                "--json",
                "--identity-store-region",
                "eu-west-1",
                "--dest",
            ])
            .arg(dest)
            .envs(crate::s3server::env())
            .env("AWS_ENDPOINT_URL_IDENTITYSTORE", self.endpoint())
            .env("TRAIL_NOW_MS", now_ms.to_string())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let summary: serde_json::Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"));
        assert_eq!(
            Some(summary["exit_code"].as_i64().unwrap() as i32),
            out.status.code(),
            "{summary}"
        );
        summary
    }
}

/// The bundled bucket plus one call on behalf of a user the store does not know.
fn bucket_with_a_deleted_user() -> tempfile::TempDir {
    let src = tempfile::tempdir().unwrap();
    copy_tree(&bucket(), src.path());
    let folder = src
        .path()
        .join("AWSLogs/o-exampleorg1/210987654321/CloudTrail/eu-west-1/2026/03/04");
    let record = format!(
        r#"{{"Records":[{{"eventVersion":"1.11","eventTime":"2026-03-04T11:00:00Z","eventSource":"athena.amazonaws.com","eventName":"GetQueryExecution","awsRegion":"eu-west-1","eventID":"tip-gone-0001","recipientAccountId":"210987654321","userIdentity":{{"type":"AssumedRole","arn":"arn:aws:sts::210987654321:assumed-role/datazone_usr_role_5nw2ey0ae6orpt/datazone-usr-session","onBehalfOf":{{"userId":"{GONE}","identityStoreArn":"arn:aws:identitystore::210987654321:identitystore/d-9067642ac7"}}}}}}]}}"#
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(record.as_bytes()).unwrap();
    std::fs::write(
        folder.join("210987654321_CloudTrail_eu-west-1_20260304T1100Z_DeletedUser06.json.gz"),
        gz.finish().unwrap(),
    )
    .unwrap();
    src
}

/// (user_id, store id, user name, display name, email) rows of the table.
fn people(dest: &Path) -> Vec<[Option<String>; 5]> {
    let mut out = Vec::new();
    for batch in table_rows(dest, "identities") {
        let col = |n: &str| batch.column_by_name(n).unwrap().as_string::<i32>().clone();
        let cols = [
            col("user_id"),
            col("identity_store_id"),
            col("user_name"),
            col("display_name"),
            col("email"),
        ];
        for i in 0..batch.num_rows() {
            out.push(
                cols.clone()
                    .map(|c| c.is_valid(i).then(|| c.value(i).to_string())),
            );
        }
    }
    out.sort();
    out
}

#[test]
fn ids_are_resolved_once_and_unknown_ones_recorded() {
    let src = bucket_with_a_deleted_user();
    let dest = tempfile::tempdir().unwrap();
    assert_eq!(run(src.path(), dest.path(), &[]).code, 0);
    // Throttled twice first: the SDK backs off and retries.
    let store = FakeIdentityStore::start(&["--throttle", "2"]);
    let s = store.identities(dest.path());
    assert_eq!(s["exit_code"], 0, "{s}");
    assert_eq!(s["ids_seen"], 2);
    assert_eq!(
        (s["found"].as_u64(), s["unknown"].as_u64()),
        (Some(1), Some(1)),
        "{s}"
    );
    assert_eq!(s["rows"], 2);
    let some = |s: &str| Some(s.to_string());
    assert_eq!(
        people(dest.path()),
        vec![
            [some(GONE), some("d-9067642ac7"), None, None, None],
            [
                some(ANA),
                some("d-9067642ac7"),
                some("ana.silva"),
                some("Ana Silva"),
                some("ana.silva@example.com")
            ],
        ],
        "the primary e-mail, and nothing else of what DescribeUser answers"
    );
    let columns: Vec<String> = table_rows(dest.path(), "identities")[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        columns,
        [
            "user_id",
            "identity_store_id",
            "user_name",
            "display_name",
            "email",
            "fetched_at"
        ]
    );
    let asked = store.asked().len();
    assert_eq!(asked, 4, "2 ids, 2 throttled attempts");

    // The next run asks nothing: the known id is fresh, the unknown one too.
    let again = store.identities(dest.path());
    assert_eq!(
        (again["asked"].as_u64(), again["already_known"].as_u64()),
        (Some(0), Some(2))
    );
    assert_eq!(store.asked().len(), asked);

    // A week later the unknown id is asked again, the known one is not (30 days).
    let week = chrono::Utc::now().timestamp_millis() + 8 * 86_400_000;
    let later = store.identities_at(dest.path(), week);
    assert_eq!(
        (later["asked"].as_u64(), later["unknown"].as_u64()),
        (Some(1), Some(1)),
        "{later}"
    );
    assert_eq!(store.asked().last().map(String::as_str), Some(GONE));
}
