"""chaosbench's system under test and run orchestration.

Import the parts you need from their modules (``harness.manager``,
``harness.gateway``, ``harness.scenario``, ``harness.orchestrator``); importing
this package does nothing.
"""

__all__: list[str] = []
