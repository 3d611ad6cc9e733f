"""HDR histograms of latencies: log-linear buckets, 3 significant digits, mergeable.

This is HdrHistogram's bucketing (Gil Tene's ``AbstractHistogram``) in numpy, so
histograms written here decode in HdrHistogram's own tools and the other way round.

- Values are whole **microseconds** (``UNIT_S``): a latency in seconds is rounded to
  the nearest µs before it is recorded.
- With ``significant_digits = 3`` the layout keeps 2048 sub-buckets per power of two:
  every value below 2048 µs has its own bucket, and above that a bucket spans at most
  1/1024 of its values. ``value_at_percentile`` answers the nearest-rank percentile
  (``docs/architecture.md``) of the bucketed values and reports the bucket's highest
  equivalent value, as HdrHistogram does. So for the exact nearest-rank percentile
  ``x`` of the same latencies, ``x - 0.5 µs <= hdr <= x * (1 + 2**-10) + 1 µs``:
  :data:`RELATIVE_ERROR` plus the µs rounding.
- Histograms with the same layout merge by adding their counts, so the histogram of
  all requests equals the sum of the per-worker histograms.
- :meth:`HdrHistogram.encode` writes HdrHistogram's V2 compressed encoding
  (cookie ``0x1c849314``, zlib, base64: the ``HISTF...`` strings of its log format);
  :meth:`HdrHistogram.decode` reads it back.

Values above ``highest_trackable_units`` (one hour by default) are clamped to it and
counted in ``clamped`` rather than refused, so one absurd latency cannot break a report.
"""

from __future__ import annotations

import base64
import math
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from reports.percentiles import SUMMARY_PERCENTILES, LatencySummary, nearest_rank

__all__ = ["RELATIVE_ERROR", "UNIT_S", "HdrHistogram", "HdrLayout", "to_units"]

UNIT_S = 1e-6
"""Seconds per recorded unit: histograms count whole microseconds."""

RELATIVE_ERROR = 2.0**-10
"""Largest relative width of a bucket with 3 significant digits (1/1024 < 0.1%)."""

_V2_COOKIE = 0x1C849303 | 0x10
_V2_COMPRESSED_COOKIE = 0x1C849304 | 0x10
_HEADER = struct.Struct(">iiiiqqd")  # cookie, payload length, index offset, digits, lowest, highest, ratio
_COMPRESSED_HEADER = struct.Struct(">ii")

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class HdrLayout:
    """Bucket layout: what values are tracked and with how many significant digits.

    Raises:
        ValueError: ``significant_digits`` not in 1..5, ``lowest_units`` < 1, or
            ``highest_units`` < 2 × ``lowest_units``.
    """

    lowest_units: int = 1
    highest_units: int = 3_600_000_000  # one hour in µs
    significant_digits: int = 3

    def __post_init__(self) -> None:
        if not 1 <= self.significant_digits <= 5:
            raise ValueError(f"significant_digits must be in 1..5, got {self.significant_digits}")
        if self.lowest_units < 1:
            raise ValueError(f"lowest_units must be >= 1, got {self.lowest_units}")
        if self.highest_units < 2 * self.lowest_units:
            raise ValueError(f"highest_units must be >= 2 * lowest_units, got {self.highest_units}")

    @property
    def unit_magnitude(self) -> int:
        return math.floor(math.log2(self.lowest_units))

    @property
    def sub_bucket_count_magnitude(self) -> int:
        return math.ceil(math.log2(2 * 10**self.significant_digits))

    @property
    def sub_bucket_half_count_magnitude(self) -> int:
        return self.sub_bucket_count_magnitude - 1

    @property
    def sub_bucket_count(self) -> int:
        return 1 << self.sub_bucket_count_magnitude

    @property
    def sub_bucket_half_count(self) -> int:
        return self.sub_bucket_count // 2

    @property
    def bucket_count(self) -> int:
        smallest_untrackable = self.sub_bucket_count << self.unit_magnitude
        buckets = 1
        while smallest_untrackable <= self.highest_units:
            smallest_untrackable <<= 1
            buckets += 1
        return buckets

    @property
    def counts_length(self) -> int:
        return (self.bucket_count + 1) * self.sub_bucket_half_count

    def index_of(self, units: IntArray) -> IntArray:
        """Counts-array index of each value (values must be in ``0..highest_units``)."""
        mask = (self.sub_bucket_count - 1) << self.unit_magnitude
        # floor(log2(v | mask)): exact through float64 for values below 2**53.
        _, exponent = np.frexp((units | mask).astype(np.float64))
        bucket = exponent.astype(np.int64) - 1 - self.unit_magnitude - self.sub_bucket_half_count_magnitude
        sub_bucket = units >> (bucket + self.unit_magnitude)
        return ((bucket + 1) << self.sub_bucket_half_count_magnitude) + (
            sub_bucket - self.sub_bucket_half_count
        )

    def lowest_value_at(self, index: IntArray) -> IntArray:
        """The lowest value each counts-array index stands for."""
        bucket, sub_bucket = self._split(index)
        return sub_bucket << (bucket + self.unit_magnitude)

    def highest_value_at(self, index: IntArray) -> IntArray:
        """The highest value each counts-array index stands for (HdrHistogram's highest equivalent)."""
        bucket, _ = self._split(index)
        return self.lowest_value_at(index) + (np.int64(1) << (bucket + self.unit_magnitude)) - 1

    def _split(self, index: IntArray) -> tuple[IntArray, IntArray]:
        index = np.asarray(index, dtype=np.int64)
        bucket = (index >> self.sub_bucket_half_count_magnitude) - 1
        sub_bucket = (index & (self.sub_bucket_half_count - 1)) + self.sub_bucket_half_count
        below = bucket < 0
        sub_bucket = np.where(below, sub_bucket - self.sub_bucket_half_count, sub_bucket)
        bucket = np.where(below, 0, bucket)
        return bucket, sub_bucket


DEFAULT_LAYOUT = HdrLayout()


def to_units(seconds: npt.ArrayLike) -> IntArray:
    """Latencies in seconds to whole microseconds (rounded to nearest; negatives become 0).

    Raises:
        ValueError: a value is NaN or infinite.
    """
    array = np.asarray(seconds, dtype=np.float64)
    if array.size and not bool(np.isfinite(array).all()):
        raise ValueError("latency values must be finite numbers; drop missing ones before recording")
    return np.maximum(np.rint(array / UNIT_S), 0).astype(np.int64)


class HdrHistogram:
    """Counts of latencies in HdrHistogram's log-linear buckets (see the module docstring)."""

    __slots__ = ("clamped", "counts", "layout")

    def __init__(self, layout: HdrLayout = DEFAULT_LAYOUT) -> None:
        self.layout = layout
        self.counts: IntArray = np.zeros(layout.counts_length, dtype=np.int64)
        self.clamped = 0

    @classmethod
    def from_seconds(cls, seconds: npt.ArrayLike, layout: HdrLayout = DEFAULT_LAYOUT) -> HdrHistogram:
        """A histogram of latencies given in seconds."""
        histogram = cls(layout)
        histogram.record_units(to_units(seconds))
        return histogram

    def record_units(self, units: npt.ArrayLike, weights: npt.ArrayLike | None = None) -> None:
        """Record values (whole µs), each ``weights`` times (default once)."""
        values = np.asarray(units, dtype=np.int64).ravel()
        if values.size == 0:
            return
        values = np.maximum(values, 0)
        over = values > self.layout.highest_units
        if bool(over.any()):
            self.clamped += int(over.sum() if weights is None else np.asarray(weights)[over].sum())
            values = np.minimum(values, self.layout.highest_units)
        index = self.layout.index_of(values)
        if weights is None:
            self.counts += np.bincount(index, minlength=self.counts.size).astype(np.int64)
        else:
            w = np.asarray(weights, dtype=np.int64).ravel()
            self.counts += np.bincount(index, weights=w, minlength=self.counts.size).astype(np.int64)

    def record_seconds(self, seconds: npt.ArrayLike) -> None:
        """Record latencies given in seconds."""
        self.record_units(to_units(seconds))

    def add(self, other: HdrHistogram) -> None:
        """Add another histogram's counts into this one (the merge of per-worker histograms).

        Raises:
            ValueError: the layouts differ.
        """
        if other.layout != self.layout:
            raise ValueError(
                f"cannot merge histograms of different layouts: {self.layout} and {other.layout}"
            )
        self.counts += other.counts
        self.clamped += other.clamped

    @classmethod
    def merged(cls, histograms: Iterable[HdrHistogram], layout: HdrLayout = DEFAULT_LAYOUT) -> HdrHistogram:
        """One histogram holding every value of ``histograms``."""
        total = cls(layout)
        for histogram in histograms:
            total.add(histogram)
        return total

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def value_at_percentile(self, p: float) -> float | None:
        """The nearest-rank p-th percentile in seconds (bucket's highest equivalent), ``None`` if empty.

        Raises:
            ValueError: ``p`` is not in (0, 100].
        """
        values = self.values_at_percentiles([p])
        return values[0]

    def values_at_percentiles(self, ps: Iterable[float]) -> list[float | None]:
        """Several percentiles in one pass over the counts (seconds; ``None`` when empty)."""
        ps = list(ps)
        total = self.total
        if total == 0:
            for p in ps:
                nearest_rank(1, p)  # still validates p
            return [None] * len(ps)
        cumulative = np.cumsum(self.counts)
        ranks = np.array([nearest_rank(total, p) for p in ps], dtype=np.int64)
        index = np.searchsorted(cumulative, ranks, side="left")
        return [float(v) * UNIT_S for v in self.layout.highest_value_at(index)]

    def summary(self) -> LatencySummary:
        """The keys of :func:`reports.percentiles.summarize_latency`, from the buckets.

        ``min`` is the lowest and ``max`` the highest equivalent value of the extreme
        buckets; ``mean`` weighs each bucket's midpoint, as HdrHistogram does.
        """
        total = self.total
        out: LatencySummary = {"count": total}
        if total == 0:
            out.update(
                {"mean": None, "min": None, **{f"p{p}": None for p in SUMMARY_PERCENTILES}, "max": None}
            )
            return out
        nonzero = np.flatnonzero(self.counts)
        lows = self.layout.lowest_value_at(nonzero)
        highs = self.layout.highest_value_at(nonzero)
        mids = (lows + highs + 1) / 2.0
        out["mean"] = float((mids * self.counts[nonzero]).sum() / total) * UNIT_S
        out["min"] = float(lows[0]) * UNIT_S
        for p, value in zip(
            SUMMARY_PERCENTILES, self.values_at_percentiles(SUMMARY_PERCENTILES), strict=True
        ):
            out[f"p{p}"] = value
        out["max"] = float(highs[-1]) * UNIT_S
        return out

    def to_dict(self) -> dict[str, Any]:
        """Summary figures plus the encoded histogram, for ``summary.json``."""
        figures: dict[str, Any] = dict(self.summary())
        figures["p99.9"] = self.value_at_percentile(99.9)
        figures["clamped"] = self.clamped
        figures["encoded"] = self.encode()
        return figures

    def encode(self) -> str:
        """HdrHistogram's V2 compressed encoding, base64 (decodes with HdrHistogram's own tools)."""
        nonzero = np.flatnonzero(self.counts)
        limit = int(nonzero[-1]) + 1 if nonzero.size else 0
        payload = _encode_counts(self.counts[:limit])
        layout = self.layout
        header = _HEADER.pack(
            _V2_COOKIE,
            len(payload),
            0,
            layout.significant_digits,
            layout.lowest_units,
            layout.highest_units,
            1.0,
        )
        compressed = zlib.compress(header + payload)
        return base64.b64encode(
            _COMPRESSED_HEADER.pack(_V2_COMPRESSED_COOKIE, len(compressed)) + compressed
        ).decode("ascii")

    @classmethod
    def decode(cls, text: str) -> HdrHistogram:
        """Read a histogram written by :meth:`encode` (or by HdrHistogram, V2 compressed).

        Raises:
            ValueError: not a V2 compressed histogram, or a corrupt one.
        """
        try:
            raw = base64.b64decode(text, validate=True)
            cookie, length = _COMPRESSED_HEADER.unpack_from(raw)
            if cookie != _V2_COMPRESSED_COOKIE:
                raise ValueError(f"unknown cookie {cookie:#x}, expected {_V2_COMPRESSED_COOKIE:#x}")
            body = zlib.decompress(raw[_COMPRESSED_HEADER.size : _COMPRESSED_HEADER.size + length])
            cookie, payload_length, offset, digits, lowest, highest, _ratio = _HEADER.unpack_from(body)
        except (ValueError, struct.error, zlib.error) as exc:
            raise ValueError(f"not an HdrHistogram V2 compressed histogram: {exc}") from exc
        if cookie != _V2_COOKIE or offset != 0:
            raise ValueError(f"unsupported HdrHistogram encoding (cookie {cookie:#x}, index offset {offset})")
        histogram = cls(HdrLayout(int(lowest), int(highest), int(digits)))
        counts = _decode_counts(body[_HEADER.size : _HEADER.size + payload_length])
        if len(counts) > histogram.counts.size:
            raise ValueError(f"histogram has {len(counts)} buckets, its layout only {histogram.counts.size}")
        histogram.counts[: len(counts)] = counts
        return histogram


def _encode_counts(counts: IntArray) -> bytes:
    """ZigZag LEB128 counts; a run of two or more zero buckets is written as minus its length."""
    out = bytearray()
    values = counts.tolist()
    i = 0
    n = len(values)
    while i < n:
        count = values[i]
        i += 1
        if count == 0:
            zeros = 1
            while i < n and values[i] == 0:
                zeros += 1
                i += 1
            if zeros > 1:
                count = -zeros
        _put_zigzag(out, count)
    return bytes(out)


def _put_zigzag(out: bytearray, value: int) -> None:
    encoded = ((value << 1) ^ (value >> 63)) & 0xFFFFFFFFFFFFFFFF
    for _ in range(8):
        if encoded < 0x80:
            out.append(encoded)
            return
        out.append((encoded & 0x7F) | 0x80)
        encoded >>= 7
    out.append(encoded & 0xFF)  # the ninth byte holds 8 bits


def _decode_counts(payload: bytes) -> list[int]:
    counts: list[int] = []
    i = 0
    n = len(payload)
    while i < n:
        encoded = 0
        shift = 0
        for byte_number in range(9):
            if i >= n:
                raise ValueError("truncated histogram payload")
            byte = payload[i]
            i += 1
            if byte_number == 8:
                encoded |= byte << shift
                break
            encoded |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        value = (encoded >> 1) ^ -(encoded & 1)
        if value < 0:
            counts.extend([0] * -value)
        else:
            counts.append(value)
    return counts
