-- name: multi_partner
-- title: Share of people served by two or more partners
-- area: collective_impact
-- unit: share of people served
-- aggregation: rate
-- bounds: 0..1
-- dimensions: program_year
-- max_cells: 4
-- description: Of the people served in the program year, the share that two or more partners served that year. The `all` column counts a person once, as served by two or more partners if they were in any year.
SELECT person_key, program_year, CASE WHEN count(DISTINCT partner) >= 2 THEN 1 ELSE 0 END AS value
FROM served
GROUP BY person_key, program_year
