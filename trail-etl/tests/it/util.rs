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

/// Run `trail-etl run --json` with extra arguments.
pub fn run(source: &Path, dest: &Path, extra: &[&str]) -> Outcome {
    let out = Command::new(env!("CARGO_BIN_EXE_trail-etl"))
        .arg("run")
        .arg("--source")
        .arg(source)
        .arg("--dest")
        .arg(dest)
        .arg("--json")
        .args(extra)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
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
