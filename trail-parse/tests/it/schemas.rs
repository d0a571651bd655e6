//! `schemas/<table>.json` are generated from the code's Arrow schemas. This
//! test fails on any difference; `UPDATE_SCHEMAS=1` rewrites them.

use arrow_schema::{DataType, Field};
use trail_parse::Table;

use crate::util::root;

fn describe(field: &Field) -> serde_json::Value {
    let mut v = serde_json::json!({ "name": field.name(), "type": type_name(field.data_type()) });
    if field.name() == trail_parse::PARTITION_COLUMN {
        v["partition"] = true.into();
    }
    v
}

fn type_name(t: &DataType) -> String {
    match t {
        DataType::Utf8 => "string".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Int64 => "int64".into(),
        DataType::Date32 => "date".into(),
        DataType::Timestamp(unit, tz) => {
            format!("timestamp({unit:?}, {})", tz.as_deref().unwrap_or("none")).to_lowercase()
        }
        DataType::List(item) => format!("list<{}>", type_name(item.data_type())),
        DataType::Struct(fields) => format!(
            "struct<{}>",
            fields
                .iter()
                .map(|f| format!("{}: {}", f.name(), type_name(f.data_type())))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => panic!("no schema name for {other:?}"),
    }
}

#[test]
fn schema_files_are_up_to_date() {
    let update = std::env::var_os("UPDATE_SCHEMAS").is_some();
    let mut stale = Vec::new();
    for table in Table::ALL {
        let schema = table.schema();
        let doc = serde_json::json!({
            "table": table.name(),
            "partitioned_by": trail_parse::PARTITION_COLUMN,
            "columns": schema.fields().iter().map(|f| describe(f)).collect::<Vec<_>>(),
        });
        let text = serde_json::to_string_pretty(&doc).unwrap() + "\n";
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
