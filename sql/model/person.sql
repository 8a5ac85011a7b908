-- Model: person. One row per linked person; attributes combined across the
-- person's records at every partner:
--   birth_year, gender: the most frequent value (ties: the smallest);
--   county, zip3, home_language, refugee_status, country, education:
--     the value on the most recent record that has one (records of one
--     date: the smallest value, so that a rerun gives the same row);
--   english_learner, foreign_born: true if any record says so;
--   arrival_year: the earliest.
WITH r AS (
  SELECT l.person_key, s.record_key, s.partner, s.birth_year, s.gender, s.county, s.zip3, s.home_language,
         s.english_learner, s.foreign_born, s.refugee_status, s.country_of_origin, s.arrival_year, s.education_level,
         coalesce(s.entry_date, s.service_date, s.test_date, s.credential_date, s.referral_date, s.milestone_date) AS record_date
  FROM staged s
  JOIN link_map l ON s.record_key = l.record_key
  WHERE l.person_key IS NOT NULL
),
years AS (
  SELECT person_key, birth_year, count(*) AS n FROM r WHERE birth_year IS NOT NULL GROUP BY person_key, birth_year
),
genders AS (
  SELECT person_key, gender, count(*) AS n FROM r WHERE gender IS NOT NULL GROUP BY person_key, gender
),
y AS (SELECT person_key, first_value(birth_year ORDER BY n DESC, birth_year) AS birth_year FROM years GROUP BY person_key),
g AS (SELECT person_key, first_value(gender ORDER BY n DESC, gender) AS gender FROM genders GROUP BY person_key),
a AS (
  SELECT person_key,
    first_value(county ORDER BY record_date DESC NULLS LAST, county) IGNORE NULLS AS county,
    first_value(zip3 ORDER BY record_date DESC NULLS LAST, zip3) IGNORE NULLS AS zip3,
    first_value(home_language ORDER BY record_date DESC NULLS LAST, home_language) IGNORE NULLS AS home_language,
    bool_or(english_learner) AS english_learner,
    bool_or(coalesce(foreign_born, country_of_origin IS NOT NULL AND lower(country_of_origin) NOT IN ('united states', 'usa', 'us'))) AS foreign_born,
    first_value(lower(refugee_status) ORDER BY record_date DESC NULLS LAST, lower(refugee_status)) IGNORE NULLS AS refugee_status,
    first_value(country_of_origin ORDER BY record_date DESC NULLS LAST, country_of_origin) IGNORE NULLS AS country_of_origin,
    min(arrival_year) AS arrival_year,
    first_value(education_level ORDER BY record_date DESC NULLS LAST, education_level) IGNORE NULLS AS education_level,
    min(record_date) AS first_seen
  FROM r
  GROUP BY person_key
),
-- Counted from the link table, apart from the ordered aggregates above,
-- partners first: count(DISTINCT partner) per person keeps a set per group
-- and took ten times as long at a million records.
n AS (
  SELECT person_key, count(*) AS partner_count, sum(records) AS record_count
  FROM (SELECT person_key, partner, count(*) AS records FROM link_map WHERE person_key IS NOT NULL GROUP BY person_key, partner) per_partner
  GROUP BY person_key
)
SELECT a.person_key, y.birth_year, g.gender, a.county, a.zip3, a.home_language, a.english_learner, a.foreign_born,
       a.refugee_status, a.country_of_origin, a.arrival_year, a.education_level, n.partner_count, n.record_count, a.first_seen
FROM a
JOIN n ON n.person_key = a.person_key
LEFT JOIN y ON y.person_key = a.person_key
LEFT JOIN g ON g.person_key = a.person_key
