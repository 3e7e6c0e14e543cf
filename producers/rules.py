"""Which field broke which rule (see :mod:`jiandu.core.rejections`, where it now lives so that the
console's data-quality scorecard reads dead letters by the same grammar)."""

from jiandu.core.rejections import RULES, field_and_rule

__all__ = ["RULES", "field_and_rule"]
