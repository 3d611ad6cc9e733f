"""The fault proxy's pure parts: reading client messages, deciding them like a fault server, and
rewriting answers; plus the command line's refusals, which start no process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from fault_servers import FaultInjector, parse_faults
from fault_servers.call_layer import WRONG_SHAPE_RESULT, padding
from fault_servers.cli import main
from fault_servers.model import NO_TRANSPORT_FAULT, TransportDecision
from fault_servers.proxy import AnyToolNames, build_proxy_runtime
from fault_servers.proxy_messages import (
    FORWARD,
    NOT_A_REQUEST,
    Inbound,
    LineBuffer,
    classify,
    exit_status,
    finish_answer,
    handle_request,
    iter_lines,
    pad_response,
    response_id,
)
from fault_servers.stdio_layer import NOT_JSON_LINE, SERVER_UNAVAILABLE_CODE

RUN_START = 1_000.0


class FakeClock:
    def __init__(self, now: float = RUN_START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def line(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode() + b"\n"


def call(request_id: int | str, tool: str) -> bytes:
    return line(
        {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": "tools/call",
            "params": {"name": tool, "arguments": {}},
        }
    )


def injector(faults: str, seed: int = 7, clock: FakeClock | None = None) -> FaultInjector:
    plan = parse_faults(yaml.safe_load(faults), "test")
    return FaultInjector.seeded(plan, seed, clock=clock or FakeClock(), run_start_s=RUN_START)


def decide(faults: str, message: bytes, **kwargs: Any) -> Any:
    inbound = classify(message)
    assert inbound.request_id is not None
    return handle_request(inbound.request_id, inbound, injector(faults, **kwargs))


def decoded(data: bytes) -> Any:
    return json.loads(data)


# ---------------------------------------------------------------- classify / response_id


def test_a_tools_call_is_a_request_naming_its_tool() -> None:
    assert classify(call(3, "echo")) == Inbound(3, "tools/call", "echo")


def test_other_requests_have_a_method_but_no_tool() -> None:
    assert classify(line({"jsonrpc": "2.0", "id": "a", "method": "tools/list"})) == Inbound("a", "tools/list")


def test_a_notification_is_no_request_and_a_cancellation_names_what_it_cancels() -> None:
    initialized = line({"jsonrpc": "2.0", "method": "notifications/initialized"})
    cancelled = line(
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 5, "reason": "x"}}
    )

    assert classify(initialized) == Inbound(method="notifications/initialized")
    assert classify(cancelled) == Inbound(method="notifications/cancelled", cancels=5)


@pytest.mark.parametrize(
    "data",
    [
        b'{"jsonrpc":"2.0","id":1,"result":{}}\n',
        b"not json\n",
        b"[1, 2]\n",
        b'{"jsonrpc":"2.0","id":true,"method":"tools/list"}\n',
        b"\xff\xfe\n",
    ],
    ids=["response", "not-json", "batch", "bool-id", "not-utf8"],
)
def test_responses_and_garbage_are_not_requests(data: bytes) -> None:
    inbound = classify(data)
    assert inbound.request_id is None
    assert inbound == NOT_A_REQUEST or inbound.cancels is None


def test_a_tools_call_without_a_tool_name_names_no_tool() -> None:
    data = line({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"arguments": {}}})
    assert classify(data) == Inbound(1, "tools/call", None)


def test_response_id_is_the_id_of_results_and_errors_only() -> None:
    assert response_id(b'{"jsonrpc":"2.0","id":4,"result":{}}') == 4
    assert response_id(b'{"jsonrpc":"2.0","id":"x","error":{"code":1,"message":"m"}}') == "x"
    assert response_id(b'{"jsonrpc":"2.0","id":4,"method":"sampling/createMessage"}') is None
    assert response_id(b"<html>") is None


# ---------------------------------------------------------------- framing


def test_a_line_buffer_returns_complete_lines_in_one_piece_and_keeps_the_rest() -> None:
    lines = LineBuffer()

    assert lines.feed(b'{"a":') == b""
    assert lines.feed(b"1}\n{") == b'{"a":1}\n'
    assert lines.feed(b'"b":2}\n{"c":3}\n') == b'{"b":2}\n{"c":3}\n'
    assert lines.feed(b"tail") == b""
    assert lines.rest() == b"tail"
    assert lines.rest() == b""


def test_iter_lines_keeps_each_newline_and_a_last_line_without_one() -> None:
    assert list(iter_lines(b"a\nb\nc")) == [b"a\n", b"b\n", b"c"]
    assert list(iter_lines(b"a\n")) == [b"a\n"]
    assert list(iter_lines(b"")) == []


def test_exit_status_reports_a_signal_as_a_shell_does() -> None:
    assert exit_status(3) == 3
    assert exit_status(-9) == 137


# ---------------------------------------------------------------- decisions


def test_without_faults_every_request_is_forwarded_untouched() -> None:
    assert decide("faults: []", call(1, "echo")) is FORWARD


def test_an_error_fault_is_answered_by_the_proxy_as_an_is_error_result() -> None:
    handling = decide("faults: [{kind: error, message: boom}]", call(9, "echo"))

    assert decoded(handling.answer) == {
        "jsonrpc": "2.0",
        "id": 9,
        "result": {"content": [{"type": "text", "text": "boom"}], "isError": True},
    }


def test_a_jsonrpc_error_fault_is_answered_with_its_code_and_message() -> None:
    handling = decide("faults: [{kind: jsonrpc_error, code: -32099, message: overloaded}]", call("r", "x"))

    assert decoded(handling.answer) == {
        "jsonrpc": "2.0",
        "id": "r",
        "error": {"code": -32099, "message": "overloaded"},
    }


def test_a_wrong_shape_fault_is_answered_with_a_result_that_is_no_tool_result() -> None:
    handling = decide("faults: [{kind: malformed, mode: wrong_shape}]", call(2, "x"))
    assert decoded(handling.answer)["result"] == WRONG_SHAPE_RESULT


def test_latency_hang_crash_and_oversized_are_carried_over_from_the_call_decision() -> None:
    faults = (
        "faults: [{kind: latency, delay_s: 0.25}, {kind: hang}, {kind: crash, exit_code: 4},"
        " {kind: oversized, size_bytes: 10}]"
    )
    handling = decide(faults, call(1, "x"))

    assert (handling.delay_s, handling.hang, handling.crash_exit_code) == (0.25, True, 4)
    assert handling.oversized_bytes == 10
    assert handling.answer is None


def test_call_faults_only_hit_the_tools_they_name() -> None:
    faults = "faults: [{kind: error, tools: [shout]}]"
    assert decide(faults, call(1, "echo")) is FORWARD
    assert decide(faults, call(1, "shout")).answer is not None


def test_call_faults_never_touch_requests_that_are_not_tool_calls() -> None:
    assert (
        decide("faults: [{kind: error}]", line({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        is FORWARD
    )


def test_a_wire_fault_without_tools_also_hits_initialize() -> None:
    message = line({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}})
    handling = decide("faults: [{kind: malformed, mode: not_json}]", message)

    assert handling.transport == TransportDecision(not_json=True)
    assert handling.answer is None


def test_a_flapping_down_phase_refuses_with_retry_after_and_makes_no_call_draw() -> None:
    clock = FakeClock(RUN_START + 1.5)  # up for 1 s, then down for 2 s
    faults = "faults: [{kind: flapping, up_s: 1, down_s: 2}, {kind: error, probability: 0.5}]"
    proxy_injector = injector(faults, clock=clock)
    inbound = classify(call(1, "x"))

    handling = handle_request(1, inbound, proxy_injector)

    assert decoded(handling.answer) == {
        "jsonrpc": "2.0",
        "id": 1,
        "error": {
            "code": SERVER_UNAVAILABLE_CODE,
            "message": "injected fault: flapping: server unavailable; retry after 2 s",
            "data": {"retry_after_s": 2},
        },
    }
    reference = injector(faults, clock=clock)
    assert proxy_injector.decide("x") == reference.decide("x")  # the call stream did not advance


def test_the_proxy_draws_exactly_as_a_fault_server_with_the_same_seed() -> None:
    faults = (
        "faults: [{kind: error, probability: 0.5}, {kind: latency, min_s: 0.1, max_s: 0.2, probability: 0.3}]"
    )
    proxy_injector, server_injector = injector(faults, seed=11), injector(faults, seed=11)

    proxy_side = [handle_request(i, classify(call(i, "t")), proxy_injector) for i in range(200)]
    server_side = [server_injector.decide("t") for _ in range(200)]

    assert [h.answer is not None for h in proxy_side] == [d.error is not None for d in server_side]
    assert [h.delay_s for h in proxy_side] == [d.delay_s for d in server_side]
    assert 0 < sum(h.answer is not None for h in proxy_side) < 200


# ---------------------------------------------------------------- answers


RESULT = b'{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hi"}],"isError":false}}'


def test_an_untouched_answer_gets_its_newline_back() -> None:
    assert finish_answer(RESULT, NO_TRANSPORT_FAULT) == (RESULT + b"\n", False)


def test_an_oversized_answer_gets_a_text_block_of_the_size() -> None:
    data, drop = finish_answer(RESULT, NO_TRANSPORT_FAULT, oversized_bytes=50)

    content = decoded(data)["result"]["content"]
    assert content == [{"type": "text", "text": "hi"}, {"type": "text", "text": padding(50)}]
    assert len(content[1]["text"]) == 50
    assert data.endswith(b"\n") and not drop


def test_padding_leaves_a_jsonrpc_error_alone() -> None:
    error = b'{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"m"}}'
    assert pad_response(error, 10) == error


def test_a_not_json_answer_is_the_stdio_layers_line() -> None:
    assert finish_answer(RESULT, TransportDecision(not_json=True)) == (NOT_JSON_LINE.encode() + b"\n", False)


def test_a_dropped_answer_is_half_the_line_without_a_newline_and_asks_to_exit() -> None:
    data, drop = finish_answer(RESULT, TransportDecision(drop=True))

    assert drop
    assert data == RESULT[: len(RESULT) // 2]


# ---------------------------------------------------------------- runtime and command line


def test_a_proxy_runtime_accepts_a_live_plan_naming_any_tool(tmp_path: Path) -> None:
    runtime = build_proxy_runtime(
        parse_faults({"faults": []}, "test"),
        seed=0,
        transport="http",
        target="p",
        run_start_s=None,
        events_dir=str(tmp_path / "events"),
    )

    runtime.replace_plan(parse_faults({"faults": [{"kind": "error", "tools": ["anything"]}]}, "PUT"))

    assert "whatever" in AnyToolNames()
    assert runtime.state()["plan"]["faults"][0]["tools"] == ["anything"]
    runtime.stop()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["proxy"], "expected the stdio server to wrap after --"),
        (["proxy", "--"], "expected the stdio server to wrap after --"),
        (["proxy", "--http-upstream", "http://127.0.0.1:1/mcp", "--port", "9", "--", "x"], "not both"),
        (["proxy", "--port", "9", "--", "x"], "--port applies only to the HTTP mode"),
        (["proxy", "--http-upstream", "http://127.0.0.1:1/mcp"], "needs --port"),
        (["proxy", "--http-upstream", "ftp://127.0.0.1/mcp", "--port", "9"], "expected --http-upstream"),
        (["proxy", "--http-upstream", "http://example.com/mcp", "--port", "9"], "non-loopback host"),
        (
            ["proxy", "--http-upstream", "http://127.0.0.1:1/mcp", "--port", "9", "--host", "0.0.0.0"],
            "non-loopback host '0.0.0.0'",
        ),
    ],
)
def test_bad_usage_exits_2_with_a_message_and_starts_nothing(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_an_http_only_fault_is_refused_for_a_stdio_proxy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    faults = tmp_path / "faults.yaml"
    faults.write_text("faults:\n  - {kind: http_status, status: 429}\n")

    assert main(["proxy", "--faults", str(faults), "--", "true"]) == 2
    assert "faults[0].kind: 'http_status' needs the http transport" in capsys.readouterr().err


def test_a_command_that_cannot_start_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["proxy", "--", "/nonexistent/mcp-server"]) == 2
    assert "cannot start '/nonexistent/mcp-server'" in capsys.readouterr().err
