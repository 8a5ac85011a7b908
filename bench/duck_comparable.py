#!/usr/bin/env python3
"""DuckDB doing more of the work of braid's ingest, for scale (not the goal).

    duck_comparable.py CSV OUT_DIR THREADS

Reads the ingest benchmark's CSV (bench/run.py, section "ingest") and writes
OUT_DIR/records.parquet and OUT_DIR/identities.parquet with zstd:

- every one of the 16 columns is read; the birth date is parsed and checked
  for plausibility (not in the future, age 14 to 100), sex, yes/no and ZIP
  codes are normalized, the other codes lower-cased and trimmed;
- eleven hashes a row, where braid computes keyed BLAKE3 tokens: the record
  key, a digest of the whole row (for exact duplicates), the three name
  fields (trimmed, accents stripped, lower case), the birth date, the
  phone's digits, the e-mail address, the street address with its ZIP code,
  the ZIP code and the city. DuckDB has no keyed hash; md5 of a per-field
  prefix and the value stands in;
- exact duplicate rows are dropped but one (braid keeps the first and
  quarantines the others).

It still does less than braid: names are not split into parts, and there
are no name variants, nicknames, phonetic codes, Bloom filters or one-edit
neighbourhoods, no rejection reasons per row, no ingest ledger.
"""
import sys

import duckdb

csv, out, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
con = duckdb.connect()
con.execute(f"SET threads TO {threads}")
con.execute(f"""CREATE TEMP TABLE staged AS
WITH src AS (
  SELECT *, regexp_replace(Zip, '[^0-9]', '', 'g') AS zip_digits
  FROM read_csv('{csv}', header = true, all_varchar = true)
), typed AS (
  SELECT *,
    try_strptime(trim(BirthDate), '%m/%d/%Y')::DATE AS dob,
    CASE WHEN length(zip_digits) IN (5, 9) THEN left(zip_digits, 5) END AS zip5,
    lower(strip_accents(trim(FirstName))) AS given_clean,
    lower(strip_accents(trim(MiddleName))) AS middle_clean,
    lower(strip_accents(trim(LastName))) AS family_clean
  FROM src
), hashed AS (
  SELECT
    md5_number('record|' || StudentID) AS record_key,
    md5_number(concat_ws('|', StudentID, LastName, FirstName, MiddleName, BirthDate, Gender, Address, City, Zip,
        Phone, Email, HomeLanguage, CountryOfBirth, ESL, County, HighestEd)) AS row_digest,
    dob,
    dob IS NOT NULL AND dob <= current_date AND date_diff('year', dob, current_date) BETWEEN 14 AND 100 AS dob_plausible,
    CASE upper(trim(Gender)) WHEN 'F' THEN 'female' WHEN 'M' THEN 'male' END AS sex,
    left(zip5, 3) AS zip3,
    lower(trim(HomeLanguage)) AS home_language,
    lower(trim(CountryOfBirth)) AS country_of_origin,
    CASE upper(trim(ESL)) WHEN 'Y' THEN true WHEN 'N' THEN false END AS english_learner,
    trim(County) AS county,
    lower(trim(HighestEd)) AS education_level,
    md5_number('given|' || given_clean) AS given,
    md5_number('middle|' || middle_clean) AS middle,
    md5_number('family|' || family_clean) AS family,
    md5_number('dob|' || strftime(dob, '%Y-%m-%d')) AS dob_token,
    md5_number('phone|' || regexp_replace(Phone, '[^0-9]', '', 'g')) AS phone,
    md5_number('email|' || lower(trim(Email))) AS email,
    md5_number('address|' || lower(trim(Address)) || '|' || zip5) AS address,
    md5_number('zip|' || zip5) AS zip_token,
    md5_number('city|' || lower(trim(City))) AS city
  FROM typed
)
-- (DISTINCT ON is DuckDB's cheapest way here: a window over the digest
-- took 0.6 s more on the benchmark's file, DISTINCT ON 0.2 s.)
SELECT DISTINCT ON (row_digest) * FROM hashed""")
con.execute(f"""COPY (SELECT record_key, dob, dob_plausible, sex, zip3, home_language, country_of_origin,
    english_learner, county, education_level FROM staged)
  TO '{out}/records.parquet' (FORMAT parquet, COMPRESSION zstd)""")
con.execute(f"""COPY (SELECT record_key, given, middle, family, dob_token, phone, email, address, zip_token, city
    FROM staged)
  TO '{out}/identities.parquet' (FORMAT parquet, COMPRESSION zstd)""")
