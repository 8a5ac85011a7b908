-- name: skill_gains
-- title: Measurable skill gains
-- area: wioa
-- unit: share of participants in education or training
-- aggregation: rate
-- bounds: 0..1
-- dimensions: service_partner, program_year
-- max_cells: 12
-- description: WIOA primary indicator and ALLIES English proficiency; not exit-based. Of the people in an education or training program at a partner during a program year (July to June: ESL, ABE, ASE, career-technical or credit classes; an adult-education learner counts once they have 12 contact hours there in the year, or when the partner did not send the hours of one of their enrollments), the share with at least one skill gain recorded by that partner in that year: a post-test at a higher NRS level than the year's first test of that kind (cut scores from config/nrs_levels.toml), a credential earned (a secondary diploma or equivalent; or a postsecondary certificate, degree, licence or certification, as evidence of occupational skills; not a work-readiness certificate), or, for an adult-education learner, an enrollment in career-technical or credit classes at any partner later in the same year. Transcripts and training progress reports are not in braid's model, so the share is a floor. A program year is published 90 days after it ends, once the partners' files covering it have arrived. In a total over partners or years a person counts once, with a gain if they had one anywhere.
WITH enrollment AS (
  -- One row per enrollment (sent again in a later file, it counts once),
  -- ending at its own exit date when the partner sent one, else at the end
  -- of its period of participation (least() passes over a missing date).
  SELECT person_key, partner, program, entry_date, max(hours) AS hours,
         coalesce(least(max(exit_date), max(last_service_date)), entry_date) AS end_date
  FROM participation
  WHERE program IN ('esl', 'esl_civics', 'abe', 'ase', 'cte', 'credit') AND entry_date IS NOT NULL AND person_key IS NOT NULL
  GROUP BY person_key, record_key, partner, program, entry_date
  HAVING NOT bool_or(excluded)
),
span AS (
  -- The program years from each enrollment's entry to its end.
  SELECT person_key, partner, program IN ('esl', 'esl_civics', 'abe', 'ase') AS adult_ed, hours, entry_date,
         CAST(CASE WHEN date_part('month', entry_date) >= 7 THEN date_part('year', entry_date) ELSE date_part('year', entry_date) - 1 END AS BIGINT) AS first_py,
         CAST(CASE WHEN date_part('month', end_date) >= 7 THEN date_part('year', end_date) ELSE date_part('year', end_date) - 1 END AS BIGINT) AS last_py
  FROM enrollment
),
yearly AS (
  SELECT person_key, partner, adult_ed, hours, entry_date, unnest(range(first_py, greatest(first_py, last_py) + 1)) AS py FROM span
),
by_year AS (
  -- Title II: an adult-education learner is a participant after 12
  -- contact hours at the partner in the year; an enrollment whose hours
  -- the partner did not send counts.
  SELECT person_key, partner, py,
         bool_or(NOT adult_ed) AS in_training,
         count(CASE WHEN adult_ed THEN 1 END) > count(CASE WHEN adult_ed THEN hours END)
           OR sum(CASE WHEN adult_ed THEN hours END) >= 12 AS adult_ed_participant,
         min(CASE WHEN adult_ed THEN entry_date END) AS adult_ed_entry
  FROM yearly
  GROUP BY person_key, partner, py
),
participant AS (
  SELECT person_key, partner, py, CASE WHEN adult_ed_participant THEN adult_ed_entry END AS adult_ed_entry
  FROM by_year
  WHERE in_training OR adult_ed_participant
),
test AS (
  SELECT person_key, partner, test, test_date, nrs_level,
         CAST(CASE WHEN date_part('month', test_date) >= 7 THEN date_part('year', test_date) ELSE date_part('year', test_date) - 1 END AS BIGINT) AS py
  FROM assessment
  WHERE nrs_level IS NOT NULL AND person_key IS NOT NULL AND test_date IS NOT NULL
),
pre AS (
  -- The year's first test of each kind at the partner, at its lowest level.
  SELECT t.person_key, t.partner, t.test, t.py, t.test_date, min(t.nrs_level) AS level
  FROM test t
  JOIN (SELECT person_key, partner, test, py, min(test_date) AS first_date FROM test GROUP BY person_key, partner, test, py) f
    ON f.person_key = t.person_key AND f.partner = t.partner AND f.test = t.test AND f.py = t.py AND f.first_date = t.test_date
  GROUP BY t.person_key, t.partner, t.test, t.py, t.test_date
),
gain AS (
  SELECT DISTINCT p.person_key, p.partner, p.py
  FROM pre p JOIN test t ON t.person_key = p.person_key AND t.partner = p.partner AND t.test = p.test AND t.py = p.py
    AND t.test_date > p.test_date AND t.nrs_level > p.level
  UNION
  -- A credential WIOA counts (not a work-readiness certificate).
  SELECT DISTINCT person_key, partner,
         CAST(CASE WHEN date_part('month', credential_date) >= 7 THEN date_part('year', credential_date) ELSE date_part('year', credential_date) - 1 END AS BIGINT)
  FROM recognized_credentials
  WHERE person_key IS NOT NULL AND credential_date IS NOT NULL
  UNION
  SELECT DISTINCT a.person_key, a.partner, a.py
  FROM participant a JOIN participation c ON c.person_key = a.person_key AND c.program IN ('cte', 'credit')
    AND c.entry_date > a.adult_ed_entry
    AND CAST(CASE WHEN date_part('month', c.entry_date) >= 7 THEN date_part('year', c.entry_date) ELSE date_part('year', c.entry_date) - 1 END AS BIGINT) = a.py
)
SELECT a.person_key, a.partner AS service_partner, concat('PY', CAST(a.py AS VARCHAR)) AS program_year,
       CASE WHEN g.person_key IS NULL THEN 0 ELSE 1 END AS value
FROM participant a
LEFT JOIN gain g ON g.person_key = a.person_key AND g.partner = a.partner AND g.py = a.py
-- A program year is published once it ended 90 days ago, so that the
-- partners' files covering its last weeks have arrived.
WHERE make_date(CAST(a.py AS INT) + 1, 6, 30) + INTERVAL '90 days' < (SELECT as_of FROM release_params)
