"""YAML renderer with lazy ``!pillar`` / ``!grain`` values for container maps in pillar.

Use it in pillar SLS files with ``#!lazy_yaml`` (or ``#!jinja|lazy_yaml``)::

    #!jinja|lazy_yaml
    dockerfabric:
      maps:
        webapp:
          web_server:
            image: nginx
            environment:
              DB_HOST: !pillar db:host          # looked up in the minion's pillar
            exposes:
              - [80, 80, !grain fqdn_ip4:0]

``!pillar key:path`` and ``!grain key:path`` are resolved on the minion when the maps are built
(after the whole pillar is known), so a map can refer to pillar data of other SLS files or to the
minion's grains. ``!env_lazy NAME`` and ``!path_lazy VALUE`` are resolved on the minion too.

Pillar travels from the master to the minion as msgpack, which cannot carry Python objects, so
the renderer emits plain marker dicts ``{'__lazy__': 'pillar', 'key': 'db:host'}``; the engine
(``containermap.pillar``) turns them into values and reports a missing key with the map and key
path. The immediate tags of the engine's loader (``!path``, ``!env``) are available when the
engine package is importable where the pillar is rendered (master: ``saltutil.sync_utils``).
"""

import yaml
from salt.exceptions import SaltRenderError

try:  # the engine's loader: same safe loader and tags as map files
    from containermap.config.yaml import MapLoader as _Base
    from containermap.exceptions import ConfigurationError
except ImportError:  # a master without the engine package: plain safe loader + lazy tags
    _Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class ConfigurationError(Exception):  # noqa: N818 - stand-in, never raised
        """Placeholder so the except clause below stays valid."""


__virtualname__ = "lazy_yaml"

# must match containermap.pillar.LAZY_MARK / LAZY_KEY (the renderer may run without the engine)
LAZY_MARK = "__lazy__"
LAZY_KEY = "key"
# ``!secret VALUE`` travels as a marker too: msgpack would drop the Secret type
LAZY_TAGS = {
    "!pillar": "pillar",
    "!grain": "grain",
    "!env_lazy": "env",
    "!path_lazy": "path",
    "!secret": "secret",
}


def __virtual__():
    return __virtualname__


class LazyYamlLoader(_Base):
    """The engine's loader whose lazy tags produce msgpack-safe marker dicts."""


def _marker_constructor(kind):
    def construct(loader, node):
        if not isinstance(node, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(
                None, None, f"!{kind} needs a scalar key such as 'a:b'", node.start_mark
            )
        return {LAZY_MARK: kind, LAZY_KEY: str(loader.construct_scalar(node)).strip()}

    return construct


for _tag, _kind in LAZY_TAGS.items():
    LazyYamlLoader.add_constructor(_tag, _marker_constructor(_kind))


def render(yaml_data, saltenv="base", sls="", argline="", **kws):
    """Render YAML (a string or a file object) with lazy ``!pillar``/``!grain`` values.

    :rtype: A Python data structure (plain dicts/lists/scalars; lazy values as marker dicts)
    """
    if not isinstance(yaml_data, str):
        yaml_data = yaml_data.read()
    try:
        loader = LazyYamlLoader(yaml_data)
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise SaltRenderError(f"lazy_yaml: {exc.problem or exc.context}{where} in {sls or 'input'}") from None
    except (yaml.YAMLError, ConfigurationError) as exc:
        raise SaltRenderError(f"lazy_yaml: {exc} in {sls or 'input'}") from None
    return data or {}
