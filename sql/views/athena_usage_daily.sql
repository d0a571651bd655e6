-- Athena usage per actor and workgroup per day, from StartQueryExecution
-- events: queries started, and calls Athena rejected outright (bad SQL,
-- missing permission, throttling). How much each query scanned, and whether
-- it later failed, is not in CloudTrail: see `trail-etl enrich`.
--
-- Example: the busiest people last week.
--   SELECT person, sum(queries) AS queries, sum(rejected_queries) AS rejected
--   FROM athena_usage_daily
--   WHERE event_date >= '2026-03-01'
--   GROUP BY person ORDER BY queries DESC LIMIT 20;
CREATE OR REPLACE VIEW athena_usage_daily AS
SELECT
  event_date,
  actor,
  person,
  role_name,
  workgroup,
  count(*) AS queries,
  count_if(error_code IS NOT NULL) AS rejected_queries,
  count(DISTINCT database_name) AS databases,
  min(event_time) AS first_query,
  max(event_time) AS last_query
FROM athena_queries_unique
GROUP BY 1, 2, 3, 4, 5
