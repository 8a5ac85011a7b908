-- Model: person_key_history. Every change of a person key, run after run.
SELECT run_id, event, person_key, related_key, records, "at" FROM history_prev
UNION ALL
SELECT run_id, event, person_key, related_key, records, "at" FROM key_events
