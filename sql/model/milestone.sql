-- Model: milestone. One row per ALLIES milestone a partner recorded, with
-- its goal area (economic security; health and well-being; credentials and
-- residency; civic participation; providing for children and family).
SELECT l.person_key, s.record_key, s.partner, 'bank_account' AS milestone, s.milestone_bank_account AS achieved, 'economic_security' AS goal_area, s.milestone_date AS recorded_date
FROM staged s JOIN link_map l ON s.record_key = l.record_key
WHERE s.milestone_bank_account IS NOT NULL AND l.person_key IS NOT NULL
UNION ALL
SELECT l.person_key, s.record_key, s.partner, 'health_coverage' AS milestone, s.milestone_health_coverage AS achieved, 'health' AS goal_area, s.milestone_date AS recorded_date
FROM staged s JOIN link_map l ON s.record_key = l.record_key
WHERE s.milestone_health_coverage IS NOT NULL AND l.person_key IS NOT NULL
UNION ALL
SELECT l.person_key, s.record_key, s.partner, 'drivers_license' AS milestone, s.milestone_drivers_license AS achieved, 'credentials_and_residency' AS goal_area, s.milestone_date AS recorded_date
FROM staged s JOIN link_map l ON s.record_key = l.record_key
WHERE s.milestone_drivers_license IS NOT NULL AND l.person_key IS NOT NULL
UNION ALL
SELECT l.person_key, s.record_key, s.partner, 'itin_taxes' AS milestone, s.milestone_itin_taxes AS achieved, 'credentials_and_residency' AS goal_area, s.milestone_date AS recorded_date
FROM staged s JOIN link_map l ON s.record_key = l.record_key
WHERE s.milestone_itin_taxes IS NOT NULL AND l.person_key IS NOT NULL
UNION ALL
SELECT l.person_key, s.record_key, s.partner, 'citizenship' AS milestone, s.milestone_citizenship AS achieved, 'credentials_and_residency' AS goal_area, s.milestone_date AS recorded_date
FROM staged s JOIN link_map l ON s.record_key = l.record_key
WHERE s.milestone_citizenship IS NOT NULL AND l.person_key IS NOT NULL
UNION ALL
SELECT l.person_key, s.record_key, s.partner, 'civic' AS milestone, s.milestone_civic AS achieved, 'civic_participation' AS goal_area, s.milestone_date AS recorded_date
FROM staged s JOIN link_map l ON s.record_key = l.record_key
WHERE s.milestone_civic IS NOT NULL AND l.person_key IS NOT NULL
UNION ALL
SELECT l.person_key, s.record_key, s.partner, 'child_care' AS milestone, s.milestone_child_care AS achieved, 'children_and_family' AS goal_area, s.milestone_date AS recorded_date
FROM staged s JOIN link_map l ON s.record_key = l.record_key
WHERE s.milestone_child_care IS NOT NULL AND l.person_key IS NOT NULL
