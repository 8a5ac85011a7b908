-- name: credential_attainment
-- title: Credential attainment
-- area: wioa
-- unit: share of training exiters
-- aggregation: rate
-- bounds: 0..1
-- dimensions: exit_year
-- max_cells: 4
-- description: WIOA primary indicator. Of the people who exited career-technical or credit training, the share who earned a recognized postsecondary credential (a certificate, degree, licence or certification, as listed in the recognized_credentials view; not a work-readiness certificate) during participation or within a year after exit, at any partner. A program year (July to June) is published once a year has passed since its last day, so every exit in it has had its whole year.
WITH t AS (
  SELECT DISTINCT e.person_key, e.exit_year, e.exit_date,
         -- The entry of this exit's own period of participation: a
         -- credential earned in an earlier period counts for that one.
         (SELECT min(p.entry_date) FROM participation p WHERE p.person_key = e.person_key AND p.partner = e.partner AND p.program = e.program
            AND p.wioa_exit_date = e.exit_date) AS entry_date
  FROM exits e
  WHERE e.program IN ('cte', 'credit')
    -- A whole program year of exits, each followed for a year: published
    -- once a year has passed since the program year's last day.
    AND make_date(CAST(substr(e.exit_year, 3) AS INT) + 2, 6, 30) <= (SELECT as_of FROM release_params)
)
SELECT t.person_key, t.exit_year,
       max(CASE WHEN c.credential_date IS NOT NULL THEN 1 ELSE 0 END) AS value
FROM t
-- A postsecondary credential WIOA counts (a secondary diploma would count
-- only with employment or further education within the year; not for
-- training exiters here).
LEFT JOIN recognized_credentials c ON c.person_key = t.person_key AND NOT c.secondary
  AND c.credential_date >= t.entry_date AND c.credential_date <= t.exit_date + INTERVAL '1 year'
GROUP BY t.person_key, t.exit_year
