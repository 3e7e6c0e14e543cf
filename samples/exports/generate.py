"""Write the example agency exports of ``samples/exports/`` (run: ``python samples/exports/generate.py``).

One folder per source, as agencies drop them: realistic Chinese headers, the
agencies' own codes and date formats, UTF-8, UTF-8 with BOM and GB18030 (with
Windows line ends, as those exports usually have). ID numbers and credit codes
are generated valid (``make_id_number``, ``credit_check_character``). Every file
also holds rows that must be dead-lettered: the ``# BAD`` comment above each says
why (comment lines are not written). Names are invented.

Placeholders: ``{P7}`` the 7th sample person's ID number, ``{X7}`` the same with a
wrong check character, ``{ORG:MA0TK2R5X}`` a valid credit code, ``{XORG:…}`` one
with a wrong check character.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

from jiandu.core.identity import credit_check_character, make_id_number

__all__ = ["SAMPLES", "credit", "person", "write_samples"]

HERE = Path(__file__).resolve().parent
_DIVISIONS = ("210102", "210103", "210104", "210105", "210106", "210111")
_PLACEHOLDER = re.compile(r"\{(P|X)(\d+)\}|\{(ORG|XORG):(\w{9})\}")


def person(n: int) -> str:
    """The n-th sample person's valid ID number; persons 26 and up are of pension age."""
    born, years = (date(1942, 1, 1), 12) if n >= 26 else (date(1962, 1, 1), 35)
    return make_id_number(_DIVISIONS[n % len(_DIVISIONS)], born + timedelta(days=n * 467 % (365 * years)), 100 + n)


def credit(org: str) -> str:
    """A valid unified social credit code of a company registered in 沈阳市和平区 (org: 9 characters)."""
    first17 = f"91210102{org}"
    return first17 + credit_check_character(first17)


def _wrong_check(code: str) -> str:
    return code[:-1] + ("0" if code[-1] != "0" else "1")


def _fill(match: re.Match[str]) -> str:
    kind, number, org_kind, org = match.groups()
    if kind:
        valid = person(int(number))
        return valid if kind == "P" else _wrong_check(valid)
    return credit(org) if org_kind == "ORG" else _wrong_check(credit(org))


#: path: (encoding, line end, template)
SAMPLES: dict[str, tuple[str, str, str]] = {
    "police_210102/刑事强制措施_20240301.csv": (
        "gb18030",
        "\r\n",
        """\
措施编号,案件编号,姓名,公民身份号码,强制措施,变动类型,执行时间,提请逮捕期限(天),办案单位
QZ2024030101,A2101025300002024030001,张伟,{P1},刑拘,执行,2024/3/1 14:20,3,和平分局刑警大队
QZ2024030102,A2101025300002024030001,李娜,{P2},刑拘,执行,2024/3/1 15:05,7,和平分局刑警大队
QZ2024030103,A2101025300002024030002,王强,{P3},取保候审,执行,2024/3/2 09:30,,和平分局经侦大队
QZ2024030104,A2101025300002024030001,张伟,{P1},刑拘,解除,2024/3/4 10:00,,和平分局刑警大队
QZ2024030105,A2101025300002024030001,张伟,{P1},逮捕,执行,2024/3/4 10:30,,和平分局刑警大队
# BAD: 拘传 (a summons) is no coercive measure of events.md
QZ2024030106,A2101025300002024030003,刘洋,{P4},拘传,执行,2024/3/5 08:00,,和平分局治安大队
# BAD: there is no 30 February
QZ2024030107,A2101025300002024030004,陈静,{P5},刑拘,执行,2024/2/30 22:10,3,和平分局刑警大队
""",
    ),
    "police_210102/刑事立案_20240301.csv": (
        "utf-8",
        "\n",
        """\
立案编号,案由代码,案由,犯罪嫌疑人身份证号,移送案件文号,立案日期,承办人
A2101025300002024030001,0133,危险驾驶罪,{P1},,2024年3月1日,赵敏
A2101025300002024030002,0224,诈骗罪,{P3}、{P6},,2024年3月2日,孙磊
A2101025300002024030005,0338,污染环境罪,{P7},沈环罚〔2024〕12号,2024年3月6日,周杰
# BAD: the second suspect's ID number has a wrong check character
A2101025300002024030006,0224,诈骗罪,{P8}、{X9},,2024年3月7日,孙磊
""",
    ),
    "police_210102/酒精检测_20240301.jsonl": (
        "utf-8",
        "\n",
        """\
{{"检测编号":"JC20240301-0007","身份证号":"{P10}","检测时间":"20240301 23:41","血液酒精含量":112,"车牌号":"辽A12345"}}
{{"检测编号":"JC20240302-0003","身份证号":"{P11}","检测时间":"20240302 01:15","血液酒精含量":"65.5","车牌号":""}}
# BAD: no 检测时间
{{"检测编号":"JC20240302-0004","身份证号":"{P12}","血液酒精含量":95,"车牌号":"辽A6K821"}}
""",
    ),
    "procuratorate_210100/审查逮捕决定_20240306.csv": (
        "utf-8-sig",
        "\n",
        """\
决定书文号,受案号,公安机关案件编号,犯罪嫌疑人姓名,犯罪嫌疑人身份证号,审查结论,决定日期
沈和检捕〔2024〕31号,沈和检受捕〔2024〕40号,A2101025300002024030001,张伟,{P1},批准逮捕,2024-03-06
沈和检不捕〔2024〕7号,沈和检受捕〔2024〕41号,A2101025300002024030002,王强,{P3},不批准逮捕,2024年3月7日
# BAD: 退回补充侦查 (returned for investigation) is no arrest decision
沈和检捕〔2024〕32号,沈和检受捕〔2024〕41号,A2101025300002024030002,赵六,{P6},退回补充侦查,2024-03-07
""",
    ),
    "court_210102/刑事判决生效_20240301.csv": (
        "gb18030",
        "\r\n",
        """\
沈阳市和平区人民法院 刑事判决生效信息 导出时间：2024年3月5日
序号,案号,被告人姓名,被告人身份证号,罪名代码,罪名,刑罚种类,有期徒刑(月),缓刑考验期(月),罚金(元),生效日期
1,(2024)辽0102刑初15号,张伟,{P1},0133,危险驾驶罪,拘役,3,0,"5,000.00",2024年3月1日
1,(2024)辽0102刑初21号,孙丽,{P13},0224,诈骗罪,有期徒刑,36,0,"20,000.00",2024年3月1日
2,(2024)辽0102刑初21号,周强,{P14},0224,诈骗罪,缓刑,24,36,"10,000.00",2024年3月1日
1,(2024)辽0102刑初22号,吴敏,{P15},0264,盗窃罪,单处罚金,,,"3,000",2024年3月2日
# BAD: 死缓 (death with reprieve) has no sentence_type in events.md
1,(2024)辽0102刑初9号,郑浩,{P16},0232,故意杀人罪,死缓,,,,2024年3月2日
# BAD: there is no 30 February
1,(2024)辽0102刑初23号,冯刚,{P17},0264,盗窃罪,有期徒刑,8,0,0,2024年2月30日
""",
    ),
    "court_210102/民事立案_20240304.csv": (
        "utf-8",
        "\n",
        """\
案号,案由,原告名称,原告证件号码,被告名称,被告证件号码,诉讼标的额(元),立案日期
(2024)辽0102民初301号,民间借贷纠纷,钱多多,{P18},李四,{P19},50000.00,20240304
(2024)辽0102民初302号,民间借贷纠纷,钱多多;沈阳某小额贷款有限公司,{P18};{ORG:MA0Y7K3L2},王五,{P20},"120,000",20240304
(2024)辽0102民初303号,劳动争议,赵六,{P21},沈阳某建筑工程有限公司,{ORG:MA0XQ4B81},8600,20240305
# BAD: 离婚纠纷 (divorce) has no cause code in this mapping
(2024)辽0102民初304号,离婚纠纷,孙七,{P22},周八,{P23},0,20240305
""",
    ),
    "prison_210100/出入所登记_20240301.csv": (
        "utf-8",
        "\n",
        """\
登记流水号,监所编码,监所名称,监所类型,变动类别,身份证号,姓名,案号,收押依据,刑期止日,出所原因,变动时间
CR20240301001,KSS210100001,第一看守所,看守所,收押,{P1},张伟,A2101025300002024030001,刑事拘留,,,2024-03-01 18:00:00
CR20240301002,JY210100001,沈阳监狱,监狱,收监,{P13},孙丽,(2024)辽0102刑初21号,判决,20270228,,2024-03-10 09:00:00
CR20240301003,KSS210100001,第一看守所,看守所,出所,{P3},王强,A2101025300002024030002,,,办案机关释放,2024-03-02 10:00:00
CR20240301004,JY210100001,沈阳监狱,监狱,释放,{P24},钱九,(2019)辽0102刑初88号,,,刑满释放,2024-03-15 08:00:00
# BAD: 调监 (a transfer between prisons) has no record type in this mapping
CR20240301005,JY210100001,沈阳监狱,监狱,调监,{P25},吴十,(2020)辽0102刑初12号,,,,2024-03-16 08:00:00
""",
    ),
    "correction_210102/社区矫正_20240301.csv": (
        "gb18030",
        "\r\n",
        """\
业务编号,业务类型,矫正机构编码,身份证号,姓名,原判案号,矫正类别,执行地区划代码,矫正期满日期,复查结论,解矫原因,业务日期
SQ2024030001,入矫,SJ210102,{P14},周强,(2024)辽0102刑初21号,1,210100,20270301,,,20240305
SQ2024030002,入矫,SJ210102,{P23},周八,(2023)辽0102刑初150号,4,210100,20241231,,,20240306
SQ2024030003,病情复查,SJ210102,{P23},周八,,,,,符合,,20240306
SQ2024030004,解矫,SJ210102,{P22},孙七,,,,,,矫正期满,20240308
# BAD: 矫正类别 9 is no class of the system
SQ2024030005,入矫,SJ210102,{P21},赵六,(2024)辽0102刑初30号,9,210100,20250301,,,20240308
# BAD: there is no 13th month
SQ2024030006,入矫,SJ210102,{P20},王五,(2024)辽0102刑初31号,1,210100,20241301,,,20240308
""",
    ),
    "admin_210100/行政处罚决定_20240301.csv": (
        "utf-8-sig",
        "\n",
        """\
处罚决定书文号,执法领域,当事人名称,当事人证件号码,违法行为代码,违法事实,涉案数量,计量单位,涉案金额(元),处罚决定日期
沈环罚〔2024〕12号,生态环境,沈阳某化工有限公司,{ORG:MA0TK2R5X},ENV-WASTE-DUMP,非法倾倒危险废物,3.5,吨,"250,000.00",2024/3/1
沈市监罚〔2024〕45号,市场监管,张三,{P25},MKT-FAKE-GOODS,销售假冒注册商标的商品,,,"38,000",2024/3/2
沈税罚〔2024〕8号,税务,沈阳某贸易有限公司,{ORG:MA0PN6W3U},TAX-FALSE-INVOICE,虚开增值税专用发票,,,"1,250,000.00",2024/3/4
# BAD: the credit code has a wrong check character
沈应急罚〔2024〕3号,应急管理,沈阳某矿业有限公司,{XORG:MA0LC8D7E},EMG-UNSAFE,未按规定排查治理事故隐患,,,,2024/3/5
""",
    ),
    "social_210100/养老金发放_202403.csv": (
        "gb18030",
        "\r\n",
        """\
发放流水号,公民身份号码,姓名,发放年月,发放金额,发放日期,经办机构
YL202403000001,{P26},何老汉,202403,3250.60,20240305,沈阳市社会保险事业服务中心
YL202403000002,{P27},林阿姨,202403,"2,980.00",20240305,沈阳市社会保险事业服务中心
YL202403000003,{P28},高大爷,202403,4100.00,20240305,沈阳市社会保险事业服务中心
# BAD: 发放年月 is not YYYYMM
YL202403000004,{P29},罗奶奶,2024-3,3000.00,20240305,沈阳市社会保险事业服务中心
""",
    ),
}


def render(template: str, line_end: str = "\n") -> str:
    """A template's text: placeholders filled, comment lines dropped."""
    lines = [line for line in template.splitlines() if not line.startswith("# ")]
    text = "".join(_PLACEHOLDER.sub(_fill, line) + line_end for line in lines)
    return text.replace("{{", "{").replace("}}", "}")


def write_samples(root: Path = HERE) -> list[Path]:
    """Write every sample export under ``root``; returns their paths."""
    written = []
    for relative, (encoding, line_end, template) in SAMPLES.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(render(template, line_end).encode(encoding))
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_samples():
        print(written_path.relative_to(HERE))
