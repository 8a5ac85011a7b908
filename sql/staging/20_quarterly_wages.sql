-- Staging view `quarterly_wages`: total wages per person and quarter, all
-- employers, with the quarter as a number (year*4 + q-1).
SELECT person_key, year_quarter,
       CAST(substr(year_quarter, 1, 4) AS INT) * 4 + CAST(substr(year_quarter, 6, 1) AS INT) - 1 AS qi,
       sum(wages_cents) AS wages_cents
FROM employment
WHERE person_key IS NOT NULL
GROUP BY person_key, year_quarter
