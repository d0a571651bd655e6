//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use trail_parse::{Batches, DecoderBuilder, ObjectSummary, Table};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every file under `dir`, as (key relative to `dir` with `/`, path), sorted.
pub fn walk(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let key = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((key, path));
            }
        }
    }
    out.sort();
    out
}

/// Decode one file with default settings, from a reader and from memory
/// (which must agree).
pub fn decode_file(key: &str, path: &Path) -> (Batches, ObjectSummary) {
    let file = std::fs::File::open(path).unwrap();
    let (batches, summary) = DecoderBuilder::new()
        .build()
        .decode_all(key, file)
        .unwrap_or_else(|e| panic!("{e}"));
    let bytes = std::fs::read(path).unwrap();
    let (sliced, same) = DecoderBuilder::new()
        .build()
        .decode_all_slice(key, &bytes)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(same, summary, "{key}: decode_all_slice disagrees");
    for table in trail_parse::Table::ALL {
        assert_eq!(sliced.get(table), batches.get(table), "{key}: {table:?}");
    }
    (batches, summary)
}

/// All batches of a table in one.
pub fn concat(table: Table, batches: &[RecordBatch]) -> RecordBatch {
    arrow_select::concat::concat_batches(&table.schema(), batches).unwrap()
}

/// A text column as `Option<String>` values.
pub fn texts(batch: &RecordBatch, column: &str) -> Vec<Option<String>> {
    let col = batch
        .column_by_name(column)
        .unwrap_or_else(|| panic!("no column {column}"))
        .as_string::<i32>();
    (0..col.len())
        .map(|i| col.is_valid(i).then(|| col.value(i).to_string()))
        .collect()
}

/// One text value.
pub fn text(batch: &RecordBatch, column: &str, row: usize) -> Option<String> {
    texts(batch, column).swap_remove(row)
}

/// `event_date` values as `YYYY-MM-DD`.
pub fn dates(batch: &RecordBatch) -> Vec<Option<String>> {
    let col = batch
        .column_by_name("event_date")
        .unwrap()
        .as_primitive::<arrow_array::types::Date32Type>();
    (0..col.len())
        .map(|i| {
            col.is_valid(i).then(|| {
                let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
                (epoch + chrono::Days::new(col.value(i) as u64)).to_string()
            })
        })
        .collect()
}
