"""The models a hub runs, and their parameters, as configured by the operator.

``JIANDU_MODEL_PARAMS`` names a YAML file that overrides any default number of any
model without code (``deploy/model-params.yaml`` lists them all)::

    M01:
      bac_threshold: "80"
    M10:
      thresholds:
        TAX_FALSE_INVOICE: {field: amount_cny, at_least: "500000", offence_zh: 虚开增值税专用发票罪}

``JIANDU_MODEL_FILES`` adds model files outside the package (an analyst's draft, a
new version of a built-in model to backtest before switching it on).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from jiandu.errors import ConfigurationError
from jiandu.models.catalogue import load_catalogue
from jiandu.models.declarations import Model
from jiandu.models.engine import ModelEngine
from jiandu.settings import Settings

__all__ = ["build_engine", "configured_models", "default_params", "load_model_file", "load_params", "params_yaml"]


def load_model_file(path: Path) -> Model:
    """The ``MODEL`` a Python file declares."""
    if not path.is_file():
        raise ConfigurationError(f"model file {path} does not exist (check JIANDU_MODEL_FILES)")
    spec = importlib.util.spec_from_file_location(f"jiandu_model_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ConfigurationError(f"model file {path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = getattr(module, "MODEL", None)
    if model is None or not hasattr(model, "evaluate"):
        raise ConfigurationError(f"model file {path} must define MODEL = <a shape of jiandu.models.shapes>(...)")
    return model


def configured_models(model_files: str) -> list[Model]:
    """The built-in catalogue plus the extra files; an extra model replaces a built-in one of the same id."""
    models = {m.id: m for m in load_catalogue()}
    for name in filter(None, (part.strip() for part in model_files.split(","))):
        model = load_model_file(Path(name))
        models[model.id] = model
    return sorted(models.values(), key=lambda m: m.id)


def default_params(models: Sequence[Model]) -> dict[str, dict[str, Any]]:
    """Every model's declared parameters."""
    return {m.id: dict(m.params) for m in models if m.params}


def load_params(path: Path, models: Sequence[Model]) -> dict[str, dict[str, Any]]:
    """Parameter overrides from a YAML file, checked against the models' declared parameters."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read model parameters {path}: {exc}") from exc
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"{path}: expected a mapping of model id to parameters")
    declared = default_params(models)
    for model_id, params in raw.items():
        if model_id not in declared:
            raise ConfigurationError(f"{path}: {model_id!r} is not a model with parameters ({', '.join(declared)})")
        if not isinstance(params, Mapping):
            raise ConfigurationError(f"{path}: {model_id} must map parameter names to values")
        unknown = sorted(set(params) - set(declared[model_id]))
        if unknown:
            known = ", ".join(declared[model_id])
            raise ConfigurationError(f"{path}: {model_id} has no parameter {', '.join(unknown)} (known: {known})")
    return {str(k): dict(v) for k, v in raw.items()}


def build_engine(settings: Settings) -> ModelEngine:
    """The engine of the configured models with the configured parameters."""
    models = configured_models(settings.model_files)
    overrides = load_params(Path(settings.model_params), models) if settings.model_params else {}
    return ModelEngine(models, overrides)


def params_yaml(models: Sequence[Model]) -> str:
    """The YAML of every default parameter: a starting point for ``JIANDU_MODEL_PARAMS``."""
    header = "# Per-model parameters (JIANDU_MODEL_PARAMS). These are the declared defaults; change any of them.\n"
    return header + yaml.safe_dump(default_params(models), allow_unicode=True, sort_keys=True)
