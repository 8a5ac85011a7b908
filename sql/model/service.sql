-- Model: service. One row per service delivered.
SELECT l.person_key, s.record_key, s.partner, lower(s.service_type) AS service_type, s.service_date
FROM staged s
JOIN link_map l ON s.record_key = l.record_key
WHERE s.service_date IS NOT NULL AND l.person_key IS NOT NULL
