"""Database access: the connection pool and numbered migrations."""
