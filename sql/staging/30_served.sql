-- Staging view `served`: who a partner served in which program year, from
-- enrollments, services and tests.
SELECT DISTINCT person_key, partner, program_year FROM (
  SELECT person_key, partner, program_year FROM participation
  UNION ALL
  SELECT person_key, partner,
         concat('PY', CAST(CASE WHEN date_part('month', service_date) >= 7 THEN date_part('year', service_date) ELSE date_part('year', service_date) - 1 END AS BIGINT))
  FROM service
  UNION ALL
  SELECT person_key, partner,
         concat('PY', CAST(CASE WHEN date_part('month', test_date) >= 7 THEN date_part('year', test_date) ELSE date_part('year', test_date) - 1 END AS BIGINT))
  FROM assessment
) s
WHERE person_key IS NOT NULL
