-- The most expensive Athena queries, ranked within each day, with who ran
-- them and their SQL text.
--
-- Example: the ten costliest queries of a day.
--   SELECT rank_in_day, person, workgroup, round(usd, 4) AS usd, data_scanned_bytes, query
--   FROM athena_top_queries
--   WHERE event_date = '2026-03-02' AND rank_in_day <= 10
--   ORDER BY rank_in_day;
CREATE OR REPLACE VIEW athena_top_queries AS
SELECT
  event_date,
  rank() OVER (PARTITION BY event_date ORDER BY billed_bytes DESC) AS rank_in_day,
  event_time,
  actor,
  person,
  role_name,
  workgroup,
  query_execution_id,
  state,
  data_scanned_bytes,
  billed_bytes,
  usd,
  total_execution_ms,
  query
FROM athena_query_costs
WHERE billed_bytes > 0
