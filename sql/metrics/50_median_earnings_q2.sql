-- name: median_earnings_q2
-- title: Median quarterly earnings in the 2nd quarter after exit
-- area: wioa
-- unit: dollars per quarter (cents)
-- aggregation: median
-- bounds: 0..6000000
-- dimensions: service_partner, exit_year
-- weight: 2
-- max_cells: 8
-- description: WIOA primary indicator. Median wages in the second quarter after exit, among exiters employed in that quarter. Earnings are capped at $60,000 a quarter. A program year is published once the second quarter after its last exit is covered by the wage records (as for employment_q2). In a total over partners or years a person with several exits counts once, with their highest such earnings.
WITH e AS (
  SELECT DISTINCT person_key, partner, exit_qi, exit_year FROM exits
  WHERE exit_year_last_qi + 2 <= (SELECT wage_through_qi FROM release_params)
)
SELECT e.person_key, e.partner AS service_partner, e.exit_year, max(w.wages_cents) AS value
FROM e
JOIN quarterly_wages w ON w.person_key = e.person_key AND w.qi = e.exit_qi + 2
WHERE w.wages_cents > 0
GROUP BY e.person_key, e.partner, e.exit_year
