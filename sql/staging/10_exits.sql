-- Staging view `exits`: one row per WIOA exit (90 days without service),
-- PIRL 923 exclusions removed, with the exit quarter as a number (year*4 + q-1),
-- the program year of the exit (July to June) and that year's last quarter
-- as a number (`exit_year_last_qi`: a metric that publishes a program year
-- only once every exit of it can be followed uses it).
--
-- An exclusion (deceased, institutionalized, a health condition, ...) is a
-- fact about the person, recorded by whichever partner learned it: an exit
-- at another partner within 90 days of an excluded exit is left out too.
--
-- Title II: an adult-education learner (ESL, ABE, ASE) becomes a
-- participant, whose exit the outcome metrics follow, after 12 contact
-- hours; a period of participation with fewer is no exit here. A period
-- with an enrollment whose hours the partner did not send counts. An
-- enrollment sent again in a later file counts its hours once.
WITH enrollments AS (
  SELECT person_key, partner, wioa_exit_date, record_key, program, entry_date, max(hours) AS hours
  FROM participation
  WHERE wioa_exit_date IS NOT NULL AND person_key IS NOT NULL
  GROUP BY person_key, partner, wioa_exit_date, record_key, program, entry_date
),
participant_periods AS (
  SELECT person_key, partner, wioa_exit_date
  FROM enrollments
  GROUP BY person_key, partner, wioa_exit_date
  HAVING bool_or(program IS NULL OR program NOT IN ('esl', 'esl_civics', 'abe', 'ase'))
      OR count(hours) < count(*) OR sum(hours) >= 12
),
excluded_exits AS (
  SELECT DISTINCT person_key, coalesce(exit_date, wioa_exit_date) AS d
  FROM participation
  WHERE excluded AND person_key IS NOT NULL AND coalesce(exit_date, wioa_exit_date) IS NOT NULL
)
SELECT p.person_key, p.partner, p.program, p.wioa_exit_date AS exit_date, p.exit_quarter,
       CAST(substr(p.exit_quarter, 1, 4) AS INT) * 4 + CAST(substr(p.exit_quarter, 6, 1) AS INT) - 1 AS exit_qi,
       concat('PY', CAST(CASE WHEN date_part('month', p.wioa_exit_date) >= 7 THEN date_part('year', p.wioa_exit_date)
                             ELSE date_part('year', p.wioa_exit_date) - 1 END AS BIGINT)) AS exit_year,
       CAST(CASE WHEN date_part('month', p.wioa_exit_date) >= 7 THEN date_part('year', p.wioa_exit_date) + 1
                 ELSE date_part('year', p.wioa_exit_date) END AS BIGINT) * 4 + 1 AS exit_year_last_qi
FROM participation p
JOIN participant_periods pp ON pp.person_key = p.person_key AND pp.partner = p.partner AND pp.wioa_exit_date = p.wioa_exit_date
LEFT JOIN excluded_exits x ON x.person_key = p.person_key
  AND x.d BETWEEN p.wioa_exit_date - INTERVAL '90 days' AND p.wioa_exit_date + INTERVAL '90 days'
WHERE p.wioa_exit_date IS NOT NULL AND NOT p.excluded AND p.person_key IS NOT NULL AND x.person_key IS NULL
