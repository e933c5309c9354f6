"""Remote engines (issue 8 item 5): a client's base_url over TCP+TLS and over ssh://, one
MapClient driving several engines with the actions on different clients in parallel.

Real engines of the test bed: the TLS engine (dockerd --tlsverify on 127.0.0.1, certificates made
with openssl) and sshd on 127.0.0.1 whose far end reaches the first engine.
"""

from __future__ import annotations

import docker
import pytest
from containermap.clients import ClientSet
from containermap.config.map import ContainerMap
from containermap.engine import MapClient
from containermap.exceptions import ContainerMapError

IMAGE = "local/busybox:latest"


def sleeper(clients: list[str], **extra) -> dict:
    return {
        "image": IMAGE,
        "clients": clients,
        "create_options": {"command": ["sleep", "600"]},
        "host_config": {"init": True},
        # no default bridge: another test's dockerd may take docker0 away from the first engine
        "network_mode": "none",
        **extra,
    }


@pytest.fixture
def ssh_home(ssh_engine, monkeypatch):
    """The paramiko transport reads ~/.ssh of $HOME: point it at the test bed's ssh home."""
    for key, value in ssh_engine.env.items():
        monkeypatch.setenv(key, value)
    return ssh_engine.home


def shutdown(client: MapClient) -> None:
    client.run("shutdown", "__all__", remove_attached=True, remove_networks=True)


def test_tls_engine_converges_a_map(tls_engine, test_labels, unique_name):
    name = f"dftls{unique_name}"
    m = ContainerMap(name, {"web": sleeper(["tls1"])})
    clients = {"tls1": {"base_url": tls_engine.url, "tls": tls_engine.tls}}
    client = MapClient(m, clients=clients, extra_labels=test_labels)
    local = docker.APIClient(base_url=tls_engine.unix_url, version="auto")
    try:
        result = client.run("update", "__all__")
        assert result.ok, result.comment
        info = local.inspect_container(f"{name}.web")
        assert info["State"]["Running"]
        # docker-map hostname: client suffix for a non-default client
        assert info["Config"]["Hostname"] == f"{name}-web-tls1"
        # converged: a second run plans nothing
        assert not client.plan("update", "__all__").steps
    finally:
        shutdown(client)
        local.close()


def test_tls_engine_refuses_a_client_without_certificate(tls_engine):
    clients = ClientSet({"nocert": {"base_url": tls_engine.url, "tls": {"ca_cert": tls_engine.ca_cert}}})
    with pytest.raises(ContainerMapError) as err:
        clients.ping("nocert")
    assert tls_engine.url.replace("tcp://", "") in str(err.value)


def test_ssh_engine_converges_a_map(ssh_engine, ssh_home, api_client, test_labels, unique_name):
    name = f"dfssh{unique_name}"
    m = ContainerMap(name, {"web": sleeper(["ssh1"])})
    client = MapClient(m, clients={"ssh1": {"base_url": ssh_engine.url}}, extra_labels=test_labels)
    try:
        result = client.run("update", "__all__")
        assert result.ok, result.comment
        # the far end of the ssh connection is the first engine
        info = api_client.inspect_container(f"{name}.web")
        assert info["State"]["Running"]
        assert info["Config"]["Hostname"] == f"{name}-web-ssh1"
        assert client.clients.url("ssh1") == ssh_engine.url
    finally:
        shutdown(client)


def test_ssh_engine_unknown_host_key_is_refused(ssh_engine, monkeypatch, tmp_path):
    # an empty HOME: no key, no known_hosts -> paramiko rejects the host; clear error with the URL
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ContainerMapError) as err:
        ClientSet({"ssh1": {"base_url": ssh_engine.url}}).get("ssh1")
    assert "127.0.0.1" in str(err.value)


def test_one_client_drives_tls_and_ssh_engines_in_parallel(
    tls_engine, ssh_engine, ssh_home, api_client, test_labels, unique_name
):
    name = f"dfboth{unique_name}"
    body = {f"t{i}": sleeper(["tls1"]) for i in range(3)}
    body.update({f"s{i}": sleeper(["ssh1"]) for i in range(3)})
    m = ContainerMap(name, body)
    clients = {
        "tls1": {"base_url": tls_engine.url, "tls": tls_engine.tls},
        "ssh1": {"base_url": ssh_engine.url},
    }
    client = MapClient(m, clients=clients, extra_labels=test_labels)
    local_tls = docker.APIClient(base_url=tls_engine.unix_url, version="auto")
    try:
        plan = client.plan("update", "__all__")
        assert {s.client for s in plan.steps} == {"tls1", "ssh1"}
        events: list[tuple[str, str]] = []
        result = client.apply(plan, progress=lambda step, what: events.append((step.client, what)))
        assert result.ok, result.comment
        # the two engines are driven at the same time (no timing: under load a ratio of wall
        # times is noise): a step on one client starts while a step on the other is running
        running: dict[str, int] = {"tls1": 0, "ssh1": 0}
        overlapped = False
        for step_client, what in events:
            if what == "start":
                other = "ssh1" if step_client == "tls1" else "tls1"
                overlapped = overlapped or running[other] > 0
                running[step_client] += 1
            else:
                running[step_client] -= 1
        assert overlapped, events
        for i in range(3):
            assert local_tls.inspect_container(f"{name}.t{i}")["State"]["Running"]
            assert api_client.inspect_container(f"{name}.s{i}")["State"]["Running"]
        # per-client changes are prefixed with the client
        assert f"tls1|container:{name}.t0" in result.changes
        assert f"ssh1|container:{name}.s0" in result.changes
    finally:
        shutdown(client)
        local_tls.close()
