-- Model: credential. One row per credential earned.
SELECT l.person_key, s.record_key, s.partner, lower(s.credential_type) AS credential_type, s.credential_date
FROM staged s
JOIN link_map l ON s.record_key = l.record_key
WHERE s.credential_type IS NOT NULL AND l.person_key IS NOT NULL
