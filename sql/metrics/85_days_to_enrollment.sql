-- name: days_to_enrollment
-- title: Median days from referral to enrollment
-- area: collective_impact
-- unit: days
-- aggregation: median
-- bounds: 0..90
-- dimensions: to_partner
-- max_cells: 4
-- description: For referrals that led to an enrollment at the receiving partner within 90 days (as referral_completion counts them), the median number of days between referral and enrollment.
SELECT person_key, to_partner, min(days_to_enrollment) AS value
FROM referral
WHERE person_key IS NOT NULL AND days_to_enrollment IS NOT NULL AND days_to_enrollment <= 90
GROUP BY person_key, to_partner
