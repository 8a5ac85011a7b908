-- Model: referral. One row per referral, with the warm handoff: the first
-- entry of the same person at the receiving partner on or after the
-- referral date.
WITH r AS (
  SELECT l.person_key, s.record_key, s.partner AS from_partner, s.referral_to AS to_partner, s.referral_date,
         lower(s.referral_outcome) AS outcome
  FROM staged s
  JOIN link_map l ON s.record_key = l.record_key
  WHERE s.referral_date IS NOT NULL AND l.person_key IS NOT NULL
),
entries AS (
  SELECT l.person_key, s.partner, s.entry_date
  FROM staged s JOIN link_map l ON s.record_key = l.record_key
  WHERE s.entry_date IS NOT NULL AND l.person_key IS NOT NULL
),
first_entry AS (
  SELECT r.record_key, r.to_partner, r.referral_date, min(e.entry_date) AS enrolled_date
  FROM r
  LEFT JOIN entries e ON e.person_key = r.person_key AND e.partner = r.to_partner AND e.entry_date >= r.referral_date
  GROUP BY r.record_key, r.to_partner, r.referral_date
)
SELECT r.person_key, r.record_key, r.from_partner, r.to_partner, r.referral_date, r.outcome, f.enrolled_date,
       CAST(f.enrolled_date - r.referral_date AS INT) AS days_to_enrollment
FROM r
JOIN first_entry f ON f.record_key = r.record_key AND (f.to_partner IS NOT DISTINCT FROM r.to_partner) AND f.referral_date = r.referral_date
