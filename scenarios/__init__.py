"""Scenario files (YAML) and the Locust user classes that play them.

``locust_agent`` imports locust (which monkey-patches the process with gevent):
it is loaded only by the Locust process, never by this package's import.
"""

__all__: list[str] = []
