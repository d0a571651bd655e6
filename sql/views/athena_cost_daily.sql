-- Athena cost per person and workgroup per day: queries, failed queries,
-- queries not enriched (no statistics: run `trail-etl enrich`), bytes
-- scanned, bytes billed and USD at the price in athena_price.
--
-- Example: cost per person this month.
--   SELECT person, sum(queries) AS queries, sum(data_scanned_bytes) / 1e9 AS gb_scanned, round(sum(usd), 2) AS usd
--   FROM athena_cost_daily
--   WHERE event_date >= '2026-03-01'
--   GROUP BY person ORDER BY usd DESC;
CREATE OR REPLACE VIEW athena_cost_daily AS
SELECT
  event_date,
  actor,
  person,
  role_name,
  workgroup,
  count(*) AS queries,
  count_if(coalesce(state, '') = 'FAILED') AS failed_queries,
  count_if(state IS NULL) AS not_enriched,
  sum(data_scanned_bytes) AS data_scanned_bytes,
  sum(billed_bytes) AS billed_bytes,
  sum(usd) AS usd
FROM athena_query_costs
GROUP BY 1, 2, 3, 4, 5
