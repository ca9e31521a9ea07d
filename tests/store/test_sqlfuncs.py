"""The shared SQL conversions every loader relies on."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-10-09T09:00:00.123456789Z", "2025-10-09 09:00:00.123456789"),
        ("2025-10-09T09:00:00.123456789+02:00", "2025-10-09 07:00:00.123456789"),
        ("2025-10-09 09:00:00-0530", "2025-10-09 14:30:00"),
        ("2025-10-09T09:00:00", "2025-10-09 09:00:00"),
        ("2019-01-22 03:56:14,123", "2019-01-22 03:56:14.123"),
        ("2025-10-09", "2025-10-09 00:00:00"),
        ("1760000000", "2025-10-09 08:53:20"),
        ("1760000000123", "2025-10-09 08:53:20.123"),
        ("1760000000123456", "2025-10-09 08:53:20.123456"),
        ("1760000000123456789", "2025-10-09 08:53:20.123456789"),
        ("1760000000.5", "2025-10-09 08:53:20.5"),
        ("not a time", None),
    ],
)
def test_obsctl_ts_keeps_nanoseconds_and_honours_offsets(store, text, expected):
    assert store.scalar("SELECT obsctl_ts(?)::VARCHAR", [text]) == expected


@pytest.mark.parametrize(
    ("level", "number"),
    [("WARN", 13), ("warning", 13), ("E", 17), ("err", 17), ("Information", 9),
     ("30", 9), ("50", 17), ("60", 21), ("fatal", 21), ("DEBUG", 5), ("trace", 1),
     ("nonsense", None)],
)  # fmt: skip
def test_obsctl_severity_maps_common_level_words(store, level, number):
    assert store.scalar("SELECT obsctl_severity(?)", [level]) == number
