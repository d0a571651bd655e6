//! `trail-etl athena install`: the database, the tables and every view in
//! Athena, in one command, through the Athena API.
//!
//! Statements run one at a time (`StartQueryExecution`, then
//! `GetQueryExecution` until it ends): `CREATE DATABASE IF NOT EXISTS`, each
//! table of `trail-etl ddl` (created when missing, dropped and created again
//! when its columns changed, left alone otherwise: its data is in S3, only
//! the catalog entry changes), then every view of `sql/views` (embedded in
//! the binary) in dependency order, worked out from the views' SQL. Running
//! it twice changes nothing. A failing statement stops the install with
//! Athena's error and the file it came from.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use anyhow::{bail, Result};
use serde::Serialize;

use crate::athena_api::Athena;
use crate::ddl::{for_schema, tables, DdlOptions, Engine};
use crate::store::S3Options;

include!(concat!(env!("OUT_DIR"), "/views.rs"));

/// What `athena install` needs.
#[derive(Debug, Clone, Default)]
pub struct InstallArgs {
    /// Where the tables are: `s3://bucket/prefix` (as given to `run --dest`).
    pub dest: String,
    /// The Athena database (Glue database).
    pub database: String,
    /// The workgroup to run the statements in (else the caller's default).
    pub workgroup: Option<String>,
    /// Where Athena writes statement results (else the workgroup's setting).
    pub output_location: Option<String>,
    /// Print the statements, call nothing.
    pub dry_run: bool,
    /// Profile and region.
    pub s3: S3Options,
    /// Another Athena endpoint (else `AWS_ENDPOINT_URL_ATHENA`, else AWS's).
    pub athena_endpoint_url: Option<String>,
}

/// What a statement installs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum Target {
    /// The database.
    Database(String),
    /// A table of `trail-etl ddl`.
    Table(String),
    /// A view of `sql/views`.
    View(String),
}

/// One statement of the install, with where it comes from.
#[derive(Debug, Clone, Serialize)]
pub struct Statement {
    /// What it installs.
    pub target: Target,
    /// The file it comes from (`sql/views/NAME.sql`, or `trail-etl ddl`).
    pub source: String,
    /// The SQL.
    pub sql: String,
}

/// What `athena install` did.
#[derive(Debug, Default, Serialize)]
pub struct InstallSummary {
    /// The database.
    pub database: String,
    /// Tables created (they did not exist).
    pub tables_created: Vec<String>,
    /// Tables dropped and created again (their columns changed).
    pub tables_replaced: Vec<String>,
    /// Tables left as they were.
    pub tables_unchanged: Vec<String>,
    /// Views created or replaced, in the order they ran.
    pub views: Vec<String>,
    /// Statements sent to Athena.
    pub statements: u64,
    /// Why it stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// 0 installed, 1 failed.
    pub exit_code: i32,
    /// Wall time.
    pub duration_ms: u64,
}

impl InstallSummary {
    /// One line for people.
    pub fn human(&self) -> String {
        format!(
            "trail: athena install: database {}: {} tables created, {} replaced, {} unchanged; {} views; {} statements\n",
            self.database,
            self.tables_created.len(),
            self.tables_replaced.len(),
            self.tables_unchanged.len(),
            self.views.len(),
            self.statements
        )
    }
}

/// The views of `VIEWS` in an order where every view comes after the views
/// it reads: the names of other views found in its SQL (outside comments and
/// string literals) are its dependencies; among views ready at once, by name.
///
/// ```
/// let views = [("b", "CREATE OR REPLACE VIEW b AS SELECT * FROM a"), ("a", "CREATE OR REPLACE VIEW a AS SELECT 1 AS x")];
/// assert_eq!(trail_etl::athena_install::view_order(&views).unwrap(), vec!["a", "b"]);
/// ```
pub fn view_order<'a>(views: &[(&'a str, &str)]) -> Result<Vec<&'a str>> {
    let names: BTreeSet<&str> = views.iter().map(|(n, _)| *n).collect();
    let mut needs: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, sql) in views {
        let mut deps = BTreeSet::new();
        for word in identifiers(sql) {
            if let Some(dep) = names.get(word.as_str()) {
                if dep != name {
                    deps.insert(*dep);
                }
            }
        }
        needs.insert(name, deps);
    }
    let mut order = Vec::new();
    let mut done = BTreeSet::new();
    while done.len() < names.len() {
        let ready: Vec<&str> = needs
            .iter()
            .filter(|(n, deps)| !done.contains(*n) && deps.iter().all(|d| done.contains(d)))
            .map(|(n, _)| *n)
            .collect();
        if ready.is_empty() {
            let stuck: Vec<&str> = names
                .iter()
                .filter(|n| !done.contains(*n))
                .copied()
                .collect();
            bail!(
                "the views read each other in a circle: {}",
                stuck.join(", ")
            );
        }
        for n in ready {
            done.insert(n);
            order.push(n);
        }
    }
    Ok(order)
}

/// The identifiers of a SQL text, lower-cased, outside `--` comments and
/// `'...'` literals.
fn identifiers(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = sql.chars().peekable();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut Vec<String>| {
        if !word.is_empty() {
            out.push(word.to_ascii_lowercase());
            word.clear();
        }
    };
    while let Some(c) = chars.next() {
        if c == '-' && chars.peek() == Some(&'-') {
            flush(&mut word, &mut out);
            for c in chars.by_ref() {
                if c == '\n' {
                    break;
                }
            }
        } else if c == '\'' {
            flush(&mut word, &mut out);
            while let Some(c) = chars.next() {
                if c == '\'' {
                    if chars.peek() == Some(&'\'') {
                        chars.next();
                    } else {
                        break;
                    }
                }
            }
        } else if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Every statement of the install, in order (what `--dry-run` prints).
pub fn plan(args: &InstallArgs) -> Result<Vec<Statement>> {
    if !args.dest.starts_with("s3://") {
        bail!("--dest must be s3://bucket/prefix: Athena reads tables from S3");
    }
    let db = &args.database;
    let mut out = vec![Statement {
        target: Target::Database(db.clone()),
        source: "trail-etl".into(),
        sql: format!("CREATE DATABASE IF NOT EXISTS `{db}`"),
    }];
    let opts = DdlOptions {
        location: args.dest.clone(),
        database: db.clone(),
        engine: Engine::Athena,
        ..DdlOptions::default()
    };
    for (name, schema) in tables() {
        out.push(Statement {
            target: Target::Table(name.to_string()),
            source: "trail-etl ddl".into(),
            sql: for_schema(name, &schema, &opts)
                .trim()
                .trim_end_matches(';')
                .to_string(),
        });
    }
    let by_name: BTreeMap<&str, &str> = VIEWS.iter().copied().collect();
    for name in view_order(VIEWS)? {
        let sql = by_name.get(name).copied().unwrap_or_default();
        out.push(Statement {
            target: Target::View(name.to_string()),
            source: format!("sql/views/{name}.sql"),
            sql: view_statement(sql),
        });
    }
    Ok(out)
}

/// A view file as one statement: its comments dropped, no final `;`.
fn view_statement(sql: &str) -> String {
    sql.lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .trim_end_matches(';')
        .to_string()
}

/// The columns a table's statement defines, in order, partition columns last
/// (as `information_schema.columns` lists them).
fn columns_of(name: &str) -> Vec<String> {
    let mut out: Vec<String> = tables()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| s.fields().iter().map(|f| f.name().clone()).collect())
        .unwrap_or_default();
    if name != crate::identities::IDENTITIES_TABLE {
        out.push(trail_parse::PARTITION_COLUMN.to_string());
    }
    out
}

/// Install; `Err` when a statement failed or Athena could not be reached.
pub fn install(args: &InstallArgs) -> Result<InstallSummary> {
    let rt = crate::store::io_runtime()?;
    rt.block_on(install_async(args))
}

async fn install_async(args: &InstallArgs) -> Result<InstallSummary> {
    let started = Instant::now();
    let statements = plan(args)?;
    let athena = Athena::new(
        &args.s3,
        args.athena_endpoint_url.as_deref(),
        args.workgroup.clone(),
        args.output_location.clone(),
    )
    .await;
    let db = args.database.as_str();
    let mut summary = InstallSummary {
        database: db.to_string(),
        ..InstallSummary::default()
    };
    for st in &statements {
        match &st.target {
            Target::Database(_) => {
                athena.run(&st.sql, None, &st.source).await?;
                summary.statements += 1;
            }
            Target::Table(name) => {
                let sql = format!(
                    "SELECT column_name FROM information_schema.columns \
                     WHERE table_schema = '{db}' AND table_name = '{name}' ORDER BY ordinal_position"
                );
                let existing: Vec<String> = athena
                    .rows(&sql, Some(db), "information_schema")
                    .await?
                    .into_iter()
                    .filter_map(|r| r.into_iter().next().flatten())
                    .collect();
                summary.statements += 1;
                if existing.is_empty() {
                    athena.run(&st.sql, Some(db), &st.source).await?;
                    summary.statements += 1;
                    summary.tables_created.push(name.clone());
                } else if existing != columns_of(name) {
                    athena
                        .run(
                            &format!("DROP TABLE IF EXISTS `{db}`.`{name}`"),
                            Some(db),
                            &st.source,
                        )
                        .await?;
                    athena.run(&st.sql, Some(db), &st.source).await?;
                    summary.statements += 2;
                    summary.tables_replaced.push(name.clone());
                } else {
                    summary.tables_unchanged.push(name.clone());
                }
            }
            Target::View(name) => {
                athena.run(&st.sql, Some(db), &st.source).await?;
                summary.statements += 1;
                summary.views.push(name.clone());
            }
        }
    }
    summary.duration_ms = started.elapsed().as_millis() as u64;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_view_comes_after_the_views_it_reads() {
        let order = view_order(VIEWS).unwrap();
        assert_eq!(order.len(), VIEWS.len());
        let at = |n: &str| order.iter().position(|v| *v == n).unwrap();
        for (name, sql) in VIEWS {
            for word in identifiers(sql) {
                if VIEWS.iter().any(|(n, _)| *n == word && n != name) {
                    assert!(at(&word) < at(name), "{word} must come before {name}");
                }
            }
        }
        assert!(at("people") < at("table_access_unique"));
        assert!(at("athena_price") < at("athena_query_costs"));
        assert!(at("athena_query_costs") < at("athena_cost_daily"));
    }

    #[test]
    fn comments_and_literals_are_not_dependencies() {
        let views = [
            (
                "a",
                "-- reads b\nCREATE OR REPLACE VIEW a AS SELECT 'b' AS x",
            ),
            ("b", "CREATE OR REPLACE VIEW b AS SELECT * FROM a"),
        ];
        assert_eq!(view_order(&views).unwrap(), vec!["a", "b"]);
        let circle = [("a", "SELECT * FROM b"), ("b", "SELECT * FROM a")];
        assert!(view_order(&circle)
            .unwrap_err()
            .to_string()
            .contains("circle"));
    }

    #[test]
    fn the_plan_is_database_tables_then_views() {
        let args = InstallArgs {
            dest: "s3://lake/tables".into(),
            database: "cloudtrail".into(),
            ..InstallArgs::default()
        };
        let plan = plan(&args).unwrap();
        assert_eq!(plan[0].sql, "CREATE DATABASE IF NOT EXISTS `cloudtrail`");
        assert_eq!(plan[1].target, Target::Table("events".into()));
        assert!(plan[1].sql.contains("LOCATION 's3://lake/tables/events/'"));
        assert_eq!(plan.len(), 1 + 5 + VIEWS.len());
        assert!(plan
            .iter()
            .all(|s| !s.sql.ends_with(';') && !s.sql.starts_with("--")));
        let err = super::plan(&InstallArgs {
            dest: "./out".into(),
            ..args
        })
        .unwrap_err();
        assert!(err.to_string().contains("s3://"));
    }
}
