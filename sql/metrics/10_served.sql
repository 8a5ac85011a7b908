-- name: served
-- title: People served
-- area: collective_impact
-- unit: people
-- aggregation: count
-- dimensions: service_partner, program_year
-- weight: 3
-- max_cells: 20
-- description: People with an enrollment, a service or a test at a partner in the program year. The total counts each person once, however many partners served them; the partner counts added up count them once per partner.
SELECT person_key, partner AS service_partner, program_year FROM served
