-- name: employment_q2
-- title: Employed in the 2nd quarter after exit
-- area: wioa
-- unit: share of exiters
-- aggregation: rate
-- bounds: 0..1
-- dimensions: service_partner, exit_year
-- weight: 2
-- max_cells: 8
-- description: WIOA primary indicator. Of the people who exited a program (90 days without service), the share with wages in the second quarter after the exit quarter, matched by hashed identity instead of SSN. A program year (July to June) is published once the second quarter after its last exit is covered by the wage records (the release quarter less [metrics] wage_lag_quarters, a public cut-off); until then its cells are left empty, never filled with the part of the year that can be followed. In a total over partners or years a person with several exits counts once, as employed if employed after any of them.
WITH e AS (
  SELECT DISTINCT person_key, partner, exit_qi, exit_year FROM exits
  WHERE exit_year_last_qi + 2 <= (SELECT wage_through_qi FROM release_params)
)
SELECT e.person_key, e.partner AS service_partner, e.exit_year,
       max(CASE WHEN w.wages_cents > 0 THEN 1 ELSE 0 END) AS value
FROM e
LEFT JOIN quarterly_wages w ON w.person_key = e.person_key AND w.qi = e.exit_qi + 2
GROUP BY e.person_key, e.partner, e.exit_year
