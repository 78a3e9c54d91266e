"""One line a person can act on for any failure of a command (what failed, what to do), never a password.

Shared by the CLI and the gateway's worker supervisor, so both word the same failure the same way.
"""

from __future__ import annotations

import errno
import socket

from ._redact import hide_password


def explain(exc: BaseException) -> str:
    """One line a person can act on: what failed and what to do. Never a password."""
    text = hide_password(str(exc))
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return f"{text}: the port is in use; stop the process using it or choose another with --port"
    if isinstance(exc, ValueError):
        return text
    if isinstance(exc, ModuleNotFoundError):
        extra = "gateway,postgres" if exc.name in ("asyncpg", "psycopg") else "gateway"
        return f'{text}: install the extra it belongs to: pip install "majordomo-otel[{extra}]"'
    if _is_database_error(exc):
        return (
            f"cannot use the database ({type(exc).__name__}: {text or 'no detail'}): check --database-url or "
            "MAJORDOMO_DATABASE_URL and that the server is running and reachable"
        )
    return f"{type(exc).__name__}: {text or 'no detail'} (--verbose shows the traceback)"


def _is_database_error(exc: BaseException) -> bool:
    """Connection and driver errors of either store (by module, so no driver is imported to check)."""
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror):
        return True
    return type(exc).__module__.split(".")[0] in {"asyncpg", "psycopg", "sqlite3"}
