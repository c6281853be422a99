"""Errors raised by the simulator.

SimError
 ├── BadRequestError   an HTTP request body or parameter is invalid (answered with 400)
 ├── ScenarioError     a scenario name or file is unknown or invalid
 └── ConfigError       a SimConfig or CLI value is invalid
"""

from __future__ import annotations


class SimError(Exception):
    """Base class of every simulator error."""


class BadRequestError(SimError):
    """An HTTP request carried an invalid body or parameter."""


class ScenarioError(SimError):
    """A scenario could not be found, read or validated."""


class ConfigError(SimError):
    """A configuration value is invalid."""
