"""`canary diff tables`: a MySQL table against a PostgreSQL table, by key, at scale."""
