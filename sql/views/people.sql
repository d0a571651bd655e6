-- Who an actor is, as a person: for an actor that is an IAM Identity Center
-- user id (calls made through trusted identity propagation), the user name
-- `trail-etl identities` found for it in the identity store. Every view that
-- shows `actor` shows `person` beside it, as coalesce(people.person, actor):
-- the name where one is known, else the actor. The identities table is
-- empty until `trail-etl identities` runs; the views work either way.
--
-- Example: the people behind Identity Center user ids.
--   SELECT actor AS user_id, person, display_name, email FROM people;
CREATE OR REPLACE VIEW people AS
SELECT
  user_id AS actor,
  max_by(user_name, fetched_at) AS person,
  max_by(display_name, fetched_at) AS display_name,
  max_by(email, fetched_at) AS email
FROM identities
WHERE user_name IS NOT NULL
GROUP BY user_id
