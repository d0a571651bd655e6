-- Who read which table, per day.
--
-- One row per day, actor, role, database, table, access level and path
-- (via = 'athena' when Athena called Glue or Lake Formation on the actor's
-- behalf, 'direct' for the actor's own calls, else the calling service).
-- Only reads: catalog writes (CreateTable, UpdateTable, ...) are left out.
-- Denied attempts are counted apart from calls that succeeded. Each CloudTrail
-- event counts once even when CloudTrail delivered it twice. Database-level
-- calls (GetTables, GetDatabase) have a NULL table_name.
--
-- Example: who read sales.orders since March 1st, and how?
--   SELECT event_date, person, via, calls, denied_calls
--   FROM table_reads_daily
--   WHERE database_name = 'sales' AND table_name = 'orders' AND event_date >= '2026-03-01'
--   ORDER BY event_date, calls DESC;
CREATE OR REPLACE VIEW table_reads_daily AS
SELECT
  event_date,
  actor,
  person,
  role_name,
  database_name,
  table_name,
  access_level,
  CASE
    WHEN invoked_by = 'athena.amazonaws.com' THEN 'athena'
    WHEN invoked_by IS NULL THEN 'direct'
    ELSE invoked_by
  END AS via,
  count_if(error_code IS NULL) AS calls,
  -- coalesce: count_if must see false, not NULL, for calls without an error (DuckDB counts NULL apart).
  count_if(coalesce(error_code, '') LIKE '%AccessDenied%' OR coalesce(error_code, '') LIKE '%Unauthorized%') AS denied_calls,
  count_if(error_code IS NOT NULL) AS failed_calls,
  min(event_time) AS first_seen,
  max(event_time) AS last_seen
FROM table_access_unique
WHERE read_only IS DISTINCT FROM false
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
