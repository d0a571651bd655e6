//! A stable JSON description of a table's schema, for the checked-in
//! `schemas/<table>.json` files.

use arrow_schema::{DataType, Schema};

/// Describe `schema` as pretty JSON: `{"table", "partitioned_by", "columns": [{"name", "type"}]}`.
/// A column named `partition` is marked as the partition column.
///
/// ```
/// use arrow_schema::{DataType, Field, Schema};
/// let s = Schema::new(vec![Field::new("a", DataType::Utf8, true)]);
/// assert!(trail_parse::schema_doc::describe("t", &s, "event_date").contains(r#""type": "string""#));
/// ```
pub fn describe(table: &str, schema: &Schema, partition: &str) -> String {
    let columns: Vec<serde_json::Value> = schema
        .fields()
        .iter()
        .map(|f| {
            let mut v = serde_json::json!({ "name": f.name(), "type": type_name(f.data_type()) });
            if f.name() == partition {
                v["partition"] = true.into();
            }
            v
        })
        .collect();
    let doc =
        serde_json::json!({ "table": table, "partitioned_by": partition, "columns": columns });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

/// The name a type has in the schema files.
pub fn type_name(t: &DataType) -> String {
    match t {
        DataType::Utf8 => "string".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Int64 => "int64".into(),
        DataType::Float64 => "float64".into(),
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
        other => format!("{other:?}").to_lowercase(),
    }
}
