"""How each item was made: signed, hash-chained provenance records, content credentials,
verification and lineage."""
