-- Who touched a given table: every catalog call and Lake Formation data
-- access on it, read or write, one row per event (duplicates delivered by
-- CloudTrail removed), with who, how, and the Athena query when known.
--
-- Example: the audit trail of sales.orders in March.
--   SELECT event_time, person, role_name, event_name, via, athena_query_id, error_code
--   FROM table_audit
--   WHERE database_name = 'sales' AND table_name = 'orders'
--     AND event_date BETWEEN '2026-03-01' AND '2026-03-31'
--   ORDER BY event_time;
CREATE OR REPLACE VIEW table_audit AS
SELECT
  event_date,
  event_time,
  catalog_id,
  database_name,
  table_name,
  access_level,
  actor,
  person,
  role_name,
  principal_arn,
  event_source,
  event_name,
  read_only,
  CASE
    WHEN invoked_by = 'athena.amazonaws.com' THEN 'athena'
    WHEN invoked_by IS NULL THEN 'direct'
    ELSE invoked_by
  END AS via,
  athena_query_id,
  requester_service,
  error_code,
  source_ip_address,
  recipient_account_id,
  aws_region,
  event_id
FROM table_access_unique
