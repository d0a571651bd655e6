//! The questions the report and the dashboard answer, as Athena SQL over the
//! views, written once for both.
//!
//! The time range is written with the macros of Grafana's Athena data source
//! (`$__timeFrom()` and `$__timeTo()`, which it expands to
//! `TIMESTAMP 'yyyy-MM-dd HH:mm:ss'`); the report expands them the same way
//! with [`expand`]. `event_date` is a `YYYY-MM-DD` string (the partition
//! projection's format), compared with the range's days as strings so that
//! Athena prunes partitions.

/// How a question's rows are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Rows of (`time`, `metric`, value): one line per metric over the days.
    Series,
    /// Rows of (label, value, more columns...): bars of the first numeric
    /// column by the label, and the table.
    Bars,
    /// A table only.
    Table,
}

/// One question.
#[derive(Debug, Clone)]
pub struct Question {
    /// A stable id (panel ids, anchors).
    pub id: &'static str,
    /// The title.
    pub title: &'static str,
    /// What it shows, for people.
    pub about: &'static str,
    /// How to show it.
    pub shape: Shape,
    /// Athena SQL, with `$__timeFrom()`/`$__timeTo()` for the range.
    pub sql: String,
}

/// The days of the range, as `event_date` strings.
const RANGE: &str = "event_date BETWEEN date_format($__timeFrom(), '%Y-%m-%d') AND date_format($__timeTo(), '%Y-%m-%d')";

/// Every question, in the order the report and the dashboard show them.
pub fn questions() -> Vec<Question> {
    vec![
        Question {
            id: "cost_per_workgroup",
            title: "Athena cost per workgroup per day",
            about: "USD per day from Athena's own statistics (trail-etl enrich), airflow-* workgroups grouped as one family.",
            shape: Shape::Series,
            sql: ranged(concat!(
                "SELECT date_parse(event_date, '%Y-%m-%d') AS time, workgroup_family AS metric, round(sum(usd), 6) AS usd ",
                "FROM athena_workgroup_cost_daily WHERE ", "{range}",
                " GROUP BY 1, 2 ORDER BY 1, 2")),
        },
        Question {
            id: "top_people_by_cost",
            title: "Top people by cost",
            about: "Who spent the most on Athena queries in the period.",
            shape: Shape::Bars,
            sql: ranged(concat!(
                "SELECT person, round(sum(usd), 6) AS usd, sum(queries) AS queries, round(sum(data_scanned_bytes) / 1e9, 3) AS gb_scanned ",
                "FROM athena_cost_daily WHERE ", "{range}",
                " GROUP BY person ORDER BY usd DESC NULLS LAST, person LIMIT 15")),
        },
        Question {
            id: "top_people_by_queries",
            title: "Top people by queries",
            about: "Who started the most Athena queries, and how many Athena rejected.",
            shape: Shape::Bars,
            sql: ranged(concat!(
                "SELECT person, sum(queries) AS queries, sum(rejected_queries) AS rejected ",
                "FROM athena_usage_daily WHERE ", "{range}",
                " GROUP BY person ORDER BY queries DESC, person LIMIT 15")),
        },
        Question {
            id: "most_read_tables",
            title: "Most-read tables and who reads them",
            about: "Glue and Lake Formation reads per table (through Athena or direct), and the people behind them.",
            shape: Shape::Bars,
            sql: ranged(concat!(
                "SELECT database_name || '.' || table_name AS table_name, sum(calls) AS reads, count(DISTINCT person) AS readers, ",
                "array_join(array_sort(array_agg(DISTINCT person)), ', ') AS people ",
                "FROM table_reads_daily WHERE ", "{range}",
                " AND table_name IS NOT NULL AND calls > 0 GROUP BY 1 ORDER BY reads DESC, 1 LIMIT 15")),
        },
        Question {
            id: "unread_tables",
            title: "Tables nobody read for 90 days",
            about: "Tables read at some time in the history kept, but not in the last 90 days (tables never read at all are not in CloudTrail).",
            shape: Shape::Table,
            sql: concat!(
                "SELECT database_name || '.' || table_name AS table_name, date_format(last_read, '%Y-%m-%d') AS last_read, ",
                "days_since_last_read FROM table_last_access WHERE days_since_last_read >= 90 ",
                "ORDER BY days_since_last_read DESC, 1 LIMIT 50")
            .to_string(),
        },
        Question {
            id: "denied_and_failed",
            title: "Denied and failed access",
            about: "Calls that failed, denied ones first, by person, service and error.",
            shape: Shape::Bars,
            sql: ranged(concat!(
                "SELECT person, sum(calls) AS calls, event_source, event_name, error_code, denied ",
                "FROM failed_calls_daily WHERE ", "{range}",
                " GROUP BY person, event_source, event_name, error_code, denied ORDER BY denied DESC, calls DESC, 1 LIMIT 30")),
        },
    ]
}

/// `sql` with `{range}` as the condition on the range's days.
fn ranged(sql: &str) -> String {
    sql.replace("{range}", RANGE)
}

/// Expand the range macros as Grafana's Athena data source does, for a
/// range of whole days (`from` at 00:00:00, `to` at 23:59:59 UTC).
///
/// ```
/// use chrono::NaiveDate;
/// let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
/// let sql = trail_etl::questions::expand("x BETWEEN $__timeFrom() AND $__timeTo()", d("2026-03-01"), d("2026-03-04"));
/// assert_eq!(sql, "x BETWEEN TIMESTAMP '2026-03-01 00:00:00' AND TIMESTAMP '2026-03-04 23:59:59'");
/// ```
pub fn expand(sql: &str, from: chrono::NaiveDate, to: chrono::NaiveDate) -> String {
    sql.replace(
        "$__timeFrom()",
        &format!("TIMESTAMP '{} 00:00:00'", from.format("%Y-%m-%d")),
    )
    .replace(
        "$__timeTo()",
        &format!("TIMESTAMP '{} 23:59:59'", to.format("%Y-%m-%d")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_range_is_the_same_condition() {
        for q in questions() {
            assert!(!q.sql.contains("RANGE"), "{}", q.id);
            assert!(!q.sql.contains("{range}"), "{}", q.id);
            if q.sql.contains("$__timeFrom") {
                assert!(q.sql.contains(RANGE), "{}", q.id);
            }
        }
    }
}
