"""Docker engine connections: one docker SDK ``APIClient`` per configured client.

A :class:`ClientSet` holds the client configurations of a run (``ClientConfiguration`` objects
or plain dicts with the same keys) and creates each engine connection lazily, once, on first
use (thread-safe: the apply stage runs in worker threads).

Supported ``base_url`` forms (issue 8 item 5 builds on them):

* ``unix:///var/run/docker.sock`` (also ``/path``, ``http+unix://``), the default;
* ``tcp://host:2376`` with ``tls`` (``True``: verify against the system CAs; a dict
  ``{ca_cert, client_cert, client_key, verify, cert_path}``; or a ``docker.tls.TLSConfig``);
* ``ssh://user@host[:port]`` through the SDK's paramiko transport (``use_ssh_client=False``:
  no ``ssh`` binary is run); paramiko is an optional dependency, a clear error says so.

A client without ``base_url`` (and the default client ``__default__`` when it is not
configured) uses ``DOCKER_HOST`` / ``DOCKER_TLS_VERIFY`` / ``DOCKER_CERT_PATH`` like the
docker CLI, else the local socket.

Where "engine unreachable" is raised (:class:`~containermap.exceptions.EngineUnreachable`,
message naming the URL tried):

* :meth:`ClientSet.get` when the version is ``auto`` (the default): creating the client asks
  the engine for its API version, so an unreachable engine fails right there;
* :meth:`ClientSet.ping` always (one ``GET /_ping``);
* with a fixed ``version`` no request is made by ``get``; the first API call then fails with a
  ``requests`` ``ConnectionError``, which :func:`containermap.errors.engine_call` /
  :func:`~containermap.errors.translate` turn into ``EngineUnreachable`` with the URL (the
  client carries it as ``api.engine_url``).
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import docker
import docker.tls
from docker.constants import DEFAULT_MAX_POOL_SIZE, DEFAULT_TIMEOUT_SECONDS, DEFAULT_UNIX_SOCKET

from .config.elements import NotSet
from .config.lazy import resolve_deep, resolve_value
from .errors import ClientSetupError, EngineTimeout, engine_call, sanitize, translate
from .exceptions import ConfigurationError, EngineError, EngineUnreachable

DEFAULT_CLIENT = "__default__"
# what the SDK itself falls back to, shown in messages as the docker CLI would
LOCAL_SOCKET_URL = DEFAULT_UNIX_SOCKET.replace("http+unix://", "unix://")


class EngineClient(docker.APIClient):
    """``docker.APIClient`` that remembers which configured client it is and the URL it was
    created for (``engine_url``, shown in error messages; never contains credentials)."""

    client_name: str = DEFAULT_CLIENT
    engine_url: str = LOCAL_SOCKET_URL

    def __repr__(self) -> str:
        return f"<EngineClient {self.client_name} {self.engine_url}>"

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace the session's CA file
        # (requests issue 3829), so a TLS engine's own CA would be ignored: it must win
        if verify is None and isinstance(self.verify, str):
            verify = self.verify
        return super().merge_environment_settings(url, proxies, stream, verify, cert)


def config_value(config: Any, key: str, default: Any = None) -> Any:
    """Value of ``key`` in a ``ClientConfiguration`` (attribute) or a dict, lazy values
    resolved; ``NotSet``/``None`` give ``default``."""
    if config is None:
        return default
    value: Any = NotSet
    if type(config) is not dict:
        value = getattr(config, key, NotSet)
        if callable(value):
            # a method of the same name (e.g. a future ClientConfiguration.interfaces())
            value = NotSet
    if value is NotSet and hasattr(config, "get"):
        value = config.get(key, NotSet)
    value = resolve_value(value)
    if value is NotSet or value is None:
        return default
    return value


def display_url(base_url: str | None) -> str:
    """The URL as a user wrote it (credentials masked); the local socket when empty."""
    if not base_url:
        return LOCAL_SOCKET_URL
    url = str(base_url).strip()
    if url.startswith("http+unix://"):
        url = "unix://" + url[len("http+unix://") :]
    elif url.startswith("/"):
        url = "unix://" + url
    return sanitize(url)


def build_tls(tls: Any, client_name: str = DEFAULT_CLIENT) -> docker.tls.TLSConfig | bool:
    """``tls`` setting -> argument for ``docker.APIClient(tls=...)``.

    ``None``/``False``: no TLS. ``True``: TLS verified against the system CA bundle.
    ``TLSConfig``: used as is. Dict keys: ``ca_cert`` (path), ``client_cert`` (path, or
    ``(cert, key)``), ``client_key`` (path), ``verify`` (bool or CA path; default True),
    ``cert_path`` (directory with ``ca.pem``/``cert.pem``/``key.pem``, docker CLI layout).
    Missing files raise :class:`~containermap.errors.ClientSetupError` naming the key.
    """
    tls = resolve_value(tls)
    if tls is None or tls is False or tls is NotSet:
        return False
    if tls is True:
        return True
    if isinstance(tls, docker.tls.TLSConfig):
        return tls
    if not isinstance(tls, Mapping):
        raise ClientSetupError(
            f"tls must be true/false, a dict or a TLSConfig, not {type(tls).__name__}", client=client_name
        )
    opts = {k: resolve_value(v) for k, v in tls.items()}
    unknown = set(opts) - {"ca_cert", "client_cert", "client_key", "verify", "cert_path"}
    if unknown:
        raise ClientSetupError(f"tls: unknown keys {', '.join(sorted(unknown))}", client=client_name)
    cert_path = opts.get("cert_path")
    ca_cert = opts.get("ca_cert") or (os.path.join(cert_path, "ca.pem") if cert_path else None)
    client_cert = opts.get("client_cert")
    client_key = opts.get("client_key")
    if isinstance(client_cert, list | tuple):
        if len(client_cert) != 2:
            raise ClientSetupError("tls.client_cert: give (certificate, key)", client=client_name)
        client_cert, client_key = client_cert
    if cert_path and not client_cert:
        client_cert = os.path.join(cert_path, "cert.pem")
        client_key = client_key or os.path.join(cert_path, "key.pem")
    if bool(client_cert) != bool(client_key):
        raise ClientSetupError("tls: client_cert and client_key must be given together", client=client_name)
    for key, path in (("ca_cert", ca_cert), ("client_cert", client_cert), ("client_key", client_key)):
        if path and not os.path.isfile(path):
            raise ClientSetupError(f"tls.{key}: file {path} does not exist", client=client_name)
    verify = opts.get("verify", True)
    if isinstance(verify, str) and not os.path.isfile(verify):
        raise ClientSetupError(f"tls.verify: file {verify} does not exist", client=client_name)
    try:
        return docker.tls.TLSConfig(
            client_cert=(client_cert, client_key) if client_cert else None,
            ca_cert=ca_cert,
            verify=verify,
        )
    except docker.errors.TLSParameterError as exc:
        raise ClientSetupError(f"tls: {exc}", client=client_name, cause=exc) from exc


class ClientSet:
    """The Docker engine connections of one run, created lazily per client name.

    ``configs`` maps client names to ``ClientConfiguration`` objects or dicts with the keys
    ``base_url``, ``version`` (default ``'auto'``), ``timeout``, ``tls``, ``interfaces``,
    ``interfaces_ipv6``, ``auth_configs``, ``domainname``, ``stop_timeout``, ``wait_timeout``,
    ``max_pool_size`` (connections kept per engine; default 10); a value may also be a ready
    ``docker.APIClient`` (or a config with a ``client`` key), which is used as is and not closed.
    The default client ``__default__`` always exists.
    """

    def __init__(self, configs: Mapping[str, Any] | None = None):
        self._configs: dict[str, Any] = dict(configs or {})
        self._clients: dict[str, docker.APIClient] = {}
        self._owned: set[str] = set()
        self._lock = threading.Lock()
        self._name_locks: dict[str, threading.Lock] = {}

    # -- configuration -------------------------------------------------------------------

    def names(self) -> tuple[str, ...]:
        """Client names: ``__default__`` first, then the configured ones in order."""
        rest = tuple(n for n in self._configs if n != DEFAULT_CLIENT)
        return (DEFAULT_CLIENT, *rest)

    def __contains__(self, name: object) -> bool:
        return name == DEFAULT_CLIENT or name in self._configs

    def config(self, name: str = DEFAULT_CLIENT) -> Any:
        """The configuration of ``name`` (for an unconfigured default client: ``{}``).

        Raises :class:`~containermap.exceptions.ConfigurationError` for an unknown name."""
        if name in self._configs:
            return self._configs[name]
        if name == DEFAULT_CLIENT:
            return {}
        known = ", ".join(self.names())
        raise ConfigurationError(f"client '{name}' is not configured (configured clients: {known})")

    def value(self, name: str, key: str, default: Any = None) -> Any:
        """One configuration value of client ``name`` (lazy values resolved)."""
        cfg = self.config(name)
        if isinstance(cfg, docker.APIClient):
            return default
        return config_value(cfg, key, default)

    def interfaces(self, name: str = DEFAULT_CLIENT) -> dict[str, str]:
        """Virtual interface name -> IPv4 address, for ``exposes`` bindings."""
        return {str(k): str(v) for k, v in resolve_deep(self.value(name, "interfaces", {}) or {}).items()}

    def interfaces_ipv6(self, name: str = DEFAULT_CLIENT) -> dict[str, str]:
        """Virtual interface name -> IPv6 address."""
        values = resolve_deep(self.value(name, "interfaces_ipv6", {}) or {})
        return {str(k): str(v) for k, v in values.items()}

    def auth_configs(self, name: str = DEFAULT_CLIENT) -> dict[str, dict[str, Any]]:
        """Registry host -> login kwargs (``username``, ``password``...) of client ``name``."""
        return dict(resolve_deep(self.value(name, "auth_configs", {}) or {}))

    def domainname(self, name: str = DEFAULT_CLIENT) -> str | None:
        """Client ``domainname`` (overrides the map's ``default_domain``), or None."""
        return self.value(name, "domainname")

    def stop_timeout(self, name: str = DEFAULT_CLIENT) -> float | None:
        """Client-wide stop timeout in seconds (used when a config has none), or None."""
        return self._number(name, "stop_timeout")

    def wait_timeout(self, name: str = DEFAULT_CLIENT) -> float | None:
        """Timeout for waits (script runs, stop fallback), or None."""
        return self._number(name, "wait_timeout")

    def timeout(self, name: str = DEFAULT_CLIENT) -> float:
        """Request timeout of client ``name`` in seconds (SDK default 60)."""
        value = self._number(name, "timeout")
        return DEFAULT_TIMEOUT_SECONDS if value is None else value

    def url(self, name: str = DEFAULT_CLIENT) -> str:
        """The engine URL of client ``name`` as shown in messages."""
        api = self._clients.get(name)
        if api is not None and getattr(api, "engine_url", None):
            return api.engine_url
        base_url, _tls = self._address(name)
        return display_url(base_url)

    def _number(self, name: str, key: str) -> float | None:
        value = self.value(name, key)
        if value is None:
            return None
        try:
            return float(value) if not isinstance(value, int) else value
        except (TypeError, ValueError):
            raise ConfigurationError(
                f"client '{name}': {key} must be a number of seconds, not {value!r}"
            ) from None

    def _address(self, name: str) -> tuple[str | None, Any]:
        """(base_url, tls) of a client: configured values, else the docker CLI environment."""
        base_url = self.value(name, "base_url")
        tls = self.value(name, "tls")
        if not base_url:
            env = docker.utils.kwargs_from_env()
            base_url = env.get("base_url")
            if tls is None:
                tls = env.get("tls")
        return base_url, tls

    # -- connections ---------------------------------------------------------------------

    def get(self, name: str = DEFAULT_CLIENT) -> docker.APIClient:
        """The API client of ``name``, created on first use.

        Raises :class:`~containermap.exceptions.EngineUnreachable` (URL in the message) when
        the version is ``auto`` and the engine does not answer within ``timeout``;
        :class:`~containermap.errors.ClientSetupError` for bad TLS files, an invalid URL or a
        missing optional dependency; ``ConfigurationError`` for an unknown client name.
        """
        api = self._clients.get(name)
        if api is not None:
            return api
        with self._lock:
            lock = self._name_locks.setdefault(name, threading.Lock())
        with lock:
            api = self._clients.get(name)
            if api is None:
                api = self._create(name)
                self._clients[name] = api
        return api

    def _create(self, name: str) -> docker.APIClient:
        cfg = self.config(name)
        prebuilt = cfg if isinstance(cfg, docker.APIClient) else self.value(name, "client")
        if prebuilt is not None:
            return prebuilt
        base_url, tls = self._address(name)
        if base_url and str(base_url).startswith("/"):
            base_url = "unix://" + str(base_url)  # a socket path, as the docker CLI accepts it
        url = display_url(base_url)
        version = self.value(name, "version") or "auto"
        if isinstance(version, float):
            version = f"{version:.2f}"  # YAML reads 1.41 as a number
        version = str(version)
        timeout = self.timeout(name)
        if base_url and str(base_url).startswith("ssh://"):
            if importlib.util.find_spec("paramiko") is None:
                raise ClientSetupError(
                    f"base URL {url} needs the optional Python package paramiko for ssh:// "
                    "connections: install it (pip install paramiko) on this host",
                    client=name,
                )
            if tls:
                raise ClientSetupError(f"tls cannot be combined with the ssh:// base URL {url}", client=name)
        tls_arg = build_tls(tls, name)
        if tls_arg and not base_url:
            raise ClientSetupError("tls needs a tcp:// base_url", client=name)
        kwargs: dict[str, Any] = {
            "base_url": base_url,
            "version": version,
            "timeout": timeout,
            "tls": tls_arg,
            "use_ssh_client": False,
            "max_pool_size": int(self.value(name, "max_pool_size", DEFAULT_MAX_POOL_SIZE)),
        }
        try:
            api = EngineClient(**kwargs)
        except docker.errors.TLSParameterError as exc:
            raise ClientSetupError(f"tls: {exc}", client=name, cause=exc) from exc
        except Exception as exc:
            raise self._connect_error(name, url, timeout, exc) from exc
        api.client_name = name
        api.engine_url = url
        self._owned.add(name)
        return api

    @staticmethod
    def _connect_error(name: str, url: str, timeout: float, exc: Exception) -> EngineError:
        """Error for a failed client creation (the ``auto`` version request or the ssh
        connection): anything but a configuration mistake means "engine unreachable"."""
        text = str(exc)
        if "Invalid bind address" in text or "protocol is not" in text or "Invalid version" in text:
            return ClientSetupError(f"invalid base_url {url}: {text}", client=name, cause=exc)
        err = translate(exc, client=name, action="connect", url=url, timeout=timeout)
        if isinstance(err, EngineUnreachable | ClientSetupError):
            return err
        if isinstance(err, EngineTimeout):
            reason = f"no answer within {timeout:g} s"
        else:
            # e.g. an HTTP server that is not a Docker engine, paramiko auth/host key failures
            reason = text.replace("Error while fetching server API version: ", "") or type(exc).__name__
        return EngineUnreachable(
            sanitize(f"connect: cannot reach the Docker engine at {url}: {reason}"), client=name, cause=exc
        )

    def ping(self, name: str = DEFAULT_CLIENT) -> bool:
        """Check that the engine of ``name`` answers (``GET /_ping``); raises
        :class:`~containermap.exceptions.EngineUnreachable` naming the URL otherwise."""
        api = self.get(name)
        with engine_call(client=name, action="ping", api=api):
            return bool(api.ping())

    def created(self) -> tuple[str, ...]:
        """Names of the clients connected so far."""
        return tuple(self._clients)

    def close(self, names: Iterable[str] | None = None) -> None:
        """Close the connections this set created (all, or ``names``); pre-built clients are
        left open. A closed name is re-created on the next :meth:`get`."""
        with self._lock:
            for name in list(names if names is not None else self._clients):
                api = self._clients.pop(name, None)
                if api is not None and name in self._owned:
                    self._owned.discard(name)
                    try:
                        api.close()
                    except Exception:  # noqa: S110 - closing is best effort
                        pass

    def __enter__(self) -> ClientSet:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
