//! `trail-etl athena report`: the answers as one self-contained HTML page.
//!
//! Runs each [`crate::questions`] query over the views through Athena and
//! writes a page with no external scripts, styles, fonts or images (it is
//! mailed and archived): charts are inline SVG drawn with plotters' SVG
//! backend, each beside the table of its numbers. The page states the
//! period and when it was made.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::{Duration, NaiveDate, Utc};
use plotters::prelude::*;
use serde::Serialize;

use crate::athena_api::Athena;
use crate::questions::{expand, questions, Question, Shape};
use crate::store::S3Options;

/// What `athena report` needs.
#[derive(Debug, Clone, Default)]
pub struct ReportArgs {
    /// The Athena database holding the views (`athena install`).
    pub database: String,
    /// The workgroup to run the queries in.
    pub workgroup: Option<String>,
    /// Where Athena writes the query results (else the workgroup's setting).
    pub output_location: Option<String>,
    /// The period: the last `days` days, today included.
    pub days: u32,
    /// The last day of the period (default: today, UTC).
    pub end: Option<NaiveDate>,
    /// Where the page goes.
    pub out: PathBuf,
    /// Profile and region.
    pub s3: S3Options,
    /// Another Athena endpoint.
    pub athena_endpoint_url: Option<String>,
}

/// What `athena report` did.
#[derive(Debug, Default, Serialize)]
pub struct ReportSummary {
    /// The page written.
    pub out: String,
    /// First day of the period.
    pub start: String,
    /// Last day of the period.
    pub end: String,
    /// Rows per question.
    pub rows: Vec<(String, usize)>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// 0 written, 1 failed.
    pub exit_code: i32,
}

/// One question's answer.
struct Answer {
    question: Question,
    columns: Vec<String>,
    rows: Vec<Vec<Option<String>>>,
}

/// Run the queries and write the page.
pub fn report(args: &ReportArgs) -> Result<ReportSummary> {
    let rt = crate::store::io_runtime()?;
    rt.block_on(report_async(args))
}

async fn report_async(args: &ReportArgs) -> Result<ReportSummary> {
    let end = args.end.unwrap_or_else(|| Utc::now().date_naive());
    let start = end - Duration::days(i64::from(args.days.max(1)) - 1);
    let athena = Athena::new(
        &args.s3,
        args.athena_endpoint_url.as_deref(),
        args.workgroup.clone(),
        args.output_location.clone(),
    )
    .await;
    let mut answers = Vec::new();
    for question in questions() {
        let sql = expand(&question.sql, start, end);
        let source = format!("report: {}", question.id);
        let (columns, rows) = athena
            .rows_with_columns(&sql, Some(&args.database), &source)
            .await?;
        answers.push(Answer {
            question,
            columns,
            rows,
        });
    }
    let made = Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    let page = render(&answers, start, end, &args.database, &made);
    std::fs::write(&args.out, page).with_context(|| format!("writing {}", args.out.display()))?;
    Ok(ReportSummary {
        out: args.out.display().to_string(),
        start: start.to_string(),
        end: end.to_string(),
        rows: answers
            .iter()
            .map(|a| (a.question.id.to_string(), a.rows.len()))
            .collect(),
        error: None,
        exit_code: 0,
    })
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1100px;color:#1d2330;padding:0 1em}\
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #d6dae3;padding-bottom:.3em}\
.meta{color:#5b6478}.about{color:#5b6478;margin:.3em 0 1em}.answer{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}\
.chart{flex:0 0 auto}table{border-collapse:collapse;font-size:.85em}th,td{border-bottom:1px solid #e4e7ee;padding:.25em .6em;text-align:left}\
td.n{text-align:right;font-variant-numeric:tabular-nums}.empty{color:#5b6478;font-style:italic}";

/// The page.
fn render(
    answers: &[Answer],
    start: NaiveDate,
    end: NaiveDate,
    database: &str,
    made: &str,
) -> String {
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>trail report {start} to {end}</title>\
         <style>{STYLE}</style></head><body>\n<h1>Data access and Athena costs</h1>\n\
         <p class=\"meta\">Period: <b>{start}</b> to <b>{end}</b> (UTC days). Made {made} by trail-etl from the views of the Athena database <b>{}</b>.</p>\n",
        escape(database)
    );
    for a in answers {
        let q = &a.question;
        let _ = write!(
            html,
            "<section id=\"{}\"><h2>{}</h2><p class=\"about\">{}</p><div class=\"answer\">",
            q.id,
            escape(q.title),
            escape(q.about)
        );
        if a.rows.is_empty() {
            html.push_str("<p class=\"empty\">Nothing in this period.</p></div></section>\n");
            continue;
        }
        let chart = match q.shape {
            Shape::Series => series_chart(a, start, end),
            Shape::Bars => bar_chart(a),
            Shape::Table => None,
        };
        if let Some(svg) = chart {
            let _ = write!(html, "<div class=\"chart\">{svg}</div>");
        }
        html.push_str(&table(a));
        html.push_str("</div></section>\n");
    }
    html.push_str("</body></html>\n");
    html
}

fn table(a: &Answer) -> String {
    let mut out = String::from("<table><thead><tr>");
    for c in &a.columns {
        let _ = write!(out, "<th>{}</th>", escape(c));
    }
    out.push_str("</tr></thead><tbody>");
    for row in &a.rows {
        out.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            let mut text = cell.as_deref().unwrap_or("");
            // A day's timestamp (the series' `time`) reads as the day.
            if a.columns.get(i).is_some_and(|c| c == "time") && text.ends_with(" 00:00:00.000") {
                text = &text[..10];
            }
            // Athena writes small doubles as 4.8E-5: shown as decimals.
            let plain;
            if text.contains(['e', 'E']) {
                if let Ok(v) = text.parse::<f64>() {
                    plain = decimal(v);
                    text = &plain;
                }
            }
            let class = if text.parse::<f64>().is_ok() {
                " class=\"n\""
            } else {
                ""
            };
            let _ = write!(out, "<td{class}>{}</td>", escape(text));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// A number without an exponent, to 6 decimals at most, trailing zeros cut.
fn decimal(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

fn number(cell: &Option<String>) -> f64 {
    cell.as_deref().and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

/// Bars of the second column by the first.
fn bar_chart(a: &Answer) -> Option<String> {
    let labels: Vec<String> = a
        .rows
        .iter()
        .map(|r| r.first().cloned().flatten().unwrap_or_default())
        .collect();
    let values: Vec<f64> = a
        .rows
        .iter()
        .map(|r| number(&r.get(1).cloned().flatten()))
        .collect();
    let top = values.iter().cloned().fold(0.0, f64::max);
    let height = (50 + 24 * labels.len() as u32).max(180);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (560, height)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let n = labels.len() as u32;
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .x_label_area_size(38)
            .y_label_area_size(190)
            .build_cartesian_2d(0.0..(top * 1.05).max(1e-9), (0..n).into_segmented())
            .ok()?;
        let name = a.columns.get(1).cloned().unwrap_or_default();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(TRANSPARENT)
            .x_desc(name)
            .y_labels(labels.len())
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => (n - 1)
                    .checked_sub(*i)
                    .and_then(|at| labels.get(at as usize))
                    .map(|l| shorten(l, 28))
                    .unwrap_or_default(),
                _ => String::new(),
            })
            .draw()
            .ok()?;
        chart
            .draw_series(
                Histogram::horizontal(&chart)
                    .style(RGBColor(58, 110, 165).filled())
                    .margin(3)
                    .data(
                        values
                            .iter()
                            .enumerate()
                            .map(|(i, v)| (n - 1 - i as u32, *v)),
                    ),
            )
            .ok()?;
        root.present().ok()?;
    }
    Some(svg)
}

/// One line per metric over every day of the period (a day without a row is
/// 0): rows of (time, metric, value).
fn series_chart(a: &Answer, start: NaiveDate, end: NaiveDate) -> Option<String> {
    let day = |r: &Vec<Option<String>>| {
        r.first()
            .cloned()
            .flatten()
            .unwrap_or_default()
            .chars()
            .take(10)
            .collect::<String>()
    };
    let days: Vec<String> = start
        .iter_days()
        .take_while(|d| *d <= end)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .collect();
    let mut series: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    for r in &a.rows {
        let metric = r.get(1).cloned().flatten().unwrap_or_default();
        let Some(at) = days.iter().position(|d| *d == day(r)) else {
            continue;
        };
        series
            .entry(metric)
            .or_insert_with(|| vec![0.0; days.len()])[at] += number(&r.get(2).cloned().flatten());
    }
    let top = series.values().flatten().cloned().fold(0.0, f64::max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (560, 300)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let n = days.len().max(1);
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0..n.saturating_sub(1).max(1), 0.0..(top * 1.1).max(1e-9))
            .ok()?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .x_labels(n.min(8))
            .x_label_formatter(&|i| days.get(*i).map(|d| d[5..].to_string()).unwrap_or_default())
            .y_desc(a.columns.get(2).cloned().unwrap_or_default())
            .draw()
            .ok()?;
        for (k, (metric, values)) in series.iter().enumerate() {
            let color = Palette99::pick(k).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    values.iter().enumerate().map(|(i, v)| (i, *v)),
                    color.stroke_width(2),
                ))
                .ok()?
                .label(metric.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK.mix(0.3))
            .draw()
            .ok()?;
        root.present().ok()?;
    }
    Some(svg)
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        text.chars().take(max - 1).collect::<String>() + "…"
    }
}

/// HTML escaping for text and attribute values.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(id: &str, shape: Shape, columns: &[&str], rows: &[&[&str]]) -> Answer {
        let question = questions().into_iter().find(|q| q.id == id).unwrap();
        Answer {
            question: Question { shape, ..question },
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: rows
                .iter()
                .map(|r| r.iter().map(|c| Some(c.to_string())).collect())
                .collect(),
        }
    }

    #[test]
    fn the_page_holds_everything_it_needs_and_names_the_period() {
        let answers = vec![
            answer(
                "cost_per_workgroup",
                Shape::Series,
                &["time", "metric", "usd"],
                &[
                    &["2026-03-02 00:00:00.000", "analysts", "5.02"],
                    &["2026-03-03 00:00:00.000", "airflow", "0.01"],
                ],
            ),
            answer(
                "top_people_by_cost",
                Shape::Bars,
                &["person", "usd"],
                &[&["<ana>", "4.8E-5"]],
            ),
            answer("unread_tables", Shape::Table, &["table_name"], &[]),
        ];
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let page = render(
            &answers,
            d("2026-03-01"),
            d("2026-03-04"),
            "cloudtrail",
            "2026-12-04 10:00 UTC",
        );
        assert!(page.contains("Period: <b>2026-03-01</b> to <b>2026-03-04</b>"));
        assert!(page.contains("Made 2026-12-04 10:00 UTC"));
        assert_eq!(page.matches("<svg").count(), 2, "two charts");
        assert!(
            page.contains("&lt;ana&gt;") && !page.contains("<ana>"),
            "escaped"
        );
        assert!(page.contains("Nothing in this period."));
        assert!(page.contains("<td class=\"n\">0.000048</td>"), "decimals");
        for external in ["<script", "<link", "src=", "href=", "url(", "@import"] {
            assert!(!page.contains(external), "{external}");
        }
    }
}
