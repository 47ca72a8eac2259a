"""Validated run configuration: a dataclass schema, YAML files with ``base:`` inheritance and
dotted ``key=value`` overrides.

>>> cfg = load_config(None, ["train.steps=100", "method=wgan-gp", "optim.d.lr=1e-4"])
>>> cfg.train.steps, cfg.method.name, cfg.optim.d.lr
(100, 'wgan-gp', 0.0001)
"""

from convergan.config.load import (
    load_config,
    merge_layers,
    parse_overrides,
    parse_yaml,
    read_config_file,
    save_config,
)
from convergan.config.schema import (
    Config,
    DataConfig,
    DistributedConfig,
    EmaConfig,
    EvalConfig,
    ModelConfig,
    OptimConfig,
    OptimizerConfig,
    TrainConfig,
    config_at,
    config_from_dict,
    config_to_dict,
    scheduled_values,
)
from convergan.options import ConfigError

__all__ = [
    "Config",
    "ConfigError",
    "DataConfig",
    "DistributedConfig",
    "EmaConfig",
    "EvalConfig",
    "ModelConfig",
    "OptimConfig",
    "OptimizerConfig",
    "TrainConfig",
    "config_at",
    "config_from_dict",
    "config_to_dict",
    "scheduled_values",
    "load_config",
    "merge_layers",
    "parse_overrides",
    "parse_yaml",
    "read_config_file",
    "save_config",
]
