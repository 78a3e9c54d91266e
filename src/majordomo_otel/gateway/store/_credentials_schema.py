"""Schema version 3: `majordomo_provider_credentials`, the provider keys the gateway sends upstream for its clients.

Only the Fernet token of a key is stored (gateway/secret_box.py; the secret is the operator's, never in the
database) and a 4-character hint to recognise it in listings.
"""

from __future__ import annotations

from typing import Final

TABLE: Final = "majordomo_provider_credentials"
#: `api_key_id` of a credential that serves every Majordomo key (NULL cannot be part of a UNIQUE key in both dialects).
EVERY_KEY: Final = ""


def provider_credentials_table(dialect: str) -> list[str]:
    ts = "TIMESTAMPTZ" if dialect == "postgresql" else "TEXT"
    return [
        f"""-- Provider keys held by the gateway, encrypted with the operator's MAJORDOMO_SECRET_KEY.
CREATE TABLE IF NOT EXISTS {TABLE} (
    -- provider table name: openai, anthropic, groq, ...
    provider TEXT NOT NULL,
    -- majordomo_api_keys.id this key is for; '' for every Majordomo key
    api_key_id TEXT NOT NULL DEFAULT '',
    -- Fernet token of the provider key (never the key itself)
    ciphertext TEXT NOT NULL,
    -- last 4 characters of the provider key, for listings
    key_hint TEXT NOT NULL,
    updated_at {ts} NOT NULL,
    PRIMARY KEY (provider, api_key_id)
)"""
    ]
