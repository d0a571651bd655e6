//! `trail-etl ddl`: the `CREATE TABLE` statements for the tables at a
//! destination, generated from the same Arrow schemas the writer uses.
//!
//! Athena form: external Parquet tables with partition projection on
//! `event_date` (no crawler, no `MSCK REPAIR`). Trino form: Hive connector
//! tables with `external_location`, followed by a partition sync call.
//!
//! `event_date` is declared as a string holding `YYYY-MM-DD`, the pattern AWS
//! documents for `date` projection; compare it with string literals
//! (`event_date >= '2026-03-01'`) or `CAST(event_date AS date)`.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};
use trail_parse::{Table, PARTITION_COLUMN};

use crate::writer::file_schema;

/// SQL engine the DDL is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// Amazon Athena (engine v3), with partition projection.
    Athena,
    /// Trino's Hive connector.
    Trino,
}

/// Options of the generated DDL.
#[derive(Debug, Clone)]
pub struct DdlOptions {
    /// Where the tables live: `s3://bucket/prefix` (no trailing slash needed).
    pub location: String,
    /// Database (schema) name.
    pub database: String,
    /// Engine.
    pub engine: Engine,
    /// First day of the projected partition range (`YYYY-MM-DD`).
    pub projection_start: String,
    /// Trino catalog name (Trino only).
    pub catalog: String,
}

impl Default for DdlOptions {
    fn default() -> Self {
        DdlOptions {
            location: "s3://YOUR-BUCKET/YOUR-PREFIX".into(),
            database: "cloudtrail".into(),
            engine: Engine::Athena,
            // CloudTrail started in November 2013.
            projection_start: "2013-11-01".into(),
            catalog: "hive".into(),
        }
    }
}

/// The DDL of every table, separated by blank lines.
///
/// ```
/// use trail_etl::ddl::{all_tables, DdlOptions};
/// let sql = all_tables(&DdlOptions { location: "s3://lake/cloudtrail/".into(), ..DdlOptions::default() });
/// assert!(sql.contains("LOCATION 's3://lake/cloudtrail/events/'"));
/// assert!(sql.contains("'projection.event_date.type' = 'date'"));
/// ```
pub fn all_tables(opts: &DdlOptions) -> String {
    tables()
        .iter()
        .map(|(name, schema)| for_schema(name, schema, opts))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every table trail writes, with the schema of its files.
pub fn tables() -> Vec<(&'static str, SchemaRef)> {
    let mut out: Vec<(&'static str, SchemaRef)> = Table::ALL
        .iter()
        .map(|t| (t.name(), file_schema(*t)))
        .collect();
    out.push((crate::enrich::STATS_TABLE, crate::enrich::stats_schema()));
    out.push((
        crate::identities::IDENTITIES_TABLE,
        crate::identities::identities_schema(),
    ));
    out
}

/// Whether a table is partitioned by `event_date` (all but `identities`, one small file).
fn partitioned(name: &str) -> bool {
    name != crate::identities::IDENTITIES_TABLE
}

/// The DDL of one of the decoder's tables.
pub fn table(table: Table, opts: &DdlOptions) -> String {
    for_schema(table.name(), &file_schema(table), opts)
}

/// The DDL of a table named `name` whose files have `schema`.
pub fn for_schema(name: &str, schema: &Schema, opts: &DdlOptions) -> String {
    match opts.engine {
        Engine::Athena => athena(name, schema, opts),
        Engine::Trino => trino(name, schema, opts),
    }
}

fn base(opts: &DdlOptions) -> String {
    opts.location.trim_end_matches('/').to_string()
}

fn athena(name: &str, schema: &Schema, opts: &DdlOptions) -> String {
    let location = format!("{}/{name}/", base(opts));
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("  `{}` {}", f.name(), hive_type(f.data_type())))
        .collect();
    if !partitioned(name) {
        return format!(
            "CREATE EXTERNAL TABLE IF NOT EXISTS `{db}`.`{name}` (\n{cols}\n)\n\
             STORED AS PARQUET\n\
             LOCATION '{location}'\n\
             TBLPROPERTIES ('classification' = 'parquet');\n",
            db = opts.database,
            cols = columns.join(",\n"),
        );
    }
    format!(
        "CREATE EXTERNAL TABLE IF NOT EXISTS `{db}`.`{name}` (\n{cols}\n)\n\
         PARTITIONED BY (`{part}` string)\n\
         STORED AS PARQUET\n\
         LOCATION '{location}'\n\
         TBLPROPERTIES (\n\
         \x20 'classification' = 'parquet',\n\
         \x20 'projection.enabled' = 'true',\n\
         \x20 'projection.{part}.type' = 'date',\n\
         \x20 'projection.{part}.format' = 'yyyy-MM-dd',\n\
         \x20 'projection.{part}.range' = '{start},NOW',\n\
         \x20 'projection.{part}.interval' = '1',\n\
         \x20 'projection.{part}.interval.unit' = 'DAYS',\n\
         \x20 'storage.location.template' = '{location}{part}=${{{part}}}/'\n\
         );\n",
        db = opts.database,
        cols = columns.join(",\n"),
        part = PARTITION_COLUMN,
        start = opts.projection_start,
    )
}

fn trino(name: &str, schema: &Schema, opts: &DdlOptions) -> String {
    let location = format!("{}/{name}/", base(opts));
    let mut columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("  \"{}\" {}", f.name(), trino_type(f.data_type())))
        .collect();
    if !partitioned(name) {
        return format!(
            "CREATE TABLE IF NOT EXISTS \"{cat}\".\"{db}\".\"{name}\" (\n{cols}\n)\n\
             WITH (\n\
             \x20 format = 'PARQUET',\n\
             \x20 external_location = '{location}'\n\
             );\n",
            cat = opts.catalog,
            db = opts.database,
            cols = columns.join(",\n"),
        );
    }
    columns.push(format!("  \"{PARTITION_COLUMN}\" varchar"));
    format!(
        "CREATE TABLE IF NOT EXISTS \"{cat}\".\"{db}\".\"{name}\" (\n{cols}\n)\n\
         WITH (\n\
         \x20 format = 'PARQUET',\n\
         \x20 partitioned_by = ARRAY['{PARTITION_COLUMN}'],\n\
         \x20 external_location = '{location}'\n\
         );\n\
         CALL \"{cat}\".system.sync_partition_metadata('{db}', '{name}', 'FULL');\n",
        cat = opts.catalog,
        db = opts.database,
        cols = columns.join(",\n"),
    )
}

/// Hive DDL type (Athena).
fn hive_type(t: &DataType) -> String {
    match t {
        DataType::Utf8 => "string".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Int64 => "bigint".into(),
        DataType::Float64 => "double".into(),
        DataType::Date32 => "date".into(),
        DataType::Timestamp(_, _) => "timestamp".into(),
        DataType::List(item) => format!("array<{}>", hive_type(item.data_type())),
        DataType::Struct(fields) => format!(
            "struct<{}>",
            fields
                .iter()
                .map(|f| format!("{}:{}", f.name(), hive_type(f.data_type())))
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => unreachable_type(other),
    }
}

/// Trino type.
fn trino_type(t: &DataType) -> String {
    match t {
        DataType::Utf8 => "varchar".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Int64 => "bigint".into(),
        DataType::Float64 => "double".into(),
        DataType::Date32 => "date".into(),
        DataType::Timestamp(_, _) => "timestamp(3)".into(),
        DataType::List(item) => format!("array({})", trino_type(item.data_type())),
        DataType::Struct(fields) => format!(
            "row({})",
            fields
                .iter()
                .map(|f: &Arc<Field>| format!("\"{}\" {}", f.name(), trino_type(f.data_type())))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => unreachable_type(other),
    }
}

fn unreachable_type(t: &DataType) -> String {
    // The tables use only the types above; a new one must be mapped here.
    format!("/* unmapped {t:?} */ string")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn athena_and_trino_forms() {
        let opts = DdlOptions {
            location: "s3://lake/ct".into(),
            database: "audit".into(),
            ..DdlOptions::default()
        };
        let a = table(Table::Events, &opts);
        assert!(a.starts_with(
            "CREATE EXTERNAL TABLE IF NOT EXISTS `audit`.`events` (\n  `event_time` timestamp,"
        ));
        assert!(a.contains(
            "`resources` array<struct<arn:string,arn_prefix:string,account_id:string,type:string>>"
        ));
        assert!(a.contains("PARTITIONED BY (`event_date` string)"));
        assert!(a.contains(
            "'storage.location.template' = 's3://lake/ct/events/event_date=${event_date}/'"
        ));
        assert!(!a.contains("unmapped"));
        let t = table(
            Table::TableAccess,
            &DdlOptions {
                engine: Engine::Trino,
                ..opts
            },
        );
        assert!(t.contains("\"event_time\" timestamp(3)"));
        assert!(t.contains("partitioned_by = ARRAY['event_date']"));
        assert!(t.contains("external_location = 's3://lake/ct/table_access/'"));
        assert!(t
            .trim_end()
            .ends_with("sync_partition_metadata('audit', 'table_access', 'FULL');"));
    }
}
