-- Model: quarantine. Rejected rows of the current file versions: file, line,
-- column and reason, never a value.
SELECT * FROM quarantine_raw
