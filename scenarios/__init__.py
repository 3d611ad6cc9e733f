"""Scenario files (YAML) and the Locust side that plays them.

``locust_agent`` (the locustfile) and the modules it uses (``load_shapes``,
``load_runtime``, ``open_arrivals``) import locust or gevent: they are loaded only
by Locust processes, never by this package's import.
"""

__all__: list[str] = []
