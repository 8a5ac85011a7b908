-- Model: ingest_ledger. The ledger of partner file versions, from the state
-- database (rows_read = rows_loaded + rows_quarantined for every loaded file).
SELECT * FROM ledger_files
