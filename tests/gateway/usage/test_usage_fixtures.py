"""Every recorded exchange, fed as its wire bytes in chunks of several sizes, reads as expected."""

from __future__ import annotations

import pytest

CHUNK_SIZES = [1, 7, None]  # None: the whole body in one chunk


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES, ids=["1B", "7B", "whole"])
def test_fixture_usage(case, expected, read, chunk_size) -> None:
    assert read(case, chunk_size=chunk_size) == expected
