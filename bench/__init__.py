"""The benchmark and fault harness of kumowatch (``scripts/bench.py``, ``scripts/soak.py``, faults).

Plain modules, imported with the repository root on ``sys.path``: process management
(:mod:`bench.procs`), the webhook receiver (:mod:`bench.receiver`), the simulator as a child
process (:mod:`bench.sim`), Prometheus + Alertmanager (:mod:`bench.promstack`), the kumowatch
services (:mod:`bench.kumostack`), detection trials (:mod:`bench.detection`), the rows of the
services' own bench modules (:mod:`bench.rows`) and the table (:mod:`bench.report`).
"""

__all__: list[str] = []
