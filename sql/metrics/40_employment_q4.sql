-- name: employment_q4
-- title: Employed in the 4th quarter after exit
-- area: wioa
-- unit: share of exiters
-- aggregation: rate
-- bounds: 0..1
-- dimensions: service_partner, exit_year
-- max_cells: 8
-- description: WIOA primary indicator. Of the people who exited a program, the share with wages in the fourth quarter after the exit quarter. A program year is published once the fourth quarter after its last exit is covered by the wage records (as for employment_q2). In a total over partners or years a person with several exits counts once, as employed if employed after any of them.
WITH e AS (
  SELECT DISTINCT person_key, partner, exit_qi, exit_year FROM exits
  WHERE exit_year_last_qi + 4 <= (SELECT wage_through_qi FROM release_params)
)
SELECT e.person_key, e.partner AS service_partner, e.exit_year,
       max(CASE WHEN w.wages_cents > 0 THEN 1 ELSE 0 END) AS value
FROM e
LEFT JOIN quarterly_wages w ON w.person_key = e.person_key AND w.qi = e.exit_qi + 4
GROUP BY e.person_key, e.partner, e.exit_year
