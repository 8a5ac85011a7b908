-- Model: employment. Wages per person, employer and quarter (integer cents),
-- summed over the rows a wage file has for them.
SELECT l.person_key, s.record_key, s.partner, s.wage_year_quarter AS year_quarter, sum(s.wages) AS wages_cents,
       s.employer_key, lower(s.wage_source) AS source
FROM staged s
JOIN link_map l ON s.record_key = l.record_key
WHERE s.wage_year_quarter IS NOT NULL AND s.wages IS NOT NULL AND l.person_key IS NOT NULL
GROUP BY l.person_key, s.record_key, s.partner, s.wage_year_quarter, s.employer_key, lower(s.wage_source)
