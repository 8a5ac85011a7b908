-- name: allies_milestones
-- title: ALLIES integration milestones reached
-- area: allies
-- unit: share of people with the milestone recorded
-- aggregation: rate
-- bounds: 0..1
-- dimensions: milestone
-- max_cells: 8
-- description: ALLIES Immigrant Integration Framework goal areas (economic security, health, credentials and residency, civic participation, children and family). Of the people whose partner recorded the milestone, the share who have reached it. The `all` row is not an average of the milestones: it is the share of people who reached at least one of the milestones recorded for them.
SELECT person_key, milestone, max(CASE WHEN achieved THEN 1 ELSE 0 END) AS value
FROM milestone
WHERE person_key IS NOT NULL
GROUP BY person_key, milestone
