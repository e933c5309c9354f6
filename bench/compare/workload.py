"""The one workload every tool of the comparison sets up, and its rendering for each tool.

A 3-level map of ``N = 1 + 2K`` containers on one user network, with one named volume:

* ``db``: mounts the volume at ``/data``, env ``ROLE=db``, ``DBVER=<dbver>``;
* ``appI`` (I = 1..K): depends on ``db``, env ``ROLE=app``, ``DB=db``;
* ``webI``: depends on ``appI``, env ``ROLE=web``, ``APP=appI``, publishes
  ``127.0.0.1:(port_base + I) -> 80/tcp``.

Every container runs ``sleep 100000`` in the bench image (``local/busybox`` plus a tool-neutral
entrypoint that exits on TERM, so a stop takes ~0.1 s for every tool, see :func:`image_context`).
The requested N maps to ``K = N // 2`` (N=10 -> 11 containers, 30 -> 31, 100 -> 101), the
same sizes as shared/reference/peers.md.

:class:`Workload` is the tool-neutral definition; ``to_*`` render it for containermap (map
dict, also used as the Salt pillar), docker-compose v1 (file format 2.4) and saltext-dockermod
(pillar for the SLS in :data:`SALTEXT_SLS`); the SDK floor walks :meth:`Workload.levels`
directly. :func:`normalize_*` turn each rendering back into the neutral form so the unit test can
check that every tool gets the same container set.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass, field

LABEL_KEY = "org.dockerfabric.test"
COMMAND = ("sleep", "100000")
BASE_IMAGE = "local/busybox:latest"
# interface name used by `exposes`; the engine API client maps it to 127.0.0.1, and Salt's
# grains (ip4_interfaces) give the loopback NIC the same name
LOOPBACK = "lo"

# Tool-neutral PID-1 wrapper: run the command in the background, exit when TERM/INT arrive.
ENTRYPOINT_SH = """#!/bin/sh
trap 'kill "$child" 2>/dev/null; exit 0' TERM INT
"$@" &
child=$!
wait "$child"
"""


@dataclass(frozen=True)
class Container:
    """One container of the workload, by its logical name (``db``, ``app3``, ``web3``)."""

    name: str
    env: tuple[tuple[str, str], ...]
    deps: tuple[str, ...] = ()
    host_port: int | None = None
    mounts_volume: bool = False

    def as_neutral(self) -> dict:
        """Comparable plain form (used by the tests and the runner's checks)."""
        return {
            "name": self.name,
            "env": dict(self.env),
            "deps": sorted(self.deps),
            "port": self.host_port,
            "volume": self.mounts_volume,
            "command": list(COMMAND),
        }


@dataclass
class Workload:
    """The workload for one tool: ``prefix`` makes every object name unique to it."""

    k: int
    prefix: str
    port_base: int
    image: str
    label: str  # value of org.dockerfabric.test
    dbver: str = "1"
    extra: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return 1 + 2 * self.k

    @property
    def network(self) -> str:
        """Network name for the tools that name objects themselves (compose, salt, SDK)."""
        return f"{self.prefix}-net"

    @property
    def volume(self) -> str:
        return f"{self.prefix}-vol"

    def container_name(self, logical: str) -> str:
        """Docker name for compose / saltext / SDK (containermap names ``<map>.<config>``)."""
        return f"{self.prefix}-{logical}"

    def levels(self) -> list[list[Container]]:
        """Containers by dependency level: ``[[db], [app1..K], [web1..K]]``."""
        db = Container("db", (("ROLE", "db"), ("DBVER", self.dbver)), mounts_volume=True)
        apps = [
            Container(f"app{i}", (("ROLE", "app"), ("DB", "db")), deps=("db",)) for i in range(1, self.k + 1)
        ]
        webs = [
            Container(
                f"web{i}",
                (("ROLE", "web"), ("APP", f"app{i}")),
                deps=(f"app{i}",),
                host_port=self.port_base + i,
            )
            for i in range(1, self.k + 1)
        ]
        return [[db], apps, webs]

    def containers(self) -> list[Container]:
        return [c for level in self.levels() for c in level]

    def neutral(self) -> list[dict]:
        """The container set in comparable form, sorted by name."""
        return sorted((c.as_neutral() for c in self.containers()), key=lambda c: c["name"])

    # -- renderings ----------------------------------------------------------------------------

    def to_map_dict(self) -> dict:
        """containermap map (docker-map schema); the map name is ``self.prefix``.

        ``requires`` is the ordering-only dependency (like compose ``depends_on`` and Salt
        ``require``); the volume is the map's attached volume ``vol`` (``<map>.vol``).
        """
        data: dict = {"networks": {"net": {}}, "volumes": {"vol": "/data"}}
        for c in self.containers():
            cfg: dict = {
                "image": self.image,
                "networks": ["net"],
                "create_options": {"command": list(COMMAND), "environment": dict(c.env)},
            }
            if c.deps:
                cfg["requires"] = list(c.deps)
            if c.mounts_volume:
                cfg["attaches"] = ["vol"]
            if c.host_port is not None:
                cfg["exposes"] = [[80, c.host_port, LOOPBACK]]
            data[c.name] = cfg
        return data

    def to_compose(self) -> dict:
        """docker-compose v1 file (format 2.4) with fixed names and the bench label."""
        labels = {LABEL_KEY: self.label}
        services: dict = {}
        for c in self.containers():
            svc: dict = {
                "image": self.image,
                "command": list(COMMAND),
                "container_name": self.container_name(c.name),
                "environment": dict(c.env),
                "networks": ["net"],
                "labels": labels,
            }
            if c.mounts_volume:
                svc["volumes"] = ["vol:/data"]
            if c.host_port is not None:
                svc["ports"] = [f"127.0.0.1:{c.host_port}:80"]
            if c.deps:
                svc["depends_on"] = list(c.deps)
            services[c.name] = svc
        return {
            "version": "2.4",
            "services": services,
            "networks": {"net": {"name": self.network, "labels": labels}},
            "volumes": {"vol": {"name": self.volume, "labels": labels}},
        }

    def to_saltext_pillar(self) -> dict:
        """Pillar for :data:`SALTEXT_SLS` (saltext-dockermod states): key ``dfbench``."""
        items = []
        by_name = {c.name: c for c in self.containers()}
        for c in self.containers():
            items.append(
                {
                    "id": c.name,
                    "name": self.container_name(c.name),
                    "env": dict(c.env),
                    "deps": [self.container_name(d) for d in c.deps],
                    "rdeps": [self.container_name(o.name) for o in by_name.values() if c.name in o.deps],
                    "port": c.host_port,
                    "volume": c.mounts_volume,
                }
            )
        return {
            "dfbench": {
                "image": self.image,
                "cmd": " ".join(COMMAND),
                "net": self.network,
                "vol": self.volume,
                "label": self.label,
                "containers": items,
            }
        }


# -- normalisation of each rendering (tests: every tool gets the same container set) -----------


def _env_dict(env) -> dict:
    if isinstance(env, dict):
        return {str(k): str(v) for k, v in env.items()}
    return dict(item.split("=", 1) for item in env)


def normalize_map_dict(data: dict) -> list[dict]:
    """containermap map dict -> neutral container list."""
    out = []
    for name, cfg in data.items():
        if name in ("networks", "volumes"):
            continue
        port = None
        for exposed, host_port, _iface in cfg.get("exposes", []):
            assert exposed == 80
            port = host_port
        opts = cfg["create_options"]
        out.append(
            {
                "name": name,
                "env": _env_dict(opts["environment"]),
                "deps": sorted(cfg.get("requires", [])),
                "port": port,
                "volume": "vol" in cfg.get("attaches", []) and data["volumes"]["vol"] == "/data",
                "command": list(opts["command"]),
            }
        )
    return sorted(out, key=lambda c: c["name"])


def normalize_compose(doc: dict, prefix: str) -> list[dict]:
    """compose file -> neutral container list (names without the prefix)."""
    out = []
    for name, svc in doc["services"].items():
        assert svc["container_name"] == f"{prefix}-{name}"
        port = None
        for spec in svc.get("ports", []):
            ip, host_port, exposed = spec.split(":")
            assert ip == "127.0.0.1" and exposed == "80"
            port = int(host_port)
        out.append(
            {
                "name": name,
                "env": _env_dict(svc["environment"]),
                "deps": sorted(svc.get("depends_on", [])),
                "port": port,
                "volume": svc.get("volumes", []) == ["vol:/data"],
                "command": list(svc["command"]),
            }
        )
    return sorted(out, key=lambda c: c["name"])


def normalize_saltext_pillar(pillar: dict, prefix: str) -> list[dict]:
    """saltext pillar -> neutral container list."""
    body = pillar["dfbench"]
    strip = len(prefix) + 1
    return sorted(
        (
            {
                "name": c["id"],
                "env": _env_dict(c["env"]),
                "deps": sorted(d[strip:] for d in c["deps"]),
                "port": c["port"],
                "volume": bool(c["volume"]),
                "command": body["cmd"].split(),
            }
            for c in body["containers"]
        ),
        key=lambda c: c["name"],
    )


def normalize_inspect(info: dict, logical: str, volume: str) -> dict:
    """``docker inspect`` of a running workload container -> neutral form (without deps).

    Lets the runner check that a tool really created what the workload asks for.
    """
    env = {k: v for k, v in _env_dict(info["Config"]["Env"] or []).items() if k != "PATH"}
    bindings = (info["HostConfig"].get("PortBindings") or {}).get("80/tcp") or []
    port = int(bindings[0]["HostPort"]) if bindings else None
    mounts = [m for m in info.get("Mounts", []) if m.get("Type") == "volume"]
    return {
        "name": logical,
        "env": env,
        "port": port,
        "volume": any(m.get("Name") == volume and m.get("Destination") == "/data" for m in mounts),
        "command": list(info["Config"]["Cmd"] or []),
    }


# -- saltext-dockermod state file ---------------------------------------------------------------

SALTEXT_SLS = """{%- set b = salt['pillar.get']('dfbench') %}
{{ b.net }}:
  docker_network.present:
    - driver: bridge
    - labels:
      - org.dockerfabric.test: {{ b.label }}
{{ b.vol }}:
  docker_volume.present: []
{%- for c in b.containers %}
{{ c.name }}:
  docker_container.running:
    - image: {{ b.image }}
    - command: {{ b.cmd }}
    - labels:
      - org.dockerfabric.test: {{ b.label }}
    - environment:
{%- for k, v in c.env.items() %}
      - {{ k }}: "{{ v }}"
{%- endfor %}
    - networks:
      - {{ b.net }}
{%- if c.volume %}
    - binds:
      - {{ b.vol }}:/data:rw
{%- endif %}
{%- if c.port %}
    - port_bindings:
      - 127.0.0.1:{{ c.port }}:80
{%- endif %}
    - require:
      - docker_network: {{ b.net }}
      - docker_volume: {{ b.vol }}
{%- for d in c.deps %}
      - docker_container: {{ d }}
{%- endfor %}
{%- endfor %}
"""

SALTEXT_DOWN_SLS = """{%- set b = salt['pillar.get']('dfbench') %}
{%- for c in b.containers|reverse %}
{{ c.name }}:
  docker_container.absent:
    - force: true
{%- if c.rdeps %}
    - require:
{%- for d in c.rdeps %}
      - docker_container: {{ d }}
{%- endfor %}
{%- endif %}
{%- endfor %}
{{ b.net }}:
  docker_network.absent:
    - require:
{%- for c in b.containers %}
      - docker_container: {{ c.name }}
{%- endfor %}
{{ b.vol }}:
  docker_volume.absent:
    - require:
      - docker_container: {{ b.containers[0].name }}
"""


# -- bench image ------------------------------------------------------------------------------


def image_context(label: str, base: str = BASE_IMAGE) -> io.BytesIO:
    """Build context (tar) of the bench image: ``base`` + the TERM-handling entrypoint."""
    dockerfile = (
        f"FROM {base}\nCOPY entry.sh /entry.sh\nLABEL {LABEL_KEY}={label}\n"
        f'ENTRYPOINT ["/entry.sh"]\nCMD ["sleep", "100000"]\n'
    )
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text, mode in (("Dockerfile", dockerfile, 0o644), ("entry.sh", ENTRYPOINT_SH, 0o755)):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf
