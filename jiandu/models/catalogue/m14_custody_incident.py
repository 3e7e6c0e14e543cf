"""M14 CUSTODY_INCIDENT 被监管人死亡/脱逃.

A death, escape or serious injury in custody: the procuratorate must be told at
once and investigates every such incident.
"""

from jiandu.models.declarations import On
from jiandu.models.shapes import ImmediateAlert

MODEL = ImmediateAlert(
    id="M14",
    name="CUSTODY_INCIDENT",
    title_zh="被监管人死亡/脱逃",
    version="1.0.0",
    department="刑事执行检察",
    severity="HIGH",
    triggers=(On("prison.incident"),),
    kind_field="kind",
    detail_key="incident_kind",
    severity_by={"DEATH": "HIGH", "ESCAPE": "HIGH", "SERIOUS_INJURY": "MEDIUM"},
    labels_zh={"DEATH": "死亡", "ESCAPE": "脱逃", "SERIOUS_INJURY": "重伤"},
    reason="incident in custody: {kind}",
    summary_zh="{trigger_date}监管场所（{facility_code}）发生被监管人{kind_zh}事件：{description}。应立即介入调查。",
    legal_basis_zh="《看守所条例》第27条 (人犯死亡的, 应当立即报告人民检察院); 《看守所在押人员死亡处理规定》第5、6条.",
)
