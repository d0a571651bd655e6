//! The `table_access` table: one row per Glue table (or database) touched by a
//! catalog call, and per Lake Formation `GetDataAccess`.
//!
//! | event | database | table | `access_level` |
//! |---|---|---|---|
//! | Glue `GetTable`, `DeleteTable`, `GetUnfilteredTableMetadata` | `databaseName` | `name` | table |
//! | Glue `BatchGetTable`, `BatchDeleteTable` | `databaseName` | each of `tablesToGet` / `tablesToDelete` (strings, or objects with `name`/`tableName`) | table |
//! | Glue `GetPartition(s)`, `BatchGetPartition`, partition writes, table versions, column statistics | `databaseName` | `tableName` | table |
//! | Glue `CreateTable`, `UpdateTable` | `databaseName` | `tableInput.name` | table |
//! | Glue `GetTables` | `databaseName` | null | database |
//! | Glue `GetDatabase`, `UpdateDatabase`, `DeleteDatabase` | `name` | null | database |
//! | Glue `CreateDatabase` | `databaseInput.name` | null | database |
//! | Glue `GetDatabases`, `SearchTables` | null | null | catalog |
//! | Lake Formation `GetDataAccess` | from `tableArn` `arn:aws:glue:R:ACCT:table/DB/TABLE` | from `tableArn` | table |
//!
//! `catalog_id` is `requestParameters.catalogId`, else the account in `tableArn`,
//! else `recipientAccountId` (the account's default catalog). Keys are matched
//! ignoring case. Missing, null or truncated parameters leave columns null; a
//! `BatchGetTable` whose list cannot be read still gives one database-level row,
//! so the call is never lost.

use std::borrow::Cow;

use crate::columns::{table, Bool, Date, Int, Text, TimestampMs};
use crate::events::EventRow;
use crate::json::{
    as_json, as_text, for_each_element, lookup, lookup_text, members, scalar, Raw, Scalar,
};

table! {
    /// One `table_access` row.
    row AccessRow;
    /// Column builders of the `table_access` table.
    builder TableAccessBuilder;
    columns {
        event_time: TimestampMs,
        event_id: Text,
        event_source: Text,
        event_name: Text,
        actor: Text,
        principal_arn: Text,
        role_name: Text,
        on_behalf_of_user_id: Text,
        on_behalf_of_identity_store_arn: Text,
        on_behalf_of_subject: Text,
        on_behalf_of_subject_type: Text,
        on_behalf_of_issuer: Text,
        invoked_by: Text,
        source_ip_address: Text,
        user_agent: Text,
        catalog_id: Text,
        database_name: Text,
        table_name: Text,
        access_level: Text,
        athena_query_id: Text,
        requester_service: Text,
        permissions: Text,
        error_code: Text,
        read_only: Bool,
        recipient_account_id: Text,
        aws_region: Text,
        source_key: Text,
        record_index: Int,
        event_date: Date,
    }
}

/// How an event names what it touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `databaseName` + `name`.
    TableByName,
    /// `databaseName` + `tableName`.
    TableByTableName,
    /// `databaseName` + `tableInput.name`.
    TableInput,
    /// `databaseName` + every entry of the named list.
    TableList(&'static str),
    /// `databaseName` only.
    Database,
    /// `name` is the database.
    DatabaseByName,
    /// `databaseInput.name` is the database.
    DatabaseInput,
    /// The whole catalog.
    Catalog,
    /// Lake Formation `tableArn`.
    LakeFormation,
}

fn shape(source: &str, name: &str) -> Option<Shape> {
    match source {
        "glue.amazonaws.com" => Some(match name {
            "GetTable" | "DeleteTable" | "GetUnfilteredTableMetadata" => Shape::TableByName,
            "GetTables" => Shape::Database,
            "BatchGetTable" => Shape::TableList("tablesToGet"),
            "BatchDeleteTable" => Shape::TableList("tablesToDelete"),
            "GetPartition"
            | "GetPartitions"
            | "BatchGetPartition"
            | "CreatePartition"
            | "BatchCreatePartition"
            | "UpdatePartition"
            | "BatchUpdatePartition"
            | "DeletePartition"
            | "BatchDeletePartition"
            | "GetUnfilteredPartitionMetadata"
            | "GetUnfilteredPartitionsMetadata"
            | "GetTableVersion"
            | "GetTableVersions"
            | "DeleteTableVersion"
            | "BatchDeleteTableVersion"
            | "GetColumnStatisticsForTable"
            | "UpdateColumnStatisticsForTable"
            | "DeleteColumnStatisticsForTable"
            | "GetColumnStatisticsForPartition"
            | "GetPartitionIndexes" => Shape::TableByTableName,
            "CreateTable" | "UpdateTable" => Shape::TableInput,
            "GetDatabase" | "UpdateDatabase" | "DeleteDatabase" => Shape::DatabaseByName,
            "CreateDatabase" => Shape::DatabaseInput,
            "GetDatabases" | "SearchTables" => Shape::Catalog,
            _ => return None,
        }),
        "lakeformation.amazonaws.com" if name == "GetDataAccess" => Some(Shape::LakeFormation),
        _ => None,
    }
}

/// Append the `table_access` rows of one event; returns how many.
pub(crate) fn derive(ev: &EventRow<'_>, out: &mut TableAccessBuilder) -> u64 {
    let (Some(source), Some(name)) = (ev.event_source.as_deref(), ev.event_name.as_deref()) else {
        return 0;
    };
    let Some(shape) = shape(source, name) else {
        return 0;
    };
    let params = members(ev.request_parameters.as_deref());
    let mut row = AccessRow {
        event_time: ev.event_time,
        event_id: ev.event_id.clone(),
        event_source: ev.event_source.clone(),
        event_name: ev.event_name.clone(),
        actor: ev.actor.clone(),
        principal_arn: ev.user_identity_arn.clone(),
        role_name: ev.role_name.clone(),
        on_behalf_of_user_id: ev.on_behalf_of_user_id.clone(),
        on_behalf_of_identity_store_arn: ev.on_behalf_of_identity_store_arn.clone(),
        on_behalf_of_subject: ev.on_behalf_of_subject.clone(),
        on_behalf_of_subject_type: ev.on_behalf_of_subject_type.clone(),
        on_behalf_of_issuer: ev.on_behalf_of_issuer.clone(),
        invoked_by: ev.user_identity_invoked_by.clone(),
        source_ip_address: ev.source_ip_address.clone(),
        user_agent: ev.user_agent.clone(),
        catalog_id: lookup_text(&params, &["catalogId"]),
        error_code: ev.error_code.clone(),
        read_only: ev.read_only,
        recipient_account_id: ev.recipient_account_id.clone(),
        aws_region: ev.aws_region.clone(),
        source_key: ev.source_key.clone(),
        record_index: ev.record_index,
        event_date: ev.event_date,
        ..AccessRow::default()
    };
    let database = || lookup_text(&params, &["databaseName"]);
    let level = |l: &'static str| Some(Cow::Borrowed(l));
    let mut rows = 0;
    match shape {
        Shape::TableByName | Shape::TableByTableName | Shape::TableInput => {
            row.database_name = database();
            row.table_name = match shape {
                Shape::TableByName => lookup_text(&params, &["name", "tableName"]),
                Shape::TableByTableName => lookup_text(&params, &["tableName", "name"]),
                _ => {
                    let input = members(lookup(&params, &["tableInput"]).map(|v| v.get()));
                    lookup_text(&input, &["name"])
                }
            };
            row.access_level = level("table");
        }
        Shape::TableList(list) => {
            row.database_name = database();
            let names = table_list(lookup(&params, &[list]));
            if !names.is_empty() {
                row.access_level = level("table");
                for table in names {
                    row.table_name = Some(table);
                    out.append(&row);
                    rows += 1;
                }
                return rows;
            }
            row.access_level = level("database");
        }
        Shape::Database => {
            row.database_name = database();
            row.access_level = level("database");
        }
        Shape::DatabaseByName => {
            row.database_name = lookup_text(&params, &["name", "databaseName"]);
            row.access_level = level("database");
        }
        Shape::DatabaseInput => {
            let input = members(lookup(&params, &["databaseInput"]).map(|v| v.get()));
            row.database_name = lookup_text(&input, &["name"]);
            row.access_level = level("database");
        }
        Shape::Catalog => row.access_level = level("catalog"),
        Shape::LakeFormation => {
            if let Some(arn) = lookup_text(&params, &["tableArn"]) {
                if let Some((account, db, table)) = split_table_arn(&arn) {
                    row.catalog_id = row.catalog_id.or(Some(Cow::Owned(account.to_string())));
                    row.database_name = Some(Cow::Owned(db.to_string()));
                    row.table_name = table.map(|t| Cow::Owned(t.to_string()));
                }
            }
            row.access_level = level(if row.table_name.is_some() {
                "table"
            } else {
                "database"
            });
            row.permissions = lookup(&params, &["permissions"])
                .and_then(as_json)
                .map(Cow::Borrowed);
            let audit = members(lookup(&params, &["auditContext"]).map(|v| v.get()));
            row.athena_query_id = lookup_text(&audit, &["additionalAuditContext"])
                .and_then(|ctx| audit_query_id(&ctx).map(|id| Cow::Owned(id.to_string())));
            let extra = members(ev.additional_event_data.as_deref());
            row.requester_service = lookup_text(&extra, &["requesterService"]);
        }
    }
    if row.catalog_id.is_none() {
        row.catalog_id = ev.recipient_account_id.clone();
    }
    out.append(&row);
    rows + 1
}

/// Table names in a `tablesToGet`-style list: strings, or objects with a
/// `name`/`tableName` key. Anything else is ignored.
fn table_list(list: Option<Raw<'_>>) -> Vec<Cow<'_, str>> {
    let Some(list) = list.filter(|l| l.get().starts_with('[')) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    let walked = for_each_element(list.get(), |item| {
        names.extend(match scalar(item) {
            Scalar::Str(s) => Some(s),
            Scalar::Nested(text) => lookup_text(&members(Some(text)), &["name", "tableName"]),
            _ => as_text(item).ok().flatten(),
        })
    });
    if walked.is_err() {
        return Vec::new();
    }
    names
}

/// `arn:PARTITION:glue:REGION:ACCOUNT:table/DB/TABLE` → `(ACCOUNT, DB, Some(TABLE))`;
/// `...:database/DB` → `(ACCOUNT, DB, None)`.
pub fn split_table_arn(arn: &str) -> Option<(&str, &str, Option<&str>)> {
    let mut parts = arn.splitn(6, ':');
    let (_, _, service, _, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if service != "glue" {
        return None;
    }
    if let Some(rest) = resource.strip_prefix("table/") {
        let (db, table) = rest.split_once('/')?;
        return Some((account, db, Some(table)));
    }
    let db = resource.strip_prefix("database/")?;
    Some((account, db, None))
}

/// The query id in a Lake Formation `additionalAuditContext`. Athena writes
/// `{queryId: ID}` (not JSON); other engines write JSON with `"queryId":"ID"`.
/// `NULL` and empty ids are no id.
///
/// ```
/// use trail_parse::table_access::audit_query_id;
/// assert_eq!(audit_query_id("{queryId: 3333-44}"), Some("3333-44"));
/// assert_eq!(audit_query_id(r#"{"transactionId":"1","queryId":"NULL"}"#), None);
/// ```
pub fn audit_query_id(context: &str) -> Option<&str> {
    let at = context.find("queryId")?;
    let rest = context[at + "queryId".len()..].trim_start_matches(['"', ' ', ':', '\t']);
    let end = rest
        .find(|c: char| c == '"' || c == ',' || c == '}' || c.is_whitespace())
        .unwrap_or(rest.len());
    let id = &rest[..end];
    (!id.is_empty() && !id.eq_ignore_ascii_case("null")).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns() {
        assert_eq!(
            split_table_arn("arn:aws:glue:us-east-2:111122223333:table/flights/flights_local"),
            Some(("111122223333", "flights", Some("flights_local")))
        );
        assert_eq!(
            split_table_arn("arn:aws:glue:us-east-2:111122223333:database/sales"),
            Some(("111122223333", "sales", None))
        );
        assert_eq!(split_table_arn("arn:aws:s3:::bucket"), None);
        assert_eq!(split_table_arn("garbage"), None);
    }

    #[test]
    fn audit_contexts() {
        assert_eq!(
            audit_query_id("{queryId: 33333333-4444-5555-6666-777777777777}"),
            Some("33333333-4444-5555-6666-777777777777")
        );
        assert_eq!(audit_query_id(r#"{"queryId":"abc","x":1}"#), Some("abc"));
        assert_eq!(audit_query_id(r#"{"platformType":"EMR_SERVERLESS"}"#), None);
        assert_eq!(audit_query_id("{queryId: }"), None);
    }

    #[test]
    fn table_lists_accept_strings_and_objects() {
        let raw =
            Raw::parse(r#"["a", {"name":"b"}, {"TableName":"c"}, 7, null, {"x":1}]"#).unwrap();
        let names: Vec<String> = table_list(Some(raw))
            .into_iter()
            .map(|c| c.into_owned())
            .collect();
        assert_eq!(names, vec!["a", "b", "c", "7"]);
        let truncated = Raw::parse(r#""[\"a\", \"b""#).unwrap();
        assert!(table_list(Some(truncated)).is_empty());
    }
}
