-- name: skill_gains
-- title: Measurable skill gains (educational functioning level)
-- area: english_proficiency
-- unit: share of tested English learners
-- aggregation: rate
-- bounds: 0..1
-- dimensions: program_year
-- max_cells: 4
-- description: WIOA primary indicator and ALLIES English proficiency. Of the learners with a pre-test in the program year, the share whose later post-test places them in a higher NRS level (cut scores from config/nrs_levels.toml).
WITH t AS (
  SELECT person_key, test, test_date, nrs_level,
         concat('PY', CAST(CASE WHEN date_part('month', test_date) >= 7 THEN date_part('year', test_date) ELSE date_part('year', test_date) - 1 END AS BIGINT)) AS program_year
  FROM assessment
  WHERE nrs_level IS NOT NULL AND person_key IS NOT NULL
),
pre AS (
  SELECT person_key, test, program_year, min(test_date) AS first_date FROM t GROUP BY person_key, test, program_year
),
pre_level AS (
  SELECT p.person_key, p.test, p.program_year, p.first_date, min(t.nrs_level) AS level
  FROM pre p JOIN t ON t.person_key = p.person_key AND t.test = p.test AND t.test_date = p.first_date
  GROUP BY p.person_key, p.test, p.program_year, p.first_date
)
SELECT p.person_key, p.program_year,
       max(CASE WHEN t.nrs_level > p.level THEN 1 ELSE 0 END) AS value
FROM pre_level p
LEFT JOIN t ON t.person_key = p.person_key AND t.test = p.test AND t.test_date > p.first_date
  AND t.program_year = p.program_year
GROUP BY p.person_key, p.program_year
