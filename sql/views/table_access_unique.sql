-- table_access with every CloudTrail event counted once: CloudTrail may
-- deliver an event twice, and the other table_access views read this one.
-- A row is one (event, database, table); events without an eventID are told
-- apart by their object and position. copy_number is always 1 here.
-- `person`: the actor's name when it is a resolved Identity Center user id
-- (see people), else the actor.
--
-- Example: how many table accesses were delivered twice?
--   SELECT (SELECT count(*) FROM table_access) - (SELECT count(*) FROM table_access_unique);
CREATE OR REPLACE VIEW table_access_unique AS
SELECT numbered.*, coalesce(p.person, numbered.actor) AS person
FROM (
  SELECT
    t.*,
    row_number() OVER (
      PARTITION BY coalesce(t.event_id, t.source_key || '#' || CAST(t.record_index AS varchar)), t.database_name, t.table_name
      ORDER BY t.source_key, t.record_index
    ) AS copy_number
  FROM table_access AS t
) AS numbered
LEFT JOIN people AS p ON p.actor = numbered.actor
WHERE numbered.copy_number = 1
