-- The cost of each Athena query, with who ran it: the CloudTrail side
-- (athena_queries: actor, role, workgroup) joined with Athena's own
-- statistics (athena_query_stats, from `trail-etl enrich`: SQL text, state,
-- bytes scanned). billed_bytes and usd follow athena_price; they are NULL for
-- a query not enriched (yet, or ever: Athena keeps about 45 days of history).
--
-- Example: what did jane's queries cost yesterday?
--   SELECT event_time, workgroup, state, data_scanned_bytes, usd, query
--   FROM athena_query_costs
--   WHERE actor = 'jane.doe@example.com' AND event_date = '2026-03-02'
--   ORDER BY usd DESC;
CREATE OR REPLACE VIEW athena_query_costs AS
WITH queries AS (
  SELECT *
  FROM (
    SELECT
      q.*,
      row_number() OVER (PARTITION BY q.query_execution_id ORDER BY q.source_key, q.record_index) AS copy_number
    FROM athena_queries AS q
    WHERE q.query_execution_id IS NOT NULL
  ) AS numbered
  WHERE copy_number = 1
),
stats AS (
  SELECT *
  FROM (
    SELECT
      s.*,
      row_number() OVER (PARTITION BY s.query_execution_id ORDER BY s.fetched_at DESC) AS copy_number
    FROM athena_query_stats AS s
  ) AS numbered
  WHERE copy_number = 1
),
billed AS (
  SELECT
    q.event_date,
    q.event_time,
    q.query_execution_id,
    q.actor,
    coalesce(pe.person, q.actor) AS person,
    q.role_name,
    q.workgroup,
    coalesce(s.database_name, q.database_name) AS database_name,
    s.state,
    s.statement_type,
    s.query,
    s.data_scanned_bytes,
    s.engine_execution_ms,
    s.total_execution_ms,
    s.queue_ms,
    s.result_reused,
    s.submitted_at,
    s.completed_at,
    CASE
      WHEN s.query_execution_id IS NULL THEN NULL
      WHEN s.state = 'FAILED' OR s.statement_type = 'DDL' OR s.result_reused THEN CAST(0 AS bigint)
      ELSE greatest(
        CAST(ceil(CAST(coalesce(s.data_scanned_bytes, 0) AS double) / p.rounding_bytes) AS bigint) * p.rounding_bytes,
        p.minimum_bytes_per_query
      )
    END AS billed_bytes,
    p.bytes_per_tb,
    p.usd_per_tb
  FROM queries AS q
  LEFT JOIN stats AS s ON s.query_execution_id = q.query_execution_id
  LEFT JOIN people AS pe ON pe.actor = q.actor
  CROSS JOIN athena_price AS p
)
SELECT
  event_date,
  event_time,
  query_execution_id,
  actor,
  person,
  role_name,
  workgroup,
  database_name,
  state,
  statement_type,
  query,
  data_scanned_bytes,
  engine_execution_ms,
  total_execution_ms,
  queue_ms,
  result_reused,
  submitted_at,
  completed_at,
  billed_bytes,
  CAST(billed_bytes AS double) / bytes_per_tb * usd_per_tb AS usd
FROM billed
