"""Usage readers, one per provider API; `reader_for(provider, operation, streamed)` picks one."""

from ._types import Usage, UsageReader, UsageResult, UsageStatus

__all__ = ["Usage", "UsageReader", "UsageResult", "UsageStatus"]
