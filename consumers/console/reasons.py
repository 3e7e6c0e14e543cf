"""Lead status reasons in Chinese, for display only.

The streams write ``status_reason`` as English machine codes (``deadline passed without closing
evidence``, ``premise disproved by correction.terminated of 2024-06-01: …``); the contract keeps
them so. The console shows officers what they mean; an unknown reason is shown as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from consumers.console.labels import record_type_zh

__all__ = ["rejection_zh", "status_reason_zh"]

_EXACT = {
    "deadline passed without closing evidence": "期限届满，未见应有的后续记录",
    "closing evidence arrived late": "应有的后续记录迟报到达，线索消除",
    "closing evidence exists": "已有应有的后续记录",
    "released on or after the adjusted sentence end": "释放日期不早于减刑等调整后的刑期届满日",
    "person under community correction": "当事人处于社区矫正期间",
    "person terminated from correction": "当事人已解除社区矫正",
    "not in the state at the trigger": "触发时当事人不处于该状态",
    "SENTENCE_COMPLETED": "刑满释放",
}


def _disproved(m: re.Match[str]) -> str:
    when = f"{m['date']} " if m["date"] else ""
    rest = f"（{status_reason_zh(m['rest'])}）" if m["rest"] else ""
    return f"前提不成立：{when}的「{record_type_zh(m['type'])}」记录推翻了线索的前提{rest}"


_PATTERNS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (
        re.compile(
            r"premise disproved by (?P<type>[a-z_]+\.[a-z_]+)(?: of (?P<date>\d{4}-\d{2}-\d{2}))?(?:: (?P<rest>.*))?"
        ),
        _disproved,
    ),
    (re.compile(r"deadline (?P<due>.+) not yet passed"), lambda m: f"期限 {m['due'][:16].replace('T', ' ')} 尚未届满"),
    (
        re.compile(r"released (?P<on>\S+) before adjusted sentence end (?P<end>\S+)"),
        lambda m: f"{m['on']} 释放，早于调整后的刑期届满日 {m['end']}",
    ),
    (
        re.compile(r"(?P<n>\d+) private-lending filings, (?P<k>\d+) within (?P<d>\d+) days"),
        lambda m: f"民间借贷起诉共 {m['n']} 件，其中 {m['k']} 件在 {m['d']} 日内",
    ),
    (
        re.compile(r"(?P<n>\d+) pension payment\(s\) for periods after (?P<month>\S+)"),
        lambda m: f"{m['month']} 之后所属期的养老金发放 {m['n']} 笔",
    ),
    (re.compile(r"incident in custody: (?P<kind>.*)"), lambda m: f"被监管人发生事件：{m['kind']}"),
]


def status_reason_zh(reason: str) -> str:
    """The Chinese reading of a lead's ``status_reason``; the reason itself when it is not a known code."""
    if reason in _EXACT:
        return _EXACT[reason]
    for pattern, render in _PATTERNS:
        m = pattern.fullmatch(reason)
        if m:
            return render(m)
    return reason


_RULE_ZH = {
    "required": "缺少必填项",
    "check_character": "校验位错误",
    "length": "长度错误",
    "characters": "含非法字符",
    "birth_date": "出生日期不存在",
    "datetime": "日期时间格式错误",
    "date": "日期不存在",
    "period": "所属期格式错误",
    "enum": "代码值不在规定范围内",
    "known_type": "记录类型未知",
    "source_format": "来源格式错误",
    "division_code": "区划代码错误",
    "non_negative": "不得为负数",
    "decimal_places": "小数位数过多",
    "range": "数值过大",
    "decimal": "金额格式错误",
    "party": "当事人缺少证件号码",
    "value_type": "数据类型错误",
    "json": "不是有效的 JSON",
    "json_object": "不是 JSON 对象",
    "encoding": "无法编码",
    "source_not_allowed": "无权报送该单位的记录",
    "type_not_allowed": "无权报送该类记录",
    "invalid": "其他错误",
}
_FIELD_ZH = {
    "-": "",
    "id_number": "身份证号",
    "credit_code": "统一社会信用代码",
    "occurred_at": "发生时间",
    "recorded_at": "录入时间",
    "source": "来源",
    "type": "记录类型",
    "source_record_id": "原始记录编号",
    "jurisdiction": "管辖区划",
    "case_no": "案号",
}


def rejection_zh(key: str) -> str:
    """``suspects[].id_number:check_character`` → ``suspects[].身份证号 校验位错误`` (the scorecard's reasons)."""
    field, _, rule = key.rpartition(":")
    head, dot, last = field.rpartition(".")
    name = f"{head}{dot}{_FIELD_ZH.get(last, last)}"
    return f"{name} {_RULE_ZH.get(rule, rule)}".strip()
