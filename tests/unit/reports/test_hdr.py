"""HDR histograms: HdrHistogram's layout, its stated error against exact percentiles, merging, encoding."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reports.hdr import RELATIVE_ERROR, UNIT_S, HdrHistogram, HdrLayout, to_units
from reports.percentiles import percentile

latencies = st.lists(
    st.floats(min_value=0.0, max_value=3600.0, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=300,
)
percentiles = st.floats(min_value=0.01, max_value=100.0, allow_nan=False)

# Encoded by the reference implementation (the `hdrhistogram` package, HdrHistogram(1, 3_600_000_000, 3))
# after recording 1 µs ×1, 2 µs ×3, 1000 µs ×2, 2048 µs ×1, 5000 µs ×4, 1 s ×1, 123.456789 s ×2.
REFERENCE = "HISTFAAAADJ4nJNpmSzMwMAgxAABzFCaEURcm7yEwf4DVICJ7SQ/y1oBpoPCHL+rmD7msQAAz8cJ8w=="


def test_layout_matches_hdrhistogram_for_three_digits_and_one_hour() -> None:
    layout = HdrLayout()

    assert (layout.sub_bucket_count, layout.bucket_count, layout.counts_length) == (2048, 22, 23 * 1024)


@given(st.integers(min_value=0, max_value=2047))
def test_values_below_2048_units_have_a_bucket_of_their_own(value: int) -> None:
    layout = HdrLayout()
    index = layout.index_of(np.array([value], dtype=np.int64))

    assert layout.lowest_value_at(index)[0] == value == layout.highest_value_at(index)[0]


@given(st.integers(min_value=0, max_value=3_600_000_000))
def test_every_value_lies_in_its_bucket_and_buckets_are_narrow(value: int) -> None:
    layout = HdrLayout()
    index = layout.index_of(np.array([value], dtype=np.int64))
    low, high = int(layout.lowest_value_at(index)[0]), int(layout.highest_value_at(index)[0])

    assert low <= value <= high
    assert high - low + 1 <= max(1, value * RELATIVE_ERROR)


@settings(max_examples=200, deadline=None)
@given(latencies, percentiles)
def test_hdr_percentiles_stay_within_the_stated_error_of_exact_ones(values: list[float], p: float) -> None:
    exact = percentile(np.sort(values), p)

    approx = HdrHistogram.from_seconds(values).value_at_percentile(p)

    assert approx is not None
    assert exact - 0.5 * UNIT_S - 1e-12 <= approx <= exact * (1 + RELATIVE_ERROR) + UNIT_S


@settings(deadline=None)
@given(st.lists(latencies, min_size=1, max_size=6), percentiles)
def test_merging_per_worker_histograms_equals_the_histogram_of_all_data(
    workers: list[list[float]], p: float
) -> None:
    merged = HdrHistogram.merged(HdrHistogram.from_seconds(values) for values in workers)

    everything = HdrHistogram.from_seconds([value for values in workers for value in values])

    assert np.array_equal(merged.counts, everything.counts)
    assert merged.value_at_percentile(p) == everything.value_at_percentile(p)
    assert merged.summary() == everything.summary()


@settings(deadline=None)
@given(latencies)
def test_encoding_round_trips(values: list[float]) -> None:
    histogram = HdrHistogram.from_seconds(values)

    decoded = HdrHistogram.decode(histogram.encode())

    assert np.array_equal(decoded.counts, histogram.counts)
    assert decoded.layout == histogram.layout


def test_a_histogram_encoded_by_the_reference_implementation_decodes_to_the_same_counts() -> None:
    ours = HdrHistogram()
    ours.record_units([1, 2, 1000, 2048, 5000, 1_000_000, 123_456_789], weights=[1, 3, 2, 1, 4, 1, 2])

    decoded = HdrHistogram.decode(REFERENCE)

    assert np.array_equal(decoded.counts, ours.counts)
    assert ours.encode().startswith("HISTF")
    # The reference answered 2049, 123469823 and 123469823 µs for p50, p90 and p100.
    assert [round(v / UNIT_S) for v in ours.values_at_percentiles([50, 90, 100]) if v is not None] == [
        2049,
        123469823,
        123469823,
    ]


def test_decode_refuses_what_is_not_a_histogram() -> None:
    with pytest.raises(ValueError, match="not an HdrHistogram"):
        HdrHistogram.decode("bm90IGEgaGlzdG9ncmFt")


def test_merging_different_layouts_is_refused() -> None:
    with pytest.raises(ValueError, match="different layouts"):
        HdrHistogram().add(HdrHistogram(HdrLayout(significant_digits=2)))


def test_values_past_the_highest_trackable_are_clamped_and_counted() -> None:
    histogram = HdrHistogram.from_seconds([0.1, 7200.0])

    assert histogram.total == 2 and histogram.clamped == 1
    assert histogram.value_at_percentile(100) == pytest.approx(3600.0, rel=RELATIVE_ERROR)


def test_an_empty_histogram_summarises_to_none_with_the_usual_keys() -> None:
    summary = HdrHistogram().summary()

    assert summary == {
        "count": 0,
        "mean": None,
        "min": None,
        "p50": None,
        "p90": None,
        "p95": None,
        "p99": None,
        "max": None,
    }


def test_seconds_become_whole_microseconds_rounded_to_nearest() -> None:
    assert to_units([0.0000004, 0.0000006, 0.0029, 1.0]).tolist() == [0, 1, 2900, 1_000_000]
    with pytest.raises(ValueError, match="finite"):
        to_units([float("nan")])
