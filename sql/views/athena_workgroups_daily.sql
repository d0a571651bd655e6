-- Athena queries per workgroup per day, with workgroup families: the
-- `airflow-<folder>` workgroups (one per Airflow DAG folder) form the family
-- 'airflow' with their folder apart; any other workgroup is its own family.
--
-- Example: queries per Airflow folder this month.
--   SELECT airflow_folder, sum(queries) AS queries
--   FROM athena_workgroups_daily
--   WHERE workgroup_family = 'airflow' AND event_date >= '2026-03-01'
--   GROUP BY airflow_folder ORDER BY queries DESC;
CREATE OR REPLACE VIEW athena_workgroups_daily AS
SELECT
  event_date,
  workgroup,
  CASE WHEN workgroup LIKE 'airflow-%' THEN 'airflow' ELSE workgroup END AS workgroup_family,
  CASE WHEN workgroup LIKE 'airflow-%' THEN substr(workgroup, 9) END AS airflow_folder,
  count(*) AS queries,
  count(DISTINCT actor) AS actors,
  count_if(error_code IS NOT NULL) AS rejected_queries
FROM athena_queries_unique
GROUP BY 1, 2, 3, 4
