"""The run store: run folder layout, status + heartbeat, metrics, index of past runs.

stdlib + studio.core only.
"""

from studio.runs.store import (  # noqa: F401
    HEARTBEAT_STALE_S,
    RunFolder,
    RunInfo,
    list_runs,
    read_metrics,
    read_status,
)
