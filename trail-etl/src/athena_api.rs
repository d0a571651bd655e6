//! Statements through the Athena API: `StartQueryExecution`, then
//! `GetQueryExecution` until the statement ends, and `GetQueryResults` page
//! by page.

use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::store::S3Options;

/// Statements through the Athena API.
pub(crate) struct Athena {
    client: aws_sdk_athena::Client,
    workgroup: Option<String>,
    output_location: Option<String>,
}

impl Athena {
    /// A client reached like every AWS call (profile, region,
    /// `AWS_ENDPOINT_URL_ATHENA` or `endpoint`), running statements in
    /// `workgroup` with results under `output_location` (else the workgroup's).
    pub(crate) async fn new(
        s3: &S3Options,
        endpoint: Option<&str>,
        workgroup: Option<String>,
        output_location: Option<String>,
    ) -> Athena {
        Athena {
            client: crate::enrich::athena_client(s3, endpoint, None).await,
            workgroup,
            output_location,
        }
    }

    /// Run one statement to its end; its id. `source` names it in errors.
    pub(crate) async fn run(
        &self,
        sql: &str,
        database: Option<&str>,
        source: &str,
    ) -> Result<String> {
        use aws_sdk_athena::types::{
            QueryExecutionContext, QueryExecutionState, ResultConfiguration,
        };
        let started = self
            .client
            .start_query_execution()
            .query_string(sql)
            .set_query_execution_context(
                database.map(|d| QueryExecutionContext::builder().database(d).build()),
            )
            .set_work_group(self.workgroup.clone())
            .set_result_configuration(
                self.output_location
                    .as_ref()
                    .map(|o| ResultConfiguration::builder().output_location(o).build()),
            )
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(aws_sdk_athena::error::DisplayErrorContext(e).to_string()))
            .with_context(|| format!("{source}: starting the statement in Athena"))?;
        let id = started.query_execution_id().unwrap_or_default().to_string();
        let mut wait = Duration::from_millis(100);
        loop {
            let got = self
                .client
                .get_query_execution()
                .query_execution_id(&id)
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(aws_sdk_athena::error::DisplayErrorContext(e).to_string())
                })
                .with_context(|| format!("{source}: asking Athena about query {id}"))?;
            let status = got.query_execution().and_then(|q| q.status());
            match status.and_then(|s| s.state()) {
                Some(QueryExecutionState::Succeeded) => return Ok(id),
                Some(QueryExecutionState::Failed) | Some(QueryExecutionState::Cancelled) => {
                    let reason = status
                        .and_then(|s| s.state_change_reason())
                        .unwrap_or("no reason given");
                    bail!("{source}: Athena: {reason} (query {id})");
                }
                _ => {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    /// Run a query and return its rows (the header row left out).
    pub(crate) async fn rows(
        &self,
        sql: &str,
        database: Option<&str>,
        source: &str,
    ) -> Result<Vec<Vec<Option<String>>>> {
        Ok(self.rows_with_columns(sql, database, source).await?.1)
    }

    /// Run a query: its column names and its rows (the header row left out).
    pub(crate) async fn rows_with_columns(
        &self,
        sql: &str,
        database: Option<&str>,
        source: &str,
    ) -> Result<(Vec<String>, Vec<Vec<Option<String>>>)> {
        let id = self.run(sql, database, source).await?;
        let mut columns = Vec::new();
        let mut out = Vec::new();
        let mut token = None;
        let mut first = true;
        loop {
            let page = self
                .client
                .get_query_results()
                .query_execution_id(&id)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(aws_sdk_athena::error::DisplayErrorContext(e).to_string())
                })
                .with_context(|| format!("{source}: reading the results of query {id}"))?;
            if let Some(set) = page.result_set() {
                if first {
                    columns = set
                        .result_set_metadata()
                        .map(|m| {
                            m.column_info()
                                .iter()
                                .map(|c| c.name().to_string())
                                .collect()
                        })
                        .unwrap_or_default();
                }
                for (i, row) in set.rows().iter().enumerate() {
                    if first && i == 0 {
                        continue; // the header row
                    }
                    out.push(
                        row.data()
                            .iter()
                            .map(|d| d.var_char_value().map(str::to_string))
                            .collect(),
                    );
                }
            }
            first = false;
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok((columns, out));
            }
        }
    }
}
