"""The ``RunConfig`` of the pages' choices, the one object every front-end hands the library; and the way back, a spec
or run config file loaded onto the pages' fields (a config downloaded from Results sets them as they were).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st
import yaml

from dashboard.defaults import (
    DEFAULT_EPSILON_RANGE,
    DEFAULTS,
    EPSILON_STEPS,
    SUPPORT_SOURCE_LABELS,
    SUPPORT_SYNTHETIC,
    SUPPORT_TABLE,
    clip_rule_setting,
    clip_rule_state,
    epochs_setting,
    epochs_state,
)
from dashboard.messages import error_message
from dashboard.roles import current_spec, current_text_spec, declared_values, spec_roles, text_mode
from dashboard.tables import Table
from fusiondp import ConfigError, FusionDPError, RunConfig, SpecError, TableSpec

ROLES_FILE_LABEL = "Load column roles or a run config (spec.yaml, or a config.yaml downloaded from Results)"


def _config_settings(config: RunConfig, columns: list[str]) -> dict[str, Any]:
    """The Columns and Train pages' fields for a run config: its roles, support set and training knobs."""
    if config.text is not None:
        text = config.text
        roles = {"target": text.target, "target_kind": text.target_kind, "positive_class": text.positive_class,
                 "text_column": text.text_column, "sensitive_spans": list(text.sensitive_spans),
                 "span_detector": text.detector}
    else:
        roles = spec_roles(config.spec, columns)
    epsilon = float(config.epsilon)
    grid = {"eps_range": (epsilon, epsilon), "extra_epsilon": None} if epsilon in EPSILON_STEPS else \
        {"extra_epsilon": epsilon}
    declared = {**config.sensitive_domains, **{k: list(v) for k, v in config.sensitive_bounds.items()}}
    return {**roles, **grid, "support_source": SUPPORT_SOURCE_LABELS[config.support_source],
            "support_fraction": config.support_fraction, "synthesizer": config.synthesizer,
            "epsilon_syn": config.epsilon_syn, "imputer": config.imputer, "modes": list(config.modes),
            "seed": min(config.seeds), "n_seeds": len(config.seeds),
            # a config that left δ to the table's N (None) keeps the page's δ control on its default
            "delta": st.session_state.get("delta_auto", DEFAULTS["delta"]) if config.delta is None else config.delta,
            "accountant": config.accountant, **epochs_state(config.epochs), "batch_size": config.batch_size,
            "lr": config.lr, "alpha": config.alpha, "beta": config.beta,
            "max_grad_norm": config.max_grad_norm,
            **clip_rule_state(config.noise_level),
            "numeric_encoding": config.numeric_encoding, "lr_schedule": config.lr_schedule,
            "reproducible_noise": config.reproducible_noise,
            **({"declared_values": yaml.safe_dump(declared, sort_keys=False, allow_unicode=True,
                                                  default_flow_style=None)} if declared else {})}


def settings_from_file(name: str, content: bytes, frame: pd.DataFrame) -> tuple[dict[str, Any], str]:
    """The page fields a spec or run config file sets, checked against ``frame``'s columns, and what was loaded.

    A file with a ``spec`` or ``text`` key is a run config (``RunConfig``: roles, support set and knobs; its
    ``data`` path is not read); any other a column spec (``TableSpec``). Errors raise with the library's message.
    """
    try:
        raw = yaml.safe_load(content.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{name} is not a YAML file: {exc}") from None
    columns = [str(c) for c in frame.columns]
    if isinstance(raw, dict) and ("spec" in raw or "text" in raw):
        config = RunConfig.build(**raw)
        if config.spec is not None:
            config.spec.with_roles(frame)
        else:
            missing = [c for c in (config.text.text_column, config.text.target) if c not in columns]
            if missing:
                raise SpecError(f"{name} names column(s) {missing}, which this table does not have.")
        return _config_settings(config, columns), (f"Loaded the roles, support set and training settings of {name} "
                                                   "(ε, modes, seeds, knobs: see the Train page).")
    spec = TableSpec.from_dict(raw, source=name)
    spec.with_roles(frame)
    return spec_roles(spec, columns), f"Loaded the column roles of {name}."


def load_settings_file() -> None:
    """The roles-file uploader's callback: apply the file's roles (and a config's settings) to the pages' fields,
    before any widget is drawn; an error leaves every field as it was and is shown on the page."""
    upload = st.session_state.get("roles_upload")
    if upload is None:
        return
    try:
        settings, message = settings_from_file(upload.name, upload.getvalue(), st.session_state.table.frame)
    except FusionDPError as exc:
        st.session_state.roles_file_note = ("error", error_message(exc))
        return
    st.session_state.update(settings)
    st.session_state.roles_file_note = ("success", message)


def current_config(epsilon: float | None = None) -> RunConfig:
    """The ``RunConfig`` of the current choices (ε defaults to the lowest of the grid); with a text column, the
    roles travel in a text spec."""
    table: Table = st.session_state.table
    source = st.session_state.support_source
    separate = source == SUPPORT_TABLE
    if separate and st.session_state.support_table is None:  # never a silent fallback to a public fraction
        raise ConfigError("A separate public support table was chosen but none is uploaded yet: upload it on the "
                          "Columns page, or choose a public fraction of this table as the support set.")
    synthetic: dict[str, Any] = {}
    roles: dict[str, Any] = {"spec": current_spec()} if not text_mode() else {"text": current_text_spec()}
    if source == SUPPORT_SYNTHETIC and text_mode():
        synthetic = {"support_source": "dp_synthetic"}  # the library says why notes cannot take one
    elif source == SUPPORT_SYNTHETIC:
        spec = current_spec()
        domains, bounds = declared_values(spec.resolve(table.frame))
        synthetic = {"support_source": "dp_synthetic", "synthesizer": st.session_state.synthesizer,
                     "epsilon_syn": st.session_state.epsilon_syn, "sensitive_domains": domains,
                     "sensitive_bounds": bounds}
    return RunConfig.build(
        data=table.name,
        **roles,
        **synthetic,
        support_data=st.session_state.support_table.name if separate else None,
        support_fraction=st.session_state.support_fraction,
        imputer=st.session_state.imputer,
        modes=list(st.session_state.modes),
        seeds=list(range(st.session_state.seed, st.session_state.seed + st.session_state.n_seeds)),
        epsilon=epsilon if epsilon is not None else epsilon_grid()[0],
        delta=st.session_state.delta,
        accountant=st.session_state.accountant,
        epochs=epochs_setting(),
        batch_size=st.session_state.batch_size,
        lr=st.session_state.lr,
        alpha=st.session_state.alpha,
        beta=st.session_state.beta,
        max_grad_norm=st.session_state.max_grad_norm,
        noise_level=clip_rule_setting(),
        numeric_encoding=st.session_state.numeric_encoding,
        lr_schedule=st.session_state.lr_schedule,
        reproducible_noise=st.session_state.reproducible_noise,
    )


def epsilon_grid() -> list[float]:
    """The ε values of the curve: the slider's range plus an optionally typed value."""
    low, high = st.session_state.get("eps_range", DEFAULT_EPSILON_RANGE)
    grid = [e for e in EPSILON_STEPS if low <= e <= high]
    extra = st.session_state.extra_epsilon
    if extra is not None:
        grid.append(float(extra))
    return sorted(set(grid))


def support_frame() -> pd.DataFrame | None:
    """The uploaded public support table's rows when it is the chosen support set, else ``None`` (a public fraction
    or a DP-synthetic support set comes out of the split instead)."""
    if st.session_state.support_source != SUPPORT_TABLE or st.session_state.support_table is None:
        return None
    return st.session_state.support_table.frame
