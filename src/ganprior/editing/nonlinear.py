"""The flow kind of direction under its earlier, documented path (README, BENCHMARKS.md): it now
lives in ``editing.directions.flow``, beside the other kinds and the loader registry that reads
its files."""

from .directions.flow import (DEFAULT_HIDDEN, DEFAULT_STEP, FORMAT, FORMAT_VERSION, AttributeMLP, FlowDirection,  # noqa: F401
                              conditional_flow, fit_flow_direction, flow_from_npz)

__all__ = ["AttributeMLP", "FlowDirection", "conditional_flow", "fit_flow_direction", "flow_from_npz"]
