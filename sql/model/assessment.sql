-- Model: assessment. One row per test taken, with the NRS educational
-- functioning level from the versioned cut-score table (config/nrs_levels.toml).
SELECT l.person_key, s.record_key, s.partner, lower(s.test) AS test, s.test_form AS form, s.test_date, s.scale_score,
       c.level AS nrs_level, c.table_id AS nrs_table
FROM staged s
JOIN link_map l ON s.record_key = l.record_key
LEFT JOIN nrs_cut_scores c ON c.test = lower(s.test) AND s.scale_score >= c.min_score AND s.scale_score <= c.max_score
WHERE s.test IS NOT NULL AND s.scale_score IS NOT NULL AND l.person_key IS NOT NULL
