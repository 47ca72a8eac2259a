"""What a ``resume`` may change: the keys of :data:`FIXED_ON_RESUME` shape the saved tensors
or the data stream, so a resume refuses to change them (one line listing them);
``data.batch_size`` may change only together with the number of processes, keeping the
global batch.
"""

from __future__ import annotations

from convergan.config.schema import Config

FIXED_ON_RESUME = (
    "model",
    "data.name",
    "scheme.name",
    "scheme.g_steps",
    "scheme.d_steps",
    "optim.g.name",
    "optim.d.name",
    "ema.enabled",
)
"""Config keys (and sections) a ``resume`` may not change: the saved players, optimizer and
scheme states and the data stream depend on them."""


def _flat_config(value, prefix: str = "") -> dict:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out.update(_flat_config(item, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: value}


def check_resume_config(
    saved: Config | None, config: Config, saved_world_size: int | None, world_size: int
) -> None:
    """Refuse a ``resume`` whose config changes a key of :data:`FIXED_ON_RESUME` or the global
    batch (``data.batch_size`` × processes) of the ``saved`` one (none: nothing to compare);
    one line listing every such key."""
    from convergan.config import ConfigError
    from convergan.config.schema import config_to_dict

    if saved is None:
        return
    old = _flat_config(config_to_dict(saved))
    new = _flat_config(config_to_dict(config))
    changed = sorted(
        key
        for key in old.keys() | new.keys()
        if any(key == fixed or key.startswith(fixed + ".") for fixed in FIXED_ON_RESUME)
        and old.get(key) != new.get(key)
    )
    if saved_world_size is not None:
        old_batch = old.get("data.batch_size", 0) * int(saved_world_size)
        if old_batch != new.get("data.batch_size", 0) * world_size:
            changed.append("data.batch_size")
    if changed:
        details = ", ".join(f"{k} ({old.get(k)!r} -> {new.get(k)!r})" for k in changed)
        raise ConfigError(
            f"resume cannot change {details}: these keys are fixed for a run "
            "(data.batch_size only with the process count, keeping the global batch); "
            "start a new run with another out_dir"
        )
