-- name: referral_completion
-- title: Referrals completed (warm handoff within 90 days)
-- area: collective_impact
-- unit: share of referrals' people
-- aggregation: rate
-- bounds: 0..1
-- dimensions: to_partner
-- max_cells: 4
-- description: Of the people referred from one partner to another, the share who enrolled at the receiving partner within 90 days of the referral, as seen in the receiving partner's own records.
SELECT person_key, to_partner,
       max(CASE WHEN days_to_enrollment IS NOT NULL AND days_to_enrollment <= 90 THEN 1 ELSE 0 END) AS value
FROM referral
WHERE person_key IS NOT NULL
GROUP BY person_key, to_partner
