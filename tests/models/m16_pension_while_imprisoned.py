"""M16 PENSION_WHILE_IMPRISONED 服刑期间领取养老金 — a cross-agency model written the way an analyst would.

Social security paid a basic pension for a month at whose start the person was held
in prison on a sentence: pension entitlement is suspended while serving a sentence
(国务院《关于完善企业职工基本养老保险制度的决定》and the 人社部 rulings on
服刑人员 pensions), so the payment may have to be recovered. It joins two agencies:
``social.pension_paid`` against ``prison.admitted`` / ``prison.released``.

Declared only here, outside the package, like M15: the tests load it through
JIANDU_MODEL_FILES and check its boundaries (tests/unit/models/test_pension_while_imprisoned.py).
"""

from jiandu.models.conditions import field, same, start_of_month
from jiandu.models.declarations import Interval, On
from jiandu.models.shapes import StateAtTrigger

#: Held on a sentence: from an admission on SENTENCE or REVOCATION until the release of that same case.
SERVING_A_SENTENCE = Interval(
    opens=On("prison.admitted", where=field("basis").one_of("SENTENCE", "REVOCATION")),
    closes=On("prison.released"),
    closed_by=same("case_no"),
)

MODEL = StateAtTrigger(
    id="M16",
    name="PENSION_WHILE_IMPRISONED",
    title_zh="服刑期间领取养老金",
    version="0.1.0",
    department="公益诉讼",
    severity="MEDIUM",
    triggers=(On("social.pension_paid"),),
    during=SERVING_A_SENTENCE,
    at=start_of_month("period"),  # the state on the first day of the month paid for
    case_from="opener",  # the criminal case the person serves, not the payment's
    reason="pension paid for a month spent serving a sentence",
    summary_zh=(
        "{trigger_date}发放{state_date}起当月养老金，但该人员自{opened_date}起在监服刑（案号{case_no}），"
        "服刑期间应暂停发放基本养老金，可能存在违规领取，建议核查追回。"
    ),
    legal_basis_zh="《社会保险法》第88条; 人力资源社会保障部关于服刑人员暂停发放基本养老金的规定.",
)
