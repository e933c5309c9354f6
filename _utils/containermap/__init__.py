"""containermap: the salt-dockerfabric engine.

A plain Python package (no Salt import) that loads docker-map style container maps, validates
them, orders them as a dependency graph, observes the live state of Docker engines, plans the
actions that make the engines match the maps, and applies those plans.
"""

__version__ = "0.1.0"
