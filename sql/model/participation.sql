-- Model: participation. One row per program enrollment (a staged row with an
-- entry date).
--   last_service_date: the end of the period of participation the entry
--     belongs to. A person's activity at a partner (entry, exit, service,
--     test and milestone dates) falls into periods: a gap of more than 90
--     days without activity ends one, and the next activity starts another.
--     The date is the period's last activity;
--   wioa_exit_date: that date, once 90 days have passed (as of the run) with
--     no service; null while the person is still active. A person who left
--     and came back has an exit for each period;
--   excluded: the exit reason is a PIRL 923 exclusion.
WITH p AS (
  SELECT l.person_key, s.record_key, s.partner, lower(s.program) AS program, lower(s.funding_stream) AS funding_stream,
         s.entry_date, s.exit_date, lower(s.exit_reason) AS exit_reason, s.hours
  FROM staged s
  JOIN link_map l ON s.record_key = l.record_key
  WHERE s.entry_date IS NOT NULL AND l.person_key IS NOT NULL
),
activity AS (
  SELECT DISTINCT l.person_key, x.partner, x.d
  FROM (
    SELECT record_key, partner, entry_date AS d FROM staged WHERE entry_date IS NOT NULL
    UNION ALL SELECT record_key, partner, exit_date FROM staged WHERE exit_date IS NOT NULL
    UNION ALL SELECT record_key, partner, service_date FROM staged WHERE service_date IS NOT NULL
    UNION ALL SELECT record_key, partner, test_date FROM staged WHERE test_date IS NOT NULL
    -- A milestone is recorded at a contact with the person (a case
    -- manager's visit): without it, a partner that sends only an intake
    -- date would have everyone exit on the day they came in.
    UNION ALL SELECT record_key, partner, milestone_date FROM staged WHERE milestone_date IS NOT NULL
  ) x
  JOIN link_map l ON x.record_key = l.record_key
  WHERE l.person_key IS NOT NULL
),
-- Each activity date with whether the next one starts a new period (more
-- than 90 days later, or none), then the period's last date: the first such
-- date from this one on.
flagged AS (
  SELECT person_key, partner, d,
         CASE WHEN lead(d) OVER w IS NULL OR lead(d) OVER w > d + INTERVAL '90 days' THEN d END AS end_d
  FROM activity
  WINDOW w AS (PARTITION BY person_key, partner ORDER BY d)
),
ends AS (
  SELECT person_key, partner, d,
         first_value(end_d) IGNORE NULLS OVER (PARTITION BY person_key, partner ORDER BY d ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS last_d
  FROM flagged
)
SELECT p.person_key, p.record_key, p.partner, p.program, p.funding_stream, p.entry_date, p.exit_date,
       e.last_d AS last_service_date,
       CASE WHEN e.last_d <= rp.as_of - INTERVAL '90 days' THEN e.last_d END AS wioa_exit_date,
       CASE WHEN e.last_d <= rp.as_of - INTERVAL '90 days'
            THEN concat(CAST(date_part('year', e.last_d) AS BIGINT), 'Q', CAST(date_part('quarter', e.last_d) AS BIGINT)) END AS exit_quarter,
       p.exit_reason,
       coalesce(p.exit_reason IN ('institutionalized', 'health', 'deceased', 'reservist', 'foster_youth'), false) AS excluded,
       p.hours,
       concat(CAST(date_part('year', p.entry_date) AS BIGINT), 'Q', CAST(date_part('quarter', p.entry_date) AS BIGINT)) AS entry_quarter,
       concat('PY', CAST(CASE WHEN date_part('month', p.entry_date) >= 7 THEN date_part('year', p.entry_date) ELSE date_part('year', p.entry_date) - 1 END AS BIGINT)) AS program_year
FROM p
JOIN ends e ON e.person_key = p.person_key AND e.partner = p.partner AND e.d = p.entry_date
CROSS JOIN run_params rp
