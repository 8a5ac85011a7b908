-- Staging view `exits`: one row per WIOA exit (90 days without service),
-- PIRL 923 exclusions removed, with the exit quarter as a number (year*4 + q-1),
-- the program year of the exit (July to June) and that year's last quarter
-- as a number (`exit_year_last_qi`: a metric that publishes a program year
-- only once every exit of it can be followed uses it).
SELECT person_key, partner, program, wioa_exit_date AS exit_date, exit_quarter,
       CAST(substr(exit_quarter, 1, 4) AS INT) * 4 + CAST(substr(exit_quarter, 6, 1) AS INT) - 1 AS exit_qi,
       concat('PY', CAST(CASE WHEN date_part('month', wioa_exit_date) >= 7 THEN date_part('year', wioa_exit_date)
                             ELSE date_part('year', wioa_exit_date) - 1 END AS BIGINT)) AS exit_year,
       CAST(CASE WHEN date_part('month', wioa_exit_date) >= 7 THEN date_part('year', wioa_exit_date) + 1
                 ELSE date_part('year', wioa_exit_date) END AS BIGINT) * 4 + 1 AS exit_year_last_qi
FROM participation
WHERE wioa_exit_date IS NOT NULL AND NOT excluded AND person_key IS NOT NULL
