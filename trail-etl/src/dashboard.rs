//! `trail-etl athena dashboard`: a Grafana dashboard (JSON model) for the
//! Athena data source plugin (`grafana-athena-datasource`, the one Amazon
//! Managed Grafana ships), with the report's questions as panels: the same
//! SQL over the views ([`crate::questions`]), its time range through the
//! plugin's `$__timeFrom()`/`$__timeTo()` macros.

use serde_json::{json, Value};

use crate::questions::{questions, Shape};

/// The plugin's type id.
pub const PLUGIN: &str = "grafana-athena-datasource";

/// The dashboard for the views in `database`.
///
/// ```
/// let d = trail_etl::dashboard::dashboard("cloudtrail");
/// assert_eq!(d["panels"][0]["targets"][0]["connectionArgs"]["database"], "cloudtrail");
/// ```
pub fn dashboard(database: &str) -> Value {
    let source = json!({"type": PLUGIN, "uid": "${datasource}"});
    let mut panels = Vec::new();
    let (mut x, mut y) = (0, 0);
    for (i, q) in questions().into_iter().enumerate() {
        let (kind, format, width) = match q.shape {
            Shape::Series => ("timeseries", 0, 24),
            Shape::Bars => ("barchart", 1, 12),
            Shape::Table => ("table", 1, 12),
        };
        if x + width > 24 {
            x = 0;
            y += 9;
        }
        let mut panel = json!({
            "id": i + 1,
            "type": kind,
            "title": q.title,
            "description": q.about,
            "datasource": source,
            "gridPos": {"h": 9, "w": width, "x": x, "y": y},
            "targets": [{
                "refId": "A",
                "datasource": source,
                "format": format,
                "rawSQL": q.sql,
                "connectionArgs": {
                    "region": "__default",
                    "catalog": "__default",
                    "database": database,
                    "resultReuseEnabled": false,
                    "resultReuseMaxAgeInMinutes": 60
                }
            }],
            "options": {},
            "fieldConfig": {"defaults": {}, "overrides": []}
        });
        if q.shape == Shape::Bars {
            panel["options"] = json!({"orientation": "horizontal", "xField": first_column(&q.sql), "showValue": "auto"});
        }
        panels.push(panel);
        x += width;
        if x >= 24 {
            x = 0;
            y += 9;
        }
    }
    json!({
        "title": "trail: data access and Athena costs",
        "uid": "trail-cloudtrail",
        "description": "Who reads which tables, who runs which Athena queries at what cost: the views trail-etl installs (trail-etl athena install).",
        "tags": ["trail", "cloudtrail", "athena"],
        "timezone": "utc",
        "schemaVersion": 39,
        "editable": true,
        "time": {"from": "now-30d", "to": "now"},
        "templating": {"list": [{
            "name": "datasource",
            "label": "Athena",
            "type": "datasource",
            "query": PLUGIN,
            "current": {}
        }]},
        "annotations": {"list": []},
        "panels": panels
    })
}

/// The name of the first column a query selects (`... AS name` or a bare column).
fn first_column(sql: &str) -> String {
    let select = sql.trim_start().trim_start_matches("SELECT").trim_start();
    let first = select.split(',').next().unwrap_or_default().trim();
    first
        .rsplit(" AS ")
        .next()
        .unwrap_or(first)
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_question_is_a_panel_over_the_plugin() {
        let d = dashboard("cloudtrail");
        let panels = d["panels"].as_array().unwrap();
        assert_eq!(panels.len(), questions().len());
        for p in panels {
            assert_eq!(p["datasource"]["type"], PLUGIN);
            let sql = p["targets"][0]["rawSQL"].as_str().unwrap();
            assert!(sql.starts_with("SELECT"), "{sql}");
        }
        assert_eq!(panels[1]["options"]["xField"], "person");
        assert_eq!(panels[0]["type"], "timeseries");
    }
}
