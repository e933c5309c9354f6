"""docs/map-reference.md lists exactly the keys the engine accepts.

Each key table of the reference (the first table after a known heading; keys are the backticked
names in its first column, ``<placeholders>`` left out) is compared with the engine's schema:
the ``FIELDS`` of each configuration class, the map keys, the client sub-keys and the pillar map
extras. A key added to or removed from the engine without the docs, or the other way round,
fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from containermap import pillar
from containermap.config import client as client_mod
from containermap.config import map as map_mod
from containermap.config import normalize
from containermap.config.client import ClientConfiguration
from containermap.config.container import ContainerConfiguration
from containermap.config.elements import HealthCheck, NetworkEndpoint
from containermap.config.network import NetworkConfiguration
from containermap.config.volume import HostVolumeConfiguration, VolumeConfiguration

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "map-reference.md"

# heading of the table in the reference -> the keys the engine accepts there
SCHEMA = {
    "Map keys": set(map_mod.MAP_KEYS),
    "Container configuration keys": set(ContainerConfiguration.FIELDS),
    "Volume configuration keys": set(VolumeConfiguration.FIELDS),
    "Network configuration keys": set(NetworkConfiguration.FIELDS),
    "Client configuration keys": set(ClientConfiguration.FIELDS),
    "Host volume keys": {"root"},
    "Network endpoint keys": set(normalize._ENDPOINT_KEYS),
    "Exec command keys": set(normalize._EXEC_KEYS),
    "Healthcheck keys": set(HealthCheck._fields),
    "TLS keys": set(client_mod.TLS_KEYS),
    "Login keys": set(client_mod.AUTH_KEYS),
    "Pillar-only map keys": set(pillar.MAP_EXTRAS),
}


def documented_tables(text: str) -> dict[str, list[str]]:
    """Heading -> keys of the first table after it (first column, backticked, in order)."""
    tables: dict[str, list[str]] = {}
    heading = None
    in_table = False
    for line in text.splitlines():
        m = re.match(r"^#{2,6}\s+(.*?)\s*$", line)
        if m:
            heading, in_table = m.group(1), False
            continue
        if heading is None or heading in tables and not in_table:
            continue
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not in_table:
                in_table = True
                tables[heading] = []
                continue  # the header row
            if set(cells[0]) <= set("-: "):
                continue  # the separator row
            keys = re.findall(r"`([^`]+)`", cells[0])
            tables[heading].extend(k for k in keys if not k.startswith("<"))
        elif in_table:
            in_table = False
            heading = None
    return tables


TABLES = documented_tables(REFERENCE.read_text())


@pytest.mark.parametrize("heading", sorted(SCHEMA))
def test_documented_keys_equal_engine_keys(heading: str) -> None:
    assert heading in TABLES, f"docs/map-reference.md has no table under a heading {heading!r}"
    documented = TABLES[heading]
    assert len(documented) == len(set(documented)), f"{heading}: a key is listed twice: {documented}"
    engine = SCHEMA[heading]
    missing = sorted(engine - set(documented))
    extra = sorted(set(documented) - engine)
    assert not missing, f"{heading}: the engine accepts {missing}, the reference does not list them"
    assert not extra, f"{heading}: the reference lists {extra}, the engine does not accept them"


def test_host_root_is_the_only_special_host_key() -> None:
    """``root`` is the prefix key of ``host``; every other key is an alias."""
    host = HostVolumeConfiguration({"root": "/srv/x", "data": "d"})
    assert host.root == "/srv/x"
    assert host.get_path("data") == "/srv/x/d"


def test_documented_defaults_of_volumes_and_networks() -> None:
    """The defaults the tables state (driver local / bridge, internal false)."""
    assert VolumeConfiguration({"default_path": "/x"}).driver == "local"
    net = NetworkConfiguration({})
    assert (net.driver, net.internal) == ("bridge", False)
    text = REFERENCE.read_text()
    assert "| `driver` | string (lazy allowed) | `local` |" in text
    assert "| `driver` | string | `bridge` |" in text


def test_endpoint_fields_match_the_named_tuple() -> None:
    assert set(normalize._ENDPOINT_KEYS) == set(NetworkEndpoint._fields) - {"network_name"}


def test_parser_reads_every_table_and_detects_changes() -> None:
    """The parser is not vacuous: a table with one key removed or added is seen as different."""
    text = REFERENCE.read_text()
    assert sum(len(v) for k, v in TABLES.items() if k in SCHEMA) >= 60
    removed = text.replace("| `attaches` |", "| attaches (removed) |", 1)
    assert "attaches" not in documented_tables(removed)["Container configuration keys"]
    added = text.replace("| `abstract` |", "| `abstract`, `made_up` |", 1)
    assert "made_up" in documented_tables(added)["Container configuration keys"]
