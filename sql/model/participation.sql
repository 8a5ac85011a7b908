-- Model: participation. One row per program enrollment (a staged row with an
-- entry date).
--   last_service_date: the latest entry, exit, service or test date of the
--     same person at the same partner on or after this entry;
--   wioa_exit_date: that date, once 90 days have passed (as of the run) with
--     no service; null while the person is still active;
--   excluded: the exit reason is a PIRL 923 exclusion.
WITH p AS (
  SELECT l.person_key, s.record_key, s.partner, lower(s.program) AS program, lower(s.funding_stream) AS funding_stream,
         s.entry_date, s.exit_date, lower(s.exit_reason) AS exit_reason, s.hours
  FROM staged s
  JOIN link_map l ON s.record_key = l.record_key
  WHERE s.entry_date IS NOT NULL AND l.person_key IS NOT NULL
),
activity AS (
  SELECT l.person_key, x.partner, x.d
  FROM (
    SELECT record_key, partner, entry_date AS d FROM staged WHERE entry_date IS NOT NULL
    UNION ALL SELECT record_key, partner, exit_date FROM staged WHERE exit_date IS NOT NULL
    UNION ALL SELECT record_key, partner, service_date FROM staged WHERE service_date IS NOT NULL
    UNION ALL SELECT record_key, partner, test_date FROM staged WHERE test_date IS NOT NULL
  ) x
  JOIN link_map l ON x.record_key = l.record_key
  WHERE l.person_key IS NOT NULL
),
last AS (
  SELECT p.record_key, p.partner, p.entry_date, p.program, max(a.d) AS last_service_date
  FROM p
  LEFT JOIN activity a ON a.person_key = p.person_key AND a.partner = p.partner AND a.d >= p.entry_date
  GROUP BY p.record_key, p.partner, p.entry_date, p.program
)
SELECT p.person_key, p.record_key, p.partner, p.program, p.funding_stream, p.entry_date, p.exit_date,
       l.last_service_date,
       CASE WHEN l.last_service_date <= rp.as_of - INTERVAL '90 days' THEN l.last_service_date END AS wioa_exit_date,
       CASE WHEN l.last_service_date <= rp.as_of - INTERVAL '90 days'
            THEN concat(CAST(date_part('year', l.last_service_date) AS BIGINT), 'Q', CAST(date_part('quarter', l.last_service_date) AS BIGINT)) END AS exit_quarter,
       p.exit_reason,
       coalesce(p.exit_reason IN ('institutionalized', 'health', 'deceased', 'reservist', 'foster_youth'), false) AS excluded,
       p.hours,
       concat(CAST(date_part('year', p.entry_date) AS BIGINT), 'Q', CAST(date_part('quarter', p.entry_date) AS BIGINT)) AS entry_quarter,
       concat('PY', CAST(CASE WHEN date_part('month', p.entry_date) >= 7 THEN date_part('year', p.entry_date) ELSE date_part('year', p.entry_date) - 1 END AS BIGINT)) AS program_year
FROM p
JOIN last l ON l.record_key = p.record_key AND l.partner = p.partner AND l.entry_date = p.entry_date
  AND (l.program IS NOT DISTINCT FROM p.program)
CROSS JOIN run_params rp
