-- Athena cost per workgroup per day (with the airflow-<folder> family), for
-- chargeback: queries, people, failed queries, bytes scanned and billed, USD.
--
-- Example: the most expensive workgroups this month.
--   SELECT workgroup, round(sum(usd), 2) AS usd, sum(queries) AS queries
--   FROM athena_workgroup_cost_daily
--   WHERE event_date >= '2026-03-01'
--   GROUP BY workgroup ORDER BY usd DESC;
CREATE OR REPLACE VIEW athena_workgroup_cost_daily AS
SELECT
  event_date,
  workgroup,
  CASE WHEN workgroup LIKE 'airflow-%' THEN 'airflow' ELSE workgroup END AS workgroup_family,
  count(*) AS queries,
  count(DISTINCT actor) AS actors,
  count_if(coalesce(state, '') = 'FAILED') AS failed_queries,
  sum(data_scanned_bytes) AS data_scanned_bytes,
  sum(billed_bytes) AS billed_bytes,
  sum(usd) AS usd
FROM athena_query_costs
GROUP BY 1, 2, 3
