"""Command line: ``python -m containermap validate FILE...``.

Loads each YAML file - a docker-map map file, or a pillar-style file with ``dockerfabric: maps:``
and/or ``container_maps:`` - validates every map (per-key rules, cross references, cycles) and
prints, per map, its containers by dependency level with their generated names, then every
problem found. Nothing talks to Docker. Exit status: 0 valid, 1 problems found, 2 bad usage.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from .config.naming import hostname
from .exceptions import ConfigurationError, Problem

PILLAR_KEYS = ("dockerfabric", "container_maps")


def _is_pillar(data: Any) -> bool:
    if not isinstance(data, Mapping):
        return False
    root = data.get("dockerfabric")
    return isinstance(data.get("container_maps"), Mapping) or (
        isinstance(root, Mapping) and isinstance(root.get("maps"), Mapping)
    )


def load_file_maps(filename: str) -> tuple[dict[str, Any], list[Problem]]:
    """Maps of one file (map file or pillar-style file) and the problems found loading them."""
    from .config import yaml as map_yaml
    from .config.map import ContainerMap

    try:
        data = map_yaml.load_file(filename)
    except ConfigurationError as exc:
        return {}, list(exc.problems)
    if _is_pillar(data):
        from . import pillar

        sources = pillar.raw_maps_from_pillar(data)
        maps, problems, _ = pillar.build_maps(sources, raise_errors=False)
        return dict(maps), list(problems)
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        return {}, [
            Problem(None, None, filename, f"a container map must be a mapping, not {type(data).__name__}")
        ]
    data = dict(data)
    base = os.path.basename(filename)
    name = str(data.pop("name", None) or base.rpartition(".")[0] or base)
    try:
        return {name: ContainerMap(name, data)}, []
    except ConfigurationError as exc:
        return {}, list(exc.problems)


def report(maps: Mapping[str, Any], out: TextIO) -> list[Problem]:
    """Print the containers of ``maps`` by dependency level; return cross-map problems."""
    from .graph import DependencyGraph

    graph = DependencyGraph(maps)
    problems = graph.reference_problems() + graph.cycle_problems()
    for map_name in maps:
        containers = graph.containers(map_name)
        levels = [
            [n for n in level if n.config_type == "container" and n.map_name == map_name]
            for level in graph.levels(containers)
        ]
        levels = [level for level in levels if level]
        extras = {kind: 0 for kind in ("volume", "network", "image")}
        for node in graph.dependencies(containers):
            if node.config_type in extras and node.map_name == map_name:
                extras[node.config_type] += 1
        print(
            f"map {map_name}: {len(containers)} containers in {len(levels)} levels, "
            f"{extras['volume']} attached volumes, {extras['network']} networks, {extras['image']} images",
            file=out,
        )
        for index, level in enumerate(levels):
            print(f"  level {index}:", file=out)
            for node in level:
                name = str(node)
                print(f"    {name:<50} hostname {hostname(name)}", file=out)
    return problems


def validate(filenames: Sequence[str], out: TextIO = sys.stdout) -> int:
    """Validate files and print the report; 0 when every map is valid, else 1."""
    all_maps: dict[str, Any] = {}
    problems: list[Problem] = []
    for filename in filenames:
        maps, file_problems = load_file_maps(filename)
        for name, m in maps.items():
            if name in all_maps:
                file_problems.append(Problem(name, None, "", f"map '{name}' is defined twice ({filename})"))
            else:
                all_maps[name] = m
        problems.extend(file_problems)
    if all_maps:
        problems.extend(report(all_maps, out))
    if problems:
        print(f"{len(problems)} problem{'s' if len(problems) != 1 else ''}:", file=out)
        for problem in problems:
            print(f"  {problem}", file=out)
        return 1
    print(f"{len(all_maps)} map{'s' if len(all_maps) != 1 else ''} valid", file=out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m containermap", description="container map tools")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("validate", help="validate map files and pillar files, show the dependency order")
    cmd.add_argument("files", nargs="+", metavar="FILE")
    args = parser.parse_args(argv)
    return validate(args.files)


if __name__ == "__main__":
    sys.exit(main())
