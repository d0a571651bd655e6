-- S3 object reads (GetObject data events, when the trail records data
-- events) per day, actor, bucket and top-level key prefix: objects read and
-- bytes sent. Denied reads are left out (see failed_calls_daily). Each event
-- counts once.
--
-- Example: who read the most from the lake bucket today?
--   SELECT person, key_prefix, objects_read, bytes_out / 1e9 AS gigabytes
--   FROM s3_object_reads_daily
--   WHERE bucket = 'example-lake-210987654321' AND event_date = '2026-03-02'
--   ORDER BY bytes_out DESC;
CREATE OR REPLACE VIEW s3_object_reads_daily AS
WITH reads AS (
  SELECT *
  FROM (
    SELECT
      e.event_date,
      e.actor,
      e.role_name,
      coalesce(json_extract_scalar(e.request_parameters, '$.bucketName'), json_extract_scalar(e.request_parameters, '$.BucketName')) AS bucket,
      coalesce(json_extract_scalar(e.request_parameters, '$.key'), json_extract_scalar(e.request_parameters, '$.Key')) AS object_key,
      CAST(json_extract_scalar(e.additional_event_data, '$.bytesTransferredOut') AS double) AS bytes_out,
      row_number() OVER (
        PARTITION BY coalesce(e.event_id, e.source_key || '#' || CAST(e.record_index AS varchar))
        ORDER BY e.source_key, e.record_index
      ) AS copy_number
    FROM events AS e
    WHERE e.event_source = 's3.amazonaws.com'
      AND e.event_name = 'GetObject'
      AND e.error_code IS NULL
  ) AS numbered
  WHERE copy_number = 1
)
SELECT
  r.event_date,
  r.actor,
  coalesce(p.person, r.actor) AS person,
  r.role_name,
  r.bucket,
  split_part(r.object_key, '/', 1) AS key_prefix,
  count(*) AS objects_read,
  sum(r.bytes_out) AS bytes_out
FROM reads AS r
LEFT JOIN people AS p ON p.actor = r.actor
GROUP BY 1, 2, 3, 4, 5, 6
