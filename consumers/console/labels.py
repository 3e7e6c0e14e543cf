"""Chinese names of what the console shows: statuses, severities, actions, agencies, record types, models."""

from __future__ import annotations

import re

from jiandu.core.records import RECORD_TYPES

__all__ = ["ACTION_ZH", "AUDIT_ZH", "MODEL_ZH", "ROLE_ZH", "SEVERITY_ZH", "STATUS_ZH", "agency_zh", "record_type_zh"]

STATUS_ZH = {"OPEN": "待处理", "RESOLVED": "已消除", "WITHDRAWN": "已撤回"}
SEVERITY_ZH = {"HIGH": "高", "MEDIUM": "中", "LOW": "低"}
ACTION_ZH = {"acknowledge": "签收", "assign": "指派", "outcome": "办理结果", "close": "办结"}
#: What an audit row records (the ``what`` column), in the order the audit page's filter lists them.
AUDIT_ZH = {
    "sign-in": "登录",
    "sign-out": "退出",
    "view": "查看线索",
    "reveal": "查看当事人身份",
    "export": "导出线索",
    "report-pdf": "下载每月通报",
    "quality-pdf": "下载数据质量通报",
    **{f"action:{k}": f"办理：{v}" for k, v in ACTION_ZH.items()},
    "view-audit": "查看审计日志",
    "csrf-rejected": "拒绝伪造请求（CSRF）",
}
ROLE_ZH = {"officer": "检察官", "supervisor": "部门负责人", "admin": "管理员"}
MODEL_ZH = {
    "M01": "醉驾未立案",
    "M02": "社区矫正漏管",
    "M03": "社区矫正期间涉嫌再犯",
    "M04": "社区矫正擅自外出",
    "M05": "刑拘超期未提请逮捕",
    "M06": "审查逮捕超期",
    "M07": "减刑假释财产刑未履行",
    "M08": "财产刑未移送执行",
    "M09": "暂予监外执行病情复查逾期",
    "M10": "行刑衔接 以罚代刑",
    "M11": "职业放贷 / 虚假诉讼",
    "M12": "死亡后冒领养老金",
    "M13": "违法释放 / 刑满未释放",
    "M14": "被监管人死亡/脱逃",
}
_AGENCY_ZH = {
    "police": "公安机关",
    "procuratorate": "检察机关",
    "court": "人民法院",
    "prison": "监狱/看守所",
    "correction": "社区矫正机构",
    "admin": "行政执法机关",
    "social": "人社部门",
}
# where the record type's doc has no single Chinese name in parentheses
_TYPE_ZH = {
    "police.coercive_measure": "强制措施",
    "police.detention_extended": "延长提请逮捕期限",
    "court.civil_case_closed": "民事结案",
}
_CHINESE_IN_PARENTHESES = re.compile(r"\(([^()]*[\u4e00-\u9fff][^()]*)\)")


def record_type_zh(record_type: str) -> str:
    """``court.judgment_effective`` → ``判决生效``; an unknown type stays as it is."""
    if record_type in _TYPE_ZH:
        return _TYPE_ZH[record_type]
    spec = RECORD_TYPES.get(record_type)
    match = _CHINESE_IN_PARENTHESES.search(spec.doc) if spec else None
    return match.group(1) if match else record_type


def agency_zh(source: str) -> str:
    """``court:210100`` → ``人民法院 210100`` (the category before the colon, the agency code after)."""
    category, _, code = source.partition(":")
    return f"{_AGENCY_ZH.get(category, category)} {code}".strip()
