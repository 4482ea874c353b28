"""Database adapters: MySQL/MariaDB through PyMySQL, PostgreSQL through psycopg 3."""
