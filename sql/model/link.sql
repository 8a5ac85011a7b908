-- Model: link. Every partner record and the person it belongs to.
SELECT record_key, partner, person_key, former_key, match_probability, cluster_size, consent FROM link_map
