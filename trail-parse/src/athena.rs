//! The `athena_queries` table: one row per Athena `StartQueryExecution`.
//!
//! CloudTrail writes `queryString` as `***OMITTED***`, so the SQL text is not
//! here; `query_execution_id` joins with Athena's own history. The workgroup is
//! `requestParameters.workGroup`, `primary` when absent (Athena's default).
//! `catalog` and `database_name` come from `queryExecutionContext` and stay
//! null when the caller did not set them.

use std::borrow::Cow;

use crate::columns::{table, Date, Int, Text, TimestampMs};
use crate::events::EventRow;
use crate::json::{lookup, lookup_text, members};

table! {
    /// One `athena_queries` row.
    row QueryRow;
    /// Column builders of the `athena_queries` table.
    builder AthenaQueriesBuilder;
    columns {
        event_time: TimestampMs,
        event_id: Text,
        query_execution_id: Text,
        workgroup: Text,
        catalog: Text,
        database_name: Text,
        output_location: Text,
        client_request_token: Text,
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
        error_code: Text,
        error_message: Text,
        recipient_account_id: Text,
        aws_region: Text,
        source_key: Text,
        record_index: Int,
        event_date: Date,
    }
}

/// Append the `athena_queries` row of one event, if it is a `StartQueryExecution`.
pub(crate) fn derive(ev: &EventRow<'_>, out: &mut AthenaQueriesBuilder) -> u64 {
    if ev.event_source.as_deref() != Some("athena.amazonaws.com")
        || ev.event_name.as_deref() != Some("StartQueryExecution")
    {
        return 0;
    }
    let params = members(ev.request_parameters.as_deref());
    let response = members(ev.response_elements.as_deref());
    let context = members(lookup(&params, &["queryExecutionContext"]).map(|v| v.get()));
    let result = members(lookup(&params, &["resultConfiguration"]).map(|v| v.get()));
    let row = QueryRow {
        event_time: ev.event_time,
        event_id: ev.event_id.clone(),
        query_execution_id: lookup_text(&response, &["queryExecutionId"]),
        workgroup: lookup_text(&params, &["workGroup"]).or(Some(Cow::Borrowed("primary"))),
        catalog: lookup_text(&context, &["catalog"]),
        database_name: lookup_text(&context, &["database"]),
        output_location: lookup_text(&result, &["outputLocation"]),
        client_request_token: lookup_text(&params, &["clientRequestToken"]),
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
        error_code: ev.error_code.clone(),
        error_message: ev.error_message.clone(),
        recipient_account_id: ev.recipient_account_id.clone(),
        aws_region: ev.aws_region.clone(),
        source_key: ev.source_key.clone(),
        record_index: ev.record_index,
        event_date: ev.event_date,
        ..QueryRow::default()
    };
    out.append(&row);
    1
}
