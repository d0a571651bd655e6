-- Queries that scanned far more than their author usually does: more than
-- ten times the average of the same person's other successful queries (at
-- least two of them), and more than 1 GiB. Usually a missing partition
-- filter or a SELECT * on a wide table.
--
-- Example: this week's surprises.
--   SELECT person, event_time, data_scanned_bytes, times_usual, round(usd, 2) AS usd, query
--   FROM athena_unusual_queries
--   WHERE event_date >= '2026-03-01'
--   ORDER BY usd DESC;
CREATE OR REPLACE VIEW athena_unusual_queries AS
WITH succeeded AS (
  SELECT
    c.*,
    count(*) OVER (PARTITION BY c.actor) AS actor_queries,
    sum(c.data_scanned_bytes) OVER (PARTITION BY c.actor) AS actor_bytes
  FROM athena_query_costs AS c
  WHERE c.state = 'SUCCEEDED' AND c.data_scanned_bytes IS NOT NULL
),
compared AS (
  SELECT
    s.*,
    CAST(s.actor_bytes - s.data_scanned_bytes AS double) / (s.actor_queries - 1) AS usual_bytes
  FROM succeeded AS s
  WHERE s.actor_queries >= 3
)
SELECT
  event_date,
  event_time,
  actor,
  person,
  role_name,
  workgroup,
  query_execution_id,
  data_scanned_bytes,
  usual_bytes,
  CAST(data_scanned_bytes AS double) / nullif(usual_bytes, 0) AS times_usual,
  usd,
  query
FROM compared
WHERE data_scanned_bytes > 10 * usual_bytes
  AND data_scanned_bytes > 1073741824
