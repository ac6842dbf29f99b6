"""Stage settings: a stage's part of config.yaml as one frozen dataclass, built once and passed whole.

The JSON schema (``schemas/config.schema.yaml``) is the user-facing contract and the one home of defaults:
Snakemake's ``validate`` fills them in, and :func:`from_section` takes every field from the validated section,
so a settings class has no defaults of its own to drift from it (``tests/test_settings.py`` checks each class's
fields against the schema).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"


def from_section(cls, section: Mapping, name: str, **resolved):
    """``cls`` from config section ``name`` (validated, defaults filled in); ``resolved`` replaces entries the
    workflow resolves (e.g. ``train.dataset: null`` -> the first dataset). Every field must be given, and
    nothing else: a key the class does not know is a bug, not a setting to drop silently."""
    values = {**section, **resolved}
    fields = [field.name for field in dataclasses.fields(cls)]
    missing = [f"{name}.{key}" for key in fields if key not in values]
    unknown = [f"{name}.{key}" for key in sorted(set(values) - set(fields))]
    if missing or unknown:
        problems = [f"missing {', '.join(missing)}" if missing else "",
                    f"unknown {', '.join(unknown)}" if unknown else ""]
        raise ValueError(f"config {name}: {'; '.join(filter(None, problems))} (validate the config first)")
    return cls(**{key: values[key] for key in fields})


def as_section(settings) -> dict:
    """``settings`` as the config section it came from, JSON-ready (tuples as lists)."""
    return json.loads(json.dumps(dataclasses.asdict(settings)))


def validated(config: dict) -> dict:
    """``config`` validated against the schema with its defaults filled in, as the Snakefile does (for code that
    reads a config file outside the workflow: tests, benches)."""
    from snakemake.utils import validate

    validate(config, str(SCHEMA), set_default=True)
    return config


def load_config(path: str | Path) -> dict:
    import yaml

    return validated(yaml.safe_load(Path(path).read_text()))


def schema_defaults(section: str) -> dict:
    """The defaults the schema gives the keys of config section ``section``."""
    import yaml

    properties = yaml.safe_load(SCHEMA.read_text())["properties"][section]["properties"]
    return {key: spec["default"] for key, spec in properties.items() if "default" in spec}
