"""majordomo-otel: tag agent work once; the tags reach your traces and the gateway's cost records.

```python
import majordomo_otel

majordomo_otel.instrument()
with majordomo_otel.tags(feature="research", user_id="u-1"):
    await agent.run("...")
```

Importing this package is light: the gateway (aiohttp) and Pydantic AI are imported only when used.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .instrument import instrument, uninstrument
from .propagator import MajordomoPropagator
from .tags import TagError, Tags, current_tags, tags

try:
    __version__ = version("majordomo-otel")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
    __version__ = "0.0.0"

__all__ = [
    "MajordomoPropagator",
    "TagError",
    "Tags",
    "__version__",
    "current_tags",
    "instrument",
    "tags",
    "uninstrument",
]
