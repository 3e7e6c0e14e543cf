"""The model catalogue: one file per model, each defining ``MODEL``."""

from __future__ import annotations

import importlib
import pkgutil

from jiandu.models.declarations import Model

__all__ = ["load_catalogue"]


def load_catalogue() -> list[Model]:
    """Every model of this package, ordered by id."""
    models = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        models.append(module.MODEL)
    return sorted(models, key=lambda m: m.id)
