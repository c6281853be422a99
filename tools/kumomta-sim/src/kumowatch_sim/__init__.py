"""kumowatch_sim: a faithful KumoMTA (kumod) stand-in for tests, demos and benchmarks."""

from kumowatch_sim.cluster import SimCluster
from kumowatch_sim.config import SimConfig
from kumowatch_sim.errors import BadRequestError, ConfigError, ScenarioError, SimError
from kumowatch_sim.hook import LogHookSender
from kumowatch_sim.knobs import SetRequest
from kumowatch_sim.model import TrafficModel
from kumowatch_sim.node import SimNode
from kumowatch_sim.records import LogRecord
from kumowatch_sim.scenario import Scenario, Step, builtin_scenario, load_scenario_file

__all__ = [
    "BadRequestError",
    "ConfigError",
    "LogHookSender",
    "LogRecord",
    "Scenario",
    "ScenarioError",
    "SetRequest",
    "SimCluster",
    "SimConfig",
    "SimError",
    "SimNode",
    "Step",
    "TrafficModel",
    "builtin_scenario",
    "load_scenario_file",
]
