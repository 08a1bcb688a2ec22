"""Read SQL of the API: the queries behind its lists and records."""
