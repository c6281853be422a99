"""A set of simulated kumod nodes started and stopped together."""

from __future__ import annotations

from types import TracebackType

from kumowatch_sim.config import SimConfig
from kumowatch_sim.node import SimNode
from kumowatch_sim.scenario import resolve_scenario


class SimCluster:
    """``async with SimCluster(SimConfig(nodes=3, port=0)) as sim: sim.nodes[0].url``."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        scenario = resolve_scenario(config.scenario, dict(config.scenario_params))
        self.nodes = [SimNode(config, i, scenario) for i in range(config.nodes)]
        self._started: list[SimNode] = []

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def node(self, name: str) -> SimNode:
        """The node called ``name`` (``mta1``, ``mta2``, ...)."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    async def start(self) -> None:
        try:
            for node in self.nodes:
                await node.start()
                self._started.append(node)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop every started node. Idempotent."""
        while self._started:
            await self._started.pop().stop()

    async def __aenter__(self) -> SimCluster:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
