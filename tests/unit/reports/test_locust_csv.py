"""Reading Locust's own stats CSV, in the exact format Locust 2.x writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from reports import RunFileError, read_locust_stats

# Written by locust.stats.StatsCSV.requests_csv (Locust 2.47) for six POST /v1/turn requests
# of 10, 20, 30, 120, 250 and 1234 ms (one failed), one GET /health of 5 ms and a name that
# was registered but never requested.
LOCUST_STATS_CSV = """\
Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,\
Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,\
99.99%,100%
GET,/health,1,0,5,5.0,5,5,10.0,6721.641025641025,0.0,5,5,5,5,5,5,5,5,5,5,5
POST,/v1/turn,6,1,120,277.3333333333333,10,1234,100.0,40329.846153846156,6721.641025641025,120,120,\
250,250,1200,1200,1200,1200,1200,1200,1200
POST,never,0,0,0,0.0,0,0,0,0.0,0.0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A
,Aggregated,7,1,30,238.42857142857142,5,1234,87.14285714285714,47051.48717948718,6721.641025641025,30,\
120,250,250,1200,1200,1200,1200,1200,1200,1200
"""


def _write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_locust_figures_are_read_per_name_in_seconds(tmp_path: Path) -> None:
    _write(tmp_path / "locust", "locust_stats.csv", LOCUST_STATS_CSV)

    stats = read_locust_stats(tmp_path / "locust")

    assert stats is not None
    turn = stats.rows["/v1/turn"]
    assert (turn.request_type, turn.request_count, turn.failure_count) == ("POST", 6, 1)
    assert turn.median_s == pytest.approx(0.120)
    assert turn.average_s == pytest.approx(0.2773333)
    assert turn.p50_s == pytest.approx(0.120)
    assert turn.p95_s == pytest.approx(1.2)
    assert turn.p99_s == pytest.approx(1.2)
    assert turn.max_s == pytest.approx(1.234)


def test_aggregated_row_is_kept_under_its_locust_name(tmp_path: Path) -> None:
    _write(tmp_path / "locust", "locust_stats.csv", LOCUST_STATS_CSV)

    stats = read_locust_stats(tmp_path / "locust")

    assert stats is not None
    assert list(stats.rows) == ["/health", "/v1/turn", "never", "Aggregated"]
    assert stats.rows["Aggregated"].request_count == 7
    assert stats.rows["Aggregated"].request_type == ""


def test_name_without_requests_has_no_latency_figures(tmp_path: Path) -> None:
    _write(tmp_path / "locust", "locust_stats.csv", LOCUST_STATS_CSV)

    stats = read_locust_stats(tmp_path / "locust")

    assert stats is not None
    never = stats.rows["never"]
    assert (never.median_s, never.average_s, never.p50_s, never.p95_s, never.p99_s) == (None,) * 5


def test_missing_stats_file_gives_none(tmp_path: Path) -> None:
    assert read_locust_stats(tmp_path / "locust") is None
    _write(tmp_path / "locust", "locust_stats_history.csv", LOCUST_STATS_CSV)
    assert read_locust_stats(tmp_path / "locust") is None


def test_any_csv_prefix_is_found(tmp_path: Path) -> None:
    _write(tmp_path / "locust", "run42_stats.csv", LOCUST_STATS_CSV)

    stats = read_locust_stats(tmp_path / "locust")

    assert stats is not None
    assert stats.to_dict()["file"] == "run42_stats.csv"


def test_same_name_under_two_request_types_keeps_both_rows(tmp_path: Path) -> None:
    header = LOCUST_STATS_CSV.splitlines()[0]
    rows = ["GET,/x,1,0,5,5.0,5,5,1,1,0", "POST,/x,2,0,7,7.0,7,7,1,1,0"]
    _write(tmp_path / "locust", "locust_stats.csv", "\n".join([header, *rows]) + "\n")

    stats = read_locust_stats(tmp_path / "locust")

    assert stats is not None
    assert stats.rows["/x"].request_count == 1
    assert stats.rows["POST /x"].request_count == 2


def test_csv_without_locust_columns_is_a_run_file_error(tmp_path: Path) -> None:
    _write(tmp_path / "locust", "locust_stats.csv", "a,b\n1,2\n")

    with pytest.raises(RunFileError, match="missing column"):
        read_locust_stats(tmp_path / "locust")
