//! Run the binary and read what it wrote.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The example bucket.
pub fn bucket() -> PathBuf {
    root().join("examples/bucket")
}

/// Outcome of one run.
pub struct Outcome {
    pub code: i32,
    pub summary: serde_json::Value,
    pub stderr: String,
}

/// Run `trail-etl run --json` on local folders with extra arguments.
pub fn run(source: &Path, dest: &Path, extra: &[&str]) -> Outcome {
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    run_at(
        &source.to_string_lossy(),
        &dest.to_string_lossy(),
        &extra,
        &[],
    )
}

/// The `trail-etl run` command for any locations, extra arguments and environment.
pub fn command(source: &str, dest: &str, extra: &[String], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trail-etl"));
    cmd.args(["run", "--source", source, "--dest", dest, "--json"])
        .args(extra)
        .env_remove("RUST_LOG")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_S3");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Run `trail-etl run --json` on any locations.
pub fn run_at(source: &str, dest: &str, extra: &[String], env: &[(&str, &str)]) -> Outcome {
    let out = command(source, dest, extra, env).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let summary = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("summary is not JSON ({e}): {stdout}\nstderr: {stderr}"));
    Outcome {
        code: out.status.code().unwrap_or(-1),
        summary,
        stderr,
    }
}

/// Every file under `dir`, relative, sorted.
pub fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(
                    p.strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }
    out.sort();
    out
}

/// Read every Parquet file of a table: rows keyed by (source_key, record_index, n) → event_id,
/// so duplicates and losses both show.
pub fn table_rows(dest: &Path, table: &str) -> Vec<RecordBatch> {
    files(&dest.join(table))
        .into_iter()
        .map(|f| {
            let file = std::fs::File::open(dest.join(table).join(&f)).unwrap();
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .unwrap()
                .build()
                .unwrap();
            let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
            arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap()
        })
        .collect()
}

/// (source_key, record_index) → count, over a table.
pub fn row_ids(dest: &Path, table: &str) -> BTreeMap<(String, i64), usize> {
    let mut ids = BTreeMap::new();
    for b in table_rows(dest, table) {
        let keys = b.column_by_name("source_key").unwrap().as_string::<i32>();
        let idx = b
            .column_by_name("record_index")
            .unwrap()
            .as_primitive::<arrow_array::types::Int64Type>();
        for i in 0..b.num_rows() {
            *ids.entry((keys.value(i).to_string(), idx.value(i)))
                .or_insert(0) += 1;
            assert!(keys.is_valid(i));
        }
    }
    ids
}

/// Copy a folder tree.
pub fn copy_tree(from: &Path, to: &Path) {
    for f in files(from) {
        let target = to.join(&f);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(from.join(&f), target).unwrap();
    }
}

/// Every row of a table, in a canonical order (source_key, record_index, then
/// the table name for table_access), for comparing two runs.
pub fn canonical(dest: &Path, table: &str) -> RecordBatch {
    let batches = table_rows(dest, table);
    let schema = batches[0].schema();
    let all = arrow_select::concat::concat_batches(&schema, &batches).unwrap();
    let mut keys = vec![
        arrow_ord::sort::SortColumn {
            values: all.column_by_name("source_key").unwrap().clone(),
            options: None,
        },
        arrow_ord::sort::SortColumn {
            values: all.column_by_name("record_index").unwrap().clone(),
            options: None,
        },
    ];
    if let Some(t) = all.column_by_name("table_name") {
        keys.push(arrow_ord::sort::SortColumn {
            values: t.clone(),
            options: None,
        });
    }
    let idx = arrow_ord::sort::lexsort_to_indices(&keys, None).unwrap();
    arrow_select::take::take_record_batch(&all, &idx).unwrap()
}

/// A loopback stand-in for an AWS API: a Python script under `tests/`,
/// started on a free port with `--port P --log DIR/requests.jsonl` and the
/// given arguments, waited for until it listens, killed when dropped.
pub struct StandIn {
    child: std::process::Child,
    /// The port it listens on.
    pub port: u16,
    log: PathBuf,
    /// Its input files and its log, removed with it.
    _dir: tempfile::TempDir,
}

impl StandIn {
    /// Start `tests/<script>` with `args`; files it needs can be written in
    /// `dir` first.
    pub fn start(script: &str, dir: tempfile::TempDir, args: &[&std::ffi::OsStr]) -> StandIn {
        use std::net::{TcpListener, TcpStream};
        use std::time::{Duration, Instant};
        let log = dir.path().join("requests.jsonl");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .arg(root().join("tests").join(script))
            .args(["--port", &port.to_string()])
            .arg("--log")
            .arg(&log)
            .args(args)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("python3 runs tests/{script}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tests/{script} did not start");
            std::thread::sleep(Duration::from_millis(25));
        }
        StandIn {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The requests it logged, in order.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
