-- Staging view `recognized_credentials`: credentials of a type WIOA counts
-- (PIRL 1800): a secondary diploma or equivalent (`secondary`), a
-- postsecondary certificate or degree, an occupational licence or
-- certification, a registered apprenticeship. A work-readiness certificate
-- is not one, nor is a type this list does not name: map a partner's codes
-- to these names (`[partner.feed.map.codes.credential_type]`) to count them.
SELECT person_key, record_key, partner, credential_type, credential_date,
       credential_type IN ('secondary_diploma', 'hse', 'ged') AS secondary
FROM credential
WHERE credential_type IN ('secondary_diploma', 'hse', 'ged', 'certificate', 'noncredit_certificate', 'certification',
                          'license', 'associate', 'bachelor', 'apprenticeship')
