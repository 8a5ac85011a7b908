-- name: referral_completion
-- title: Referrals completed (warm handoff within 90 days)
-- area: collective_impact
-- unit: share of referrals' people
-- aggregation: rate
-- bounds: 0..1
-- dimensions: to_partner
-- max_cells: 4
-- description: Of the people referred from one partner to another, the share who enrolled at the receiving partner within 90 days of the referral, as seen in the receiving partner's own records. Referrals of the last 90 days before the release are left out until their 90 days have passed.
SELECT person_key, to_partner,
       max(CASE WHEN days_to_enrollment IS NOT NULL AND days_to_enrollment <= 90 THEN 1 ELSE 0 END) AS value
FROM referral
WHERE person_key IS NOT NULL
  -- A referral made in the last 90 days before the release has not had its
  -- 90 days: it is neither a success nor a failure yet.
  AND referral_date <= (SELECT as_of FROM release_params) - INTERVAL '90 days'
GROUP BY person_key, to_partner
