"""What a run is: dataclasses, TOML load/save, dotted overrides, validation.

stdlib + studio.core only.
"""

from studio.config.io import (  # noqa: F401
    apply_overrides,
    config_from_dict,
    config_to_dict,
    dumps_toml,
    load_config,
    loads_config,
    save_config,
)
from studio.config.schema import (  # noqa: F401
    CheckpointConfig,
    DataConfig,
    EvalConfig,
    ModelConfig,
    RunConfig,
    RunSection,
    SampleConfig,
    TrainConfig,
)
