-- When each table was last read, and by how many people: the base for
-- "tables nobody touched in N days". Only successful reads count. Tables
-- that were never read since trail started collecting do not appear here
-- (list them from the Glue catalog and anti-join).
--
-- Example: tables nobody read in the last 90 days.
--   SELECT database_name, table_name, last_read, days_since_last_read, readers
--   FROM table_last_access
--   WHERE days_since_last_read >= 90
--   ORDER BY days_since_last_read DESC;
CREATE OR REPLACE VIEW table_last_access AS
SELECT
  catalog_id,
  database_name,
  table_name,
  max(event_time) AS last_read,
  date_diff('day', CAST(max(event_time) AS date), current_date) AS days_since_last_read,
  count(DISTINCT actor) AS readers,
  count(DISTINCT coalesce(event_id, source_key || '#' || CAST(record_index AS varchar))) AS reads
FROM table_access
WHERE table_name IS NOT NULL
  AND error_code IS NULL
  AND read_only IS DISTINCT FROM false
GROUP BY 1, 2, 3
