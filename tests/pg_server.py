"""The PostgreSQL server every PostgreSQL test uses: the one on this machine (CI starts it; never skipped)."""

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
