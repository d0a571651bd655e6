-- Failed and denied calls by actor, per day, for every AWS service:
-- `denied` marks AccessDenied and friends (AccessDeniedException,
-- UnauthorizedOperation, ...). Each event counts once.
--
-- Example: who was denied most this week?
--   SELECT person, sum(calls) AS denied
--   FROM failed_calls_daily
--   WHERE denied AND event_date >= '2026-03-01'
--   GROUP BY person ORDER BY denied DESC;
CREATE OR REPLACE VIEW failed_calls_daily AS
WITH failed AS (
  SELECT *
  FROM (
    SELECT
      e.event_date,
      e.event_time,
      e.actor,
      e.role_name,
      e.event_source,
      e.event_name,
      e.error_code,
      e.error_message,
      row_number() OVER (
        PARTITION BY coalesce(e.event_id, e.source_key || '#' || CAST(e.record_index AS varchar)), e.event_name
        ORDER BY e.source_key, e.record_index
      ) AS copy_number
    FROM events AS e
    WHERE e.error_code IS NOT NULL
  ) AS numbered
  WHERE copy_number = 1
)
SELECT
  f.event_date,
  f.actor,
  coalesce(p.person, f.actor) AS person,
  f.role_name,
  f.event_source,
  f.event_name,
  f.error_code,
  (f.error_code LIKE '%AccessDenied%' OR f.error_code LIKE '%Unauthorized%' OR f.error_code = 'Forbidden') AS denied,
  count(*) AS calls,
  min(f.event_time) AS first_seen,
  max(f.event_time) AS last_seen,
  max(f.error_message) AS sample_error_message
FROM failed AS f
LEFT JOIN people AS p ON p.actor = f.actor
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
