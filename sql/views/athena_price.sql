-- Athena's price, set in one place: every cost view reads it. Athena bills
-- the bytes a query scans, rounded up to the next megabyte with a 10 MB
-- minimum per query, at a price per terabyte ($5.00 in most regions; check
-- yours). Failed queries, DDL statements and queries answered from reused
-- results are not billed. A terabyte here is 2^40 bytes and a megabyte 2^20,
-- as in the rounding rule. Edit usd_per_tb and re-create the view to change
-- every cost view at once.
--
-- Example:
--   SELECT usd_per_tb FROM athena_price;
CREATE OR REPLACE VIEW athena_price AS
SELECT
  CAST(5.00 AS double) AS usd_per_tb,
  CAST(1099511627776 AS bigint) AS bytes_per_tb,
  CAST(1048576 AS bigint) AS rounding_bytes,
  CAST(10485760 AS bigint) AS minimum_bytes_per_query
