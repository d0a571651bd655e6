-- athena_queries with every StartQueryExecution event counted once:
-- CloudTrail may deliver an event twice, and the Athena usage views read
-- this one. Events without an eventID are told apart by their object and
-- position. copy_number is always 1 here.
--
-- Example: queries per workgroup today, duplicates removed.
--   SELECT workgroup, count(*) FROM athena_queries_unique WHERE event_date = '2026-03-02' GROUP BY 1;
CREATE OR REPLACE VIEW athena_queries_unique AS
SELECT numbered.*, coalesce(p.person, numbered.actor) AS person
FROM (
  SELECT
    q.*,
    row_number() OVER (
      PARTITION BY coalesce(q.event_id, q.source_key || '#' || CAST(q.record_index AS varchar))
      ORDER BY q.source_key, q.record_index
    ) AS copy_number
  FROM athena_queries AS q
) AS numbered
LEFT JOIN people AS p ON p.actor = numbered.actor
WHERE numbered.copy_number = 1
