"""The training engine: ``run(config, sink, control) -> RunResult``."""

from studio.engine.loop import RunResult, run  # noqa: F401
