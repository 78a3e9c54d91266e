"""One process-wide cap on the bytes all usage readers hold in their buffers together.

Each reader already bounds its own buffers (a 32 MiB body, a 32 MiB SSE event), but many
concurrent streams each near their own bound still add up to gigabytes. Readers reserve the bytes
they hold here as their buffers grow and give them back when they finish (or are collected); a
reader that cannot reserve more drops its buffers and reports its usage as unreadable, while its
bytes still pass through the proxy untouched.

Everything runs on the event loop thread, so a plain counter is enough: no locks.
"""

from __future__ import annotations

_MIB = 1024 * 1024

#: The default total for all readers' buffers.
DEFAULT_BUFFER_CAP = 256 * _MIB


class BufferBudget:
    """Bytes reserved by live readers (`used`) against the process-wide `cap`.

    Readers change `used` directly (see `_base._DecodingReader._hold`): an attribute update is
    all the hot path can afford.
    """

    __slots__ = ("cap", "used")

    def __init__(self, cap: int = DEFAULT_BUFFER_CAP) -> None:
        self.cap = cap
        self.used = 0

    def over_cap_error(self) -> str:
        """The error of a reader refused a reservation."""
        return f"usage too large to read: buffers of all streams over the {format_bytes(self.cap)} cap"


#: The one budget all readers share; never replaced (readers in flight release into it), only re-capped.
BUFFER_BUDGET = BufferBudget()


def set_buffer_cap(cap_bytes: int) -> int:
    """Set the cap shared by all readers (e.g. from settings, or small in tests); returns the previous one.

    Lowering it below what is held refuses new reservations until enough readers finish.
    """
    if type(cap_bytes) is not int or cap_bytes < 0:
        raise ValueError(f"buffer cap must be a non-negative number of bytes, not {cap_bytes!r}")
    previous = BUFFER_BUDGET.cap
    BUFFER_BUDGET.cap = cap_bytes
    return previous


def format_bytes(n: int) -> str:
    return f"{n // _MIB} MiB" if n and n % _MIB == 0 else f"{n} bytes"
