"""Sign-in backoff and lockout, terminal-safe text."""

from __future__ import annotations

import pytest

from jiandu.security import FailureThrottle, printable


def test_failures_back_off_then_lock_out_and_a_success_clears() -> None:
    now = [0.0]
    throttle = FailureThrottle(free_failures=3, base_seconds=1, max_seconds=8, lockout_failures=6, lockout_seconds=600,
                               clock=lambda: now[0])  # fmt: skip
    for _ in range(2):
        assert throttle.failed("wang") is None
    verdict = throttle.failed("wang")
    assert verdict is not None and verdict.retry_after == 1 and not verdict.locked
    assert throttle.check("wang", "10.0.0.1") == verdict and throttle.check("li") is None
    for _ in range(3):
        now[0] += 100
        verdict = throttle.failed("wang")
    assert verdict is not None and verdict.locked and verdict.retry_after == 600
    now[0] += 599
    assert throttle.check("wang") is not None, "the right password is not even tried while locked out"
    now[0] += 2
    assert throttle.check("wang") is None
    throttle.succeeded("wang")
    assert throttle.failed("wang") is None


def test_memory_is_bounded_under_a_flood_of_keys() -> None:
    throttle = FailureThrottle(max_keys=100)
    for n in range(10_000):
        throttle.failed(f"10.0.{n // 256}.{n % 256}")
    assert len(throttle._keys) == 100


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[2J\x1b[31m红色\x1b[0m", "红色"),
        ("title\x1b]0;pwned\x07!", "title!"),
        ("a\rb\x00c\x7f", "a\\u000db\\u0000c\\u007f"),
        ("‮evil", "\\u202eevil"),
        ("line\nnext\tx", "line\\u000anext x"),
        ("\x9b31m8bit", "8bit"),
        ("正常的摘要（案号(2024)辽01刑初1号）", "正常的摘要（案号(2024)辽01刑初1号）"),
    ],
)
def test_agency_text_is_printable_on_a_terminal(text: str, shown: str) -> None:
    assert printable(text) == shown
    assert printable("a\nb", keep_newlines=True) == "a\nb"


def test_a_lead_line_for_the_terminal_carries_no_escape_sequence() -> None:
    from consumers.lead_tail import lead_line
    from tests.lead_versions import lead_version

    lead = lead_version(1, 1)
    hostile = type(lead)(
        **{**{f: getattr(lead, f) for f in lead.__dataclass_fields__}, "summary_zh": "案\x1b[2J\x1b]0;x\x07号\r"}
    )
    line = lead_line(hostile)
    assert "\x1b" not in line and "\x07" not in line and "\r" not in line and "案号" in line
