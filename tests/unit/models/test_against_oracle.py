"""The batch evaluation of the declared models agrees with the independent oracle on generated histories.

Fast (no broker), so it covers more seeds and persons than the pipeline tests; the pipeline tests then
show the stream produces the batch's leads.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from jiandu.core.identity import Pseudonymiser
from jiandu.core.timeutil import CST, to_ms
from jiandu.models import ModelEngine, load_catalogue
from jiandu.models.batch import evaluate_history, valid_events
from jiandu.simulate import generate_history
from jiandu.simulate.oracle import expected_leads
from tests.pipeline import open_leads

KEY = b"oracle-check-key"
MODELS = {f"M{n:02}" for n in range(1, 15)}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batch_engine_and_oracle_agree_on_every_model(seed: int) -> None:
    history = generate_history(seed=seed, persons=2500, start=datetime(2024, 1, 1, tzinfo=CST), pseudonym_key=KEY)
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in history.records]
    expected = expected_leads(lines, pseudonym_key=KEY, clock_end=history.clock_end)
    clock = to_ms(history.clock_end)
    events = valid_events(lines, Pseudonymiser(KEY), 0)
    leads = [lead.to_json() for lead in evaluate_history(ModelEngine(load_catalogue()), events, clock, clock)]
    for model in sorted(MODELS):
        want = open_leads(expected, {model})
        assert want, f"seed {seed} plants {model} violations"
        assert open_leads(leads, {model}) == want, model
