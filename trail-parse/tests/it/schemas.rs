//! `schemas/<table>.json` are generated from the code's Arrow schemas. This
//! test fails on any difference; `UPDATE_SCHEMAS=1` rewrites them.

use trail_parse::{schema_doc, Table, PARTITION_COLUMN};

use crate::util::root;

#[test]
fn schema_files_are_up_to_date() {
    let update = std::env::var_os("UPDATE_SCHEMAS").is_some();
    let mut stale = Vec::new();
    for table in Table::ALL {
        let text = schema_doc::describe(table.name(), &table.schema(), PARTITION_COLUMN);
        let path = root()
            .join("schemas")
            .join(format!("{}.json", table.name()));
        if update {
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "out of date (run UPDATE_SCHEMAS=1 cargo test -p trail-parse --test it schemas): {stale:?}"
    );
}
