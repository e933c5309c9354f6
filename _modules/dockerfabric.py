"""Container maps on this minion: docker-map / docker-fabric actions as Salt functions.

A thin adapter over the engine package ``containermap`` (synced from ``_utils`` by
``saltutil.sync_all`` or installed with pip): maps, clients and settings come from pillar
(``dockerfabric:maps``, ``dockerfabric:map_files``, ``dockerfabric:clients``,
``dockerfabric:registries``, ``dockerfabric:settings`` and salt-container-map's
``container_maps`` / ``docker-registries``, see docs/salt.md); the engine plans and applies.

Action functions take ``(container, instances=None, map_name=None, **kwargs)``; ``container`` is
``config``, ``map.config``, ``map.config.instance``, a group, a map name or ``__all__``. They
return ``{'result': bool, 'comment': str, 'changes': {...}, 'plan': [...]}`` where ``changes``
uses keys ``container:<map>.<config>[.<instance>]``, ``network:..``, ``volume:..``, ``image:..``.
With ``test=True`` nothing is changed: ``result`` is None when something would be done and
``plan`` lists every step with its reason. Configuration errors raise ``SaltInvocationError``,
engine errors ``CommandExecutionError``; a partial failure returns ``result: False`` with the
changes that were made.
"""

import contextlib
import hashlib
import ipaddress
import json
import logging
import os
import shutil
import tempfile

import salt.utils.args
from salt.exceptions import CommandExecutionError, SaltInvocationError

log = logging.getLogger(__name__)

__virtualname__ = "dockerfabric"

_CONTEXT = "dockerfabric.state"
_EXTRA = "dockerfabric.extra_maps"
_ALL = "__all__"


def __virtual__():
    missing = []
    for name in ("docker", "containermap"):
        try:
            __import__(name)
        except ImportError as exc:
            missing.append(f"{name} ({exc})")
    if missing:
        return (
            False,
            "dockerfabric: cannot import " + ", ".join(missing) + "; install the docker SDK into Salt's "
            "Python and sync _utils (saltutil.sync_all) or pip-install salt-dockerfabric",
        )
    return __virtualname__


# ------------------------------------------------------------------------------------------------
# helpers (no Docker logic here: everything goes to the engine)


def _translate(exc):
    """Engine exception -> Salt exception with the engine's message."""
    from containermap.exceptions import ConfigurationError, ContainerMapError

    if isinstance(exc, ConfigurationError):
        return SaltInvocationError(str(exc))
    if isinstance(exc, ContainerMapError):  # engine errors, the apply lock's timeout
        return CommandExecutionError(str(exc))
    if isinstance(exc, (SaltInvocationError, CommandExecutionError)):
        return exc
    # anything else (a docker SDK error the engine did not translate, a bug): keep the
    # traceback in the log, give Salt a clean error
    log.debug("dockerfabric: unexpected error", exc_info=exc)
    return CommandExecutionError(f"{type(exc).__name__}: {exc}")


def _options(kwargs):
    """Engine options: Salt's ``__pub_*`` and other dunder kwargs stripped."""
    kwargs = salt.utils.args.clean_kwargs(**kwargs)
    return {k: v for k, v in kwargs.items() if not k.startswith("__")}


def _is_test(kwargs):
    test = kwargs.pop("test", None)
    if test is None:
        test = __opts__.get("test", False)
    return bool(test)


def _fetch(source):
    """Local path of a map file (``salt://`` and other URLs are cached from the file server)."""
    if "://" in source:
        return __salt__["cp.cache_file"](source, __opts__.get("saltenv") or "base") or None
    return source


def _digest():
    # the maps may refer to any pillar key (!pillar), so any pillar change invalidates the cache
    data = {"pillar": __pillar__, "extra": __context__.get(_EXTRA, {})}
    text = json.dumps(data, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def _state(refresh=False):
    """``{'config': PillarConfig, 'client': MapClient}`` of this minion, cached in __context__."""
    from containermap import pillar as cm_pillar

    digest = _digest()
    cached = __context__.get(_CONTEXT)
    if cached and not refresh and cached["digest"] == digest:
        return cached
    try:
        config = cm_pillar.load_pillar_config(
            __pillar__,
            __grains__,
            __opts__,
            fetch=_fetch,
            extra_maps=__context__.get(_EXTRA),
        )
    except Exception as exc:  # noqa: BLE001 - translated at the edge
        raise _translate(exc) from exc
    for problem in config.problems:
        log.error("dockerfabric: map skipped: %s", problem)
    state = {"digest": digest, "config": config, "client": None}
    __context__[_CONTEXT] = state
    return state


def _map_client():
    state = _state()
    if state["client"] is None:
        from containermap.engine import MapClient

        config = state["config"]
        try:
            labels = {str(k): str(v) for k, v in (config.settings.get("labels") or {}).items()}
            state["client"] = MapClient(
                config.maps, clients=config.clients, extra_labels=labels, only_clients=config.share_clients
            )
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc) from exc
    return state


def _selection(container, map_name, maps):
    """A bare map name selects every container of that map."""
    if container is None:
        return _ALL, map_name
    if isinstance(container, str) and map_name is None and container in maps:
        m = maps[container]
        if container not in getattr(m, "containers", {}):
            return _ALL, container
    return container, map_name


def _plan_changes(steps):
    """Test-mode changes: per target the steps that would run, with their reasons."""
    changes = {}
    for step in steps:
        if step.get("kind") == "warning":
            continue
        changes.setdefault(step["target"], []).append({"action": step["kind"], "reason": step["reason"]})
    return changes


def _plan(action, container, instances, map_name, options):
    state = _map_client()
    selection, map_name = _selection(container, map_name, state["config"].maps)
    try:
        return state, state["client"].plan(
            action, selection, instances=instances, map_name=map_name, **options
        )
    except Exception as exc:  # noqa: BLE001
        raise _translate(exc) from exc


def _plan_return(plan):
    steps = plan.as_list()
    ret = {
        "result": None if plan.actionable else True,
        "comment": plan.comment,
        "changes": _plan_changes(steps),
        "plan": steps,
    }
    if plan.warnings:
        ret["warnings"] = list(plan.warnings)
    return ret


def _apply(state, plan):
    """Apply a plan; a partial failure returns result False with the changes that were made."""
    from containermap.exceptions import ActionError

    settings = state["config"].settings
    steps = plan.as_list()
    try:
        result = state["client"].apply(
            plan,
            parallel=bool(settings.get("parallel", True)),
            max_workers=int(settings.get("max_workers") or 8),
            raise_on_error=False,
        )
    except ActionError as exc:
        result = getattr(exc, "apply_result", None)
        if result is None:
            return {"result": False, "comment": str(exc), "changes": {}, "plan": steps}
    except Exception as exc:  # noqa: BLE001
        raise _translate(exc) from exc
    ret = {"result": bool(result.ok), "comment": result.comment, "changes": result.changes, "plan": steps}
    if result.warnings:
        ret["warnings"] = list(result.warnings)
    return ret


def _run(action, container, instances=None, map_name=None, **kwargs):
    if _is_test(kwargs):
        return _plan_return(_plan(action, container, instances, map_name, _options(kwargs))[1])
    from containermap.lock import LockTimeout, apply_lock

    # plan and apply under the host's apply lock (re-entrant: MapClient.apply takes it again),
    # so a concurrent run cannot change the engine between this plan and its apply
    try:
        with apply_lock():
            state, plan = _plan(action, container, instances, map_name, _options(kwargs))
            if not plan:
                return _plan_return(plan)
            return _apply(state, plan)
    except LockTimeout as exc:
        raise _translate(exc) from exc


# ------------------------------------------------------------------------------------------------
# actions


def create(container, instances=None, map_name=None, **kwargs):
    """
    Create the selected containers (and what they depend on) that do not exist yet.

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.create webapp.web_server
        salt '*' dockerfabric.create app_server instances=[instance1] map_name=webapp test=True
    """
    return _run("create", container, instances, map_name, **kwargs)


def start(container, instances=None, map_name=None, **kwargs):
    """
    Start the selected containers (creating missing dependencies first).

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.start webapp.web_server
    """
    return _run("start", container, instances, map_name, **kwargs)


def restart(container, instances=None, map_name=None, **kwargs):
    """
    Restart the selected containers.

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.restart webapp.app_server.instance1
    """
    return _run("restart", container, instances, map_name, **kwargs)


def stop(container, instances=None, map_name=None, **kwargs):
    """
    Stop the selected containers and their dependents (dependents first).

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.stop webapp.app_server stop_timeout=5
    """
    return _run("stop", container, instances, map_name, **kwargs)


def remove(container, instances=None, map_name=None, **kwargs):
    """
    Remove the selected (stopped) containers and their dependents.

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.remove webapp.web_server
    """
    return _run("remove", container, instances, map_name, **kwargs)


def kill(container, instances=None, map_name=None, signal="SIGKILL", **kwargs):
    """
    Send a signal to the selected running containers (default ``SIGKILL``).

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.kill webapp.web_server signal=SIGHUP
    """
    kwargs["signal"] = signal
    return _run("kill", container, instances, map_name, **kwargs)


def startup(container, instances=None, map_name=None, **kwargs):
    """
    Create and start the selected containers with all their dependencies.

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.startup webapp
        salt '*' dockerfabric.startup __all__ test=True
    """
    return _run("startup", container, instances, map_name, **kwargs)


def shutdown(container, instances=None, map_name=None, **kwargs):
    """
    Stop and remove the selected containers and their dependents.

    ``remove_attached=True`` also removes attached volumes, ``remove_networks=True`` the map's
    networks (named volumes are kept unless asked).

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.shutdown webapp remove_networks=True
    """
    return _run("shutdown", container, instances, map_name, **kwargs)


def update(container, instances=None, map_name=None, reload_signal=None, **kwargs):
    """
    Converge the selected containers: create what is missing, start what is stopped, re-create
    what changed (each with a reason). With ``reload_signal`` (e.g. ``SIGHUP``) the selected
    running containers that were not re-created get that signal afterwards.

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.update webapp
        salt '*' dockerfabric.update webapp.web_server reload_signal=SIGHUP test=True
    """
    test = _is_test(kwargs)
    options = _options(kwargs)
    state, plan = _plan("update", container, instances, map_name, options)
    if test:
        return _plan_return(plan)
    ret = _apply(state, plan) if plan else _plan_return(plan)
    if reload_signal and ret["result"] is not False:
        ret = _signal_untouched(state, ret, container, instances, map_name, reload_signal)
    return ret


def _signal_untouched(state, ret, container, instances, map_name, signal):
    """Send ``signal`` to the selected containers that the update did not re-create or start."""
    _, plan = _plan("kill", container, instances, map_name, {"signal": signal})
    touched = set(ret.get("changes") or {})
    plan.steps = [s for s in plan.steps if s.key not in touched]
    if not plan:
        return ret
    sent = _apply(state, plan)
    changes = dict(ret.get("changes") or {})
    changes.update(sent["changes"])
    comment = ret["comment"] if ret.get("changes") else ""
    comment = (comment + " " if comment else "") + f"Sent {signal} to {len(plan.actionable)} containers."
    return {
        "result": sent["result"],
        "comment": comment if sent["result"] else sent["comment"],
        "changes": changes,
        "plan": ret.get("plan", []) + sent["plan"],
    }


def pull_images(container=None, map_name=None, **kwargs):
    """
    Pull the images of the selected containers (all maps when nothing is given); only missing
    images unless ``pull_all_images=True``.

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.pull_images
        salt '*' dockerfabric.pull_images webapp pull_all_images=True
    """
    return _run("pull_images", container, None, map_name, **kwargs)


def _one_instance(instances):
    if isinstance(instances, (list, tuple)):
        if len(instances) > 1:
            raise SaltInvocationError("select exactly one instance")
        return instances[0] if instances else None
    return instances


def script(container, instances=None, map_name=None, source=None, contents=None, saltenv="base", **kwargs):
    """
    Run a script in a new container of one configuration instance: its dependencies are
    started first, the script (``source``, a ``salt://`` file, or ``contents``) is copied into
    the container (never bind-mounted from the host), the container runs it and is removed.
    ``result`` is False when the script exits non-zero or times out (``wait_timeout``);
    ``output`` has exit code and logs. Other options: ``entrypoint``, ``command_format``
    (``{script_path}`` is replaced), ``remove_existing_before``, ``remove_created_after``, ``name``.

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.script webapp.app_server instances=instance1 source=salt://scripts/migrate.sh
        salt '*' dockerfabric.script webapp.app_server.instance1 contents='echo hello' wait_timeout=60
    """
    test = _is_test(kwargs)
    if source:
        contents = __salt__["cp.get_file_str"](source, saltenv=saltenv)
        if contents is False or contents is None:
            raise SaltInvocationError(f"script source {source} not found")
    if contents is None:
        raise SaltInvocationError("script needs source or contents")
    options = _options(kwargs)
    state = _map_client()
    selection, map_name = _selection(container, map_name, state["config"].maps)
    instance = _one_instance(instances)
    if test:
        ret = _plan_return(_plan("startup", container, instance, map_name, {})[1])
        ret["result"] = None
        ret["comment"] = f"The script would run in a new container of {container}. " + ret["comment"]
        return ret
    try:
        res = state["client"].script(selection, contents, instance=instance, map_name=map_name, **options)
    except Exception as exc:  # noqa: BLE001
        raise _translate(exc) from exc
    target = res.get("name") or container
    changes = dict(res.get("changes") or {})
    changes[f"script:{target}"] = {"exit_code": res.get("exit_code"), "timed_out": bool(res.get("timed_out"))}
    ok = res.get("exit_code") == 0 and not res.get("timed_out")
    if res.get("timed_out"):
        comment = f"The script in {target} timed out."
    else:
        comment = f"The script in {target} exited with {res.get('exit_code')}."
    output = {
        "exit_code": res.get("exit_code"),
        "logs": res.get("logs"),
        "timed_out": bool(res.get("timed_out")),
    }
    return {"result": ok, "comment": comment, "changes": changes, "output": output}


def single_cmd(container, command, instances=None, map_name=None, user=None, timeout=None, **kwargs):
    """
    Run one command in each selected running container (``docker exec``) and wait for it;
    ``result`` is False when a command exits non-zero. ``output`` holds exit code and output
    per container; ``user`` defaults to the configuration's user.

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.single_cmd webapp.app_server 'ls /var/lib/app' user=2000
    """
    state = _map_client()
    client = state["client"]
    selection, map_name = _selection(container, map_name, state["config"].maps)
    output = {}
    try:
        for node in client.graph.select(selection, instances=instances, map_name=map_name):
            res = client.single_cmd(node, command, user=user, timeout=timeout)
            output[node.key] = {"exit_code": res.get("exit_code"), "output": res.get("output")}
    except Exception as exc:  # noqa: BLE001
        raise _translate(exc) from exc
    failed = sorted(k for k, v in output.items() if v["exit_code"] != 0)
    if failed:
        comment = f"The command failed in {', '.join(failed)}."
    else:
        comment = f"The command ran in {len(output)} containers."
    return {"result": not failed, "comment": comment, "changes": {}, "output": output}


def plan(action, container=None, instances=None, map_name=None, **kwargs):
    """
    Show what an action would do, step by step with reasons, without changing anything.

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.plan update webapp
        salt '*' dockerfabric.plan shutdown webapp.web_server remove_attached=True
    """
    kwargs.pop("test", None)
    _, the_plan = _plan(action, container, instances, map_name, _options(kwargs))
    return _plan_return(the_plan)


# ------------------------------------------------------------------------------------------------
# maps


def _plain(value):
    """JSON-safe form of model values (lazy values shown as their tag)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def show(map_name=None, **kwargs):
    """
    The maps of this minion as dicts (docker-map schema), all or one.

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.show
        salt '*' dockerfabric.show webapp
    """
    maps = _state()["config"].maps
    if map_name is not None:
        if map_name not in maps:
            raise SaltInvocationError(f"unknown map '{map_name}'; maps: {', '.join(sorted(maps)) or 'none'}")
        return _plain(maps[map_name].as_dict())
    return {name: _plain(m.as_dict()) for name, m in maps.items()}


def list_maps(**kwargs):
    """
    Names of the maps of this minion with their container configurations (abstract ones left
    out), plus the problems of maps that were skipped (``raise_map_errors: false``).

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.list_maps
    """
    config = _state()["config"]
    ret = {}
    for name, m in config.maps.items():
        ret[name] = sorted(cfg for cfg, _ in m)
    if config.problems:
        ret["__problems__"] = [str(p) for p in config.problems]
    return ret


def refresh(**kwargs):
    """
    Rebuild maps and clients from the current pillar (after ``saltutil.refresh_pillar``).

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.refresh
    """
    __context__.pop(_CONTEXT, None)
    config = _state(refresh=True)["config"]
    return {
        "maps": sorted(config.maps),
        "clients": sorted(config.clients),
        "problems": [str(p) for p in config.problems],
    }


def _add_map(name, body, check_integrity=True):
    from containermap.pillar import MapSource

    body = dict(body)
    if not check_integrity:
        body["skip_check"] = True
    extra = dict(__context__.get(_EXTRA, {}))
    extra[name] = MapSource(name, body, "dockerfabric.setup")
    __context__[_EXTRA] = extra
    try:
        _state(refresh=True)
    except Exception:
        extra.pop(name)
        __context__[_EXTRA] = extra
        raise


def setup(name, map_data=None, check_integrity=True, ignore_existing=False, **kwargs):
    """
    Add a map at run time (for the rest of this run), from ``map_data`` or keyword arguments
    (``containers``, ``volumes``, ``host``, ``host_root``, ``networks``, ``groups``,
    ``repository``, ...). With ``ignore_existing`` an existing map of that name is kept.

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.setup tools map_data='{"shell": {"image": "local/busybox:latest"}}'
    """
    body = dict(map_data or {})
    body.update(_options(kwargs))
    if ignore_existing and name in _state()["config"].maps:
        return {"result": True, "comment": f"Map {name} exists.", "changes": {}}
    _add_map(name, body, check_integrity)
    return {"result": True, "comment": f"Map {name} set up.", "changes": {name: "set up"}}


def merge(name, target_map, lists_only=False, map_data=None, **kwargs):
    """
    Merge map content into an existing map at run time (salt-container-map ``merge_into``).

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.merge extra_binds webapp map_data='{"web_server": {"binds": ["/x:/x"]}}'
    """
    body = dict(map_data or {})
    body.update(_options(kwargs))
    body["merge_into"] = target_map
    body["merge_lists_only"] = bool(lists_only)
    _add_map(name, body)
    return {
        "result": True,
        "comment": f"Merged {name} into map {target_map}.",
        "changes": {target_map: "merged"},
    }


# ------------------------------------------------------------------------------------------------
# maintenance


def _engine_api(client_name=None):
    state = _map_client()
    client = state["client"]
    clients = getattr(client, "clients", None)
    if clients is None:
        raise CommandExecutionError("the engine does not expose its clients")
    return state, clients.get(client_name) if client_name else clients.get()


def _persistent_names(state):
    """Names of persistent map containers and attached-volume holders (kept by cleanups)."""
    from containermap.config import naming

    names = set()
    for map_name, m in state["config"].maps.items():
        for cfg_name, cfg in m.get_extended_map():
            if getattr(cfg, "persistent", False):
                for inst in cfg.instances or (None,):
                    names.add(naming.container_name(map_name, cfg_name, inst))
    return names


def cleanup_containers(include_initial=False, exclude=None, label=None, test=None, list_only=False, **kwargs):
    """
    Remove exited containers that are not persistent map containers (``include_initial`` also
    removes created-but-never-started ones; ``label`` limits it to containers with that label,
    ``key`` or ``key=value``). ``list_only`` (or ``test=True``) only lists them.

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.cleanup_containers
        salt '*' dockerfabric.cleanup_containers test=True
    """
    from containermap import images

    if test is None:
        test = __opts__.get("test", False)
    test = bool(test or list_only)
    state, api = _engine_api(kwargs.get("client"))
    keep = set(exclude or ()) | _persistent_names(state)
    try:
        removed = images.cleanup_containers(
            api, include_initial=include_initial, exclude=keep, list_only=bool(test), label=label
        )
    except Exception as exc:  # noqa: BLE001
        raise _translate(exc) from exc
    names = [r if isinstance(r, str) else r.get("Names") or r.get("Id") for r in removed or []]
    changes = {f"container:{n}": {"old": "exited", "new": "absent"} for n in names} if names else {}
    if test:
        return {
            "result": None if names else True,
            "comment": f"{len(names)} containers would be removed.",
            "changes": changes,
        }
    return {"result": True, "comment": f"{len(names)} containers removed.", "changes": changes}


def remove_all_containers(
    shutdown_maps=_ALL, label=None, test=None, list_only=False, stop_timeout=10, **kwargs
):
    """
    Shut down the maps in order (``shutdown_maps``, all by default; None skips it), then stop
    (``stop_timeout`` seconds) and remove every other container on the engine (``label``: only
    those with that label). ``list_only`` (or ``test=True``) only lists them.

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.remove_all_containers test=True
        salt '*' dockerfabric.remove_all_containers shutdown_maps=None label=org.example.ci list_only=True
    """
    from containermap import images

    if test is None:
        test = __opts__.get("test", False)
    test = bool(test or list_only)
    maps = _state()["config"].maps
    ret = _run("shutdown", shutdown_maps, test=test) if maps and shutdown_maps else None
    state, api = _engine_api(kwargs.get("client"))
    try:
        removed = images.remove_all_containers(api, list_only=test, label=label, stop_timeout=stop_timeout)
    except Exception as exc:  # noqa: BLE001
        raise _translate(exc) from exc
    names = [r if isinstance(r, str) else r.get("Names") or r.get("Id") for r in removed or []]
    changes = dict((ret or {}).get("changes") or {})
    changes.update({f"container:{n}": {"old": "present", "new": "absent"} for n in names})
    result = (ret or {}).get("result", True)
    if test:
        result = None if changes else True
    return {"result": result, "comment": f"{len(changes)} containers affected.", "changes": changes}


# ------------------------------------------------------------------------------------------------
# images and registries (engine: containermap.images)


def _engine(func, *args, **kwargs):
    """Call an engine function; its exceptions become Salt's."""
    try:
        return func(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - translated at the edge
        raise _translate(exc) from exc


def _client_name(client):
    from containermap.clients import DEFAULT_CLIENT

    return client or DEFAULT_CLIENT


def _auth_configs(state, client=None):
    """Registry credentials of ``client`` (pillar ``dockerfabric:registries`` by default)."""
    return _engine(state["client"].clients.auth_configs, _client_name(client))


def _extra_labels(labels=None):
    """The ``labels`` setting (on everything this module creates) plus ``labels`` given."""
    settings = _state()["config"].settings
    merged = {str(k): str(v) for k, v in (settings.get("labels") or {}).items()}
    merged.update({str(k): str(v) for k, v in (labels or {}).items()})
    return merged


def _image_id(api, image):
    from containermap import images

    return _engine(images.image_id, api, image)


def _source_text(source, template, context, saltenv):
    """Text of a ``salt://`` (or local) file, rendered with ``template`` (``jinja``...)."""
    path = __salt__["cp.cache_file"](source, saltenv=saltenv)
    if not path:
        raise SaltInvocationError(f"{source} not found (saltenv {saltenv})")
    with open(path, encoding="utf-8") as fileobj:
        return _render(fileobj.read(), template, context, saltenv)


def _render(text, template, context, saltenv):
    if not template:
        return text
    rendered = __salt__["file.apply_template_on_contents"](
        text, template=template, context=dict(context or {}), defaults=None, saltenv=saltenv
    )
    if not isinstance(rendered, str):
        raise SaltInvocationError(f"rendering the Dockerfile with {template} failed: {rendered}")
    return rendered


def _dockerfile_text(source, template, contents, content_pillar, context, saltenv):
    given = [
        k for k, v in (("source", source), ("contents", contents), ("content_pillar", content_pillar)) if v
    ]
    if len(given) != 1:
        raise SaltInvocationError("give exactly one of source, contents or content_pillar for the Dockerfile")
    if source:
        return _source_text(source, template, context, saltenv)
    if content_pillar:
        contents = __salt__["pillar.get"](content_pillar, None)
        if not isinstance(contents, str):
            raise SaltInvocationError(f"pillar key {content_pillar} does not hold a Dockerfile text")
    return _render(contents, template, context, saltenv)


def _context_files(add_files, saltenv):
    """``add_files``: a list of ``salt://`` URLs (context name: the base name) or a mapping URL ->
    context path. Returns ``[(local path, context path)]``."""
    if not add_files:
        return []
    items = add_files.items() if isinstance(add_files, dict) else ((url, None) for url in add_files)
    files = []
    for url, arcname in items:
        path = __salt__["cp.cache_file"](url, saltenv=saltenv)
        if not path:
            raise SaltInvocationError(f"build file {url} not found (saltenv {saltenv})")
        files.append((path, arcname or url.rstrip("/").rsplit("/", 1)[-1]))
    return files


def build(
    tag,
    source=None,
    template=None,
    contents=None,
    content_pillar=None,
    context=None,
    add_files=None,
    add_tags=None,
    add_latest_tag=False,
    saltenv="base",
    labels=None,
    show_log=False,
    client=None,
    **kwargs,
):
    """
    Build an image from a Dockerfile and tag it ``tag`` (plus ``add_tags``).

    The Dockerfile comes from ``source`` (a ``salt://`` file), ``contents`` (inline text) or
    ``content_pillar`` (a pillar key holding the text); with ``template`` (``jinja`` ...) it is
    rendered with ``context``. ``add_files`` (``salt://`` URLs, or a mapping URL -> context path)
    are added to the build context under their base name (or the given path), for ``ADD``/``COPY``.
    The ``labels`` setting and ``labels`` go on the image; other keyword arguments go to the engine
    (``nocache``, ``buildargs``, ``network_mode``, ``pull``, ``target`` ...). ``show_log`` returns
    the build log. ``test=True`` builds nothing.

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.build local/app:1.0 source=salt://app/Dockerfile add_files='[salt://app/app.conf]'
        salt '*' dockerfabric.build local/app:1.0 contents='FROM busybox' add_tags='[latest]'
        salt '*' dockerfabric.build local/app:1.0 source=salt://app/Dockerfile.j2 template=jinja context='{version: 2}'
    """
    from containermap import images

    test = _is_test(kwargs)
    options = _options(kwargs)
    text = _dockerfile_text(source, template, contents, content_pillar, context, saltenv)
    files = _context_files(add_files, saltenv)
    state, api = _engine_api(client)
    old = _image_id(api, tag)
    if test:
        return {
            "result": None,
            "comment": f"Image {tag} would be built.",
            "changes": {f"image:{tag}": {"old": old or "absent", "new": "built"}},
        }
    log_lines = []
    with images.DockerContext() as ctx:
        ctx.addbytes("Dockerfile", text.encode("utf-8"))
        for path, arcname in files:
            ctx.add(path, arcname=arcname)
        new = _engine(
            images.build,
            api,
            ctx,
            tag,
            add_tags=list(add_tags or ()),
            add_latest_tag=add_latest_tag,
            progress=log_lines.append,
            labels=_extra_labels(labels),
            **options,
        )
    ret = {
        "result": True,
        "comment": f"Built image {tag} ({new[:19]}).",
        "changes": {f"image:{tag}": {"old": old or "absent", "new": new}} if new != old else {},
        "id": new,
    }
    if show_log:
        ret["log"] = log_lines
    return ret


def pull(image, policy="always", client=None, **kwargs):
    """
    Pull an image (``:latest`` when it has no tag) with the credentials of pillar
    ``dockerfabric:registries``. ``policy``: ``always`` (default), ``missing`` (only when the
    image is absent) or ``latest`` (absent, or tagged ``latest``). ``test=True`` pulls nothing.

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.pull registry.example.com:5000/team/app:1.2
        salt '*' dockerfabric.pull busybox:latest policy=missing
    """
    from containermap import images

    test = _is_test(kwargs)
    state, api = _engine_api(client)
    old = _image_id(api, image)
    if test:
        _registry, repository, tag = images.parse_image(image)
        latest = "@" not in repository and tag in (None, "latest")
        would = policy == "always" or old is None or (policy == "latest" and latest)
        return {
            "result": None if would else True,
            "comment": f"Image {image} would be pulled." if would else f"Image {image} is present.",
            "changes": {f"image:{image}": {"old": old or "absent", "new": "pulled"}} if would else {},
        }
    new, _pulled = _engine(images.ensure_image, api, image, _auth_configs(state, client), policy=policy)
    changed = new != old
    return {
        "result": True,
        "comment": f"Pulled image {image} ({new[:19]})." if changed else f"Image {image} is up to date.",
        "changes": {f"image:{image}": {"old": old or "absent", "new": new}} if changed else {},
        "id": new,
    }


def push(image, client=None, **kwargs):
    """
    Push an image to its registry with the credentials of pillar ``dockerfabric:registries``.

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.push registry.example.com:5000/team/app:1.2
    """
    from containermap import images

    if _is_test(kwargs):
        return {"result": None, "comment": f"Image {image} would be pushed.", "changes": {}}
    state, api = _engine_api(client)
    digest = _engine(images.push_image, api, image, _auth_configs(state, client))
    return {
        "result": True,
        "comment": f"Pushed image {image}.",
        "changes": {f"image:{image}": {"pushed": digest or True}},
        "digest": digest,
    }


def login(registry=None, username=None, password=None, email=None, reauth=False, client=None, **kwargs):
    """
    Log in to a registry (Docker Hub when ``registry`` is not given). Without ``username`` the
    credentials of pillar ``dockerfabric:registries`` for that registry are used. The password
    never appears in the return or in errors.

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.login registry.example.com:5000
        salt '*' dockerfabric.login registry.example.com username=deploy password=secret
    """
    from containermap import images

    state, api = _engine_api(client)
    if username is None:
        auth = images.registry_auth(_auth_configs(state, client), registry) or {}
        username, password = auth.get("username"), auth.get("password")
        email = email or auth.get("email")
        if not username:
            raise SaltInvocationError(
                f"no credentials for registry {registry or 'docker.io'} in pillar dockerfabric:registries"
            )
    where = registry or "docker.io"
    if _is_test(kwargs):
        return {"result": None, "comment": f"Would log in to {where} as {username}.", "changes": {}}
    ok = _engine(images.login, api, registry, username, password or "", email=email, reauth=reauth)
    if not ok:
        raise CommandExecutionError(f"login to {where} as {username} was not accepted")
    return {
        "result": True,
        "comment": f"Logged in to {where} as {username}.",
        "changes": {},
        "registry": where,
    }


def image_tag_exists(image, client=None, **kwargs):
    """
    True when exactly the tag ``image`` (``repo:tag``, ``:latest`` when omitted) exists locally.

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.image_tag_exists local/app:1.0
    """
    from containermap import images

    _, api = _engine_api(client)
    return bool(_engine(images.image_tag_exists, api, image))


def remove_image(image, force=False, client=None, **kwargs):
    """
    Remove an image tag (the image itself when it was its last tag); ``force`` as ``docker rmi -f``.
    ``result`` is True with no changes when it does not exist.

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.remove_image local/app:0.9
    """
    from containermap import images

    state, api = _engine_api(client)
    old = _image_id(api, image)
    if old is None:
        return {"result": True, "comment": f"Image {image} is absent.", "changes": {}}
    if _is_test(kwargs):
        return {
            "result": None,
            "comment": f"Image {image} would be removed.",
            "changes": {f"image:{image}": {"old": old, "new": "absent"}},
        }
    _engine(images.remove_image, api, image, force=bool(force))
    return {
        "result": True,
        "comment": f"Removed image {image}.",
        "changes": {f"image:{image}": {"old": old, "new": "absent"}},
    }


def cleanup_images(
    remove_old=False, keep_tags=None, force=False, list_only=False, label=None, client=None, **kwargs
):
    """
    Remove images nobody needs (docker-fabric's rules): images used by containers, and tagged
    images are kept - with ``remove_old`` only those tagged ``latest`` or a tag in ``keep_tags``
    (default: the ``keep_tags`` setting); an image is removed only when no kept image descends
    from it. ``label`` limits the candidates to images with that label. ``list_only`` (or
    ``test=True``) only lists them.

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.cleanup_images
        salt '*' dockerfabric.cleanup_images remove_old=True keep_tags='[stable]' list_only=True
    """
    from containermap import images

    test = _is_test(kwargs) or bool(list_only)
    state, api = _engine_api(client)
    if keep_tags is None:
        keep_tags = state["config"].settings.get("keep_tags") or ()
    if isinstance(keep_tags, str):
        keep_tags = [keep_tags]
    removed = _engine(
        images.cleanup_images,
        api,
        remove_old=bool(remove_old),
        keep_tags=list(keep_tags),
        force=bool(force),
        list_only=test,
        label=label,
    )
    changes = {f"image:{i}": {"old": "present", "new": "absent"} for i in removed}
    failed = getattr(removed, "failed", {}) or {}
    if test:
        return {
            "result": None if changes else True,
            "comment": f"{len(changes)} images would be removed.",
            "changes": changes,
            "images": list(removed),
        }
    comment = f"{len(changes)} images removed."
    if failed:
        comment += " Not removed: " + "; ".join(f"{k}: {v}" for k, v in failed.items())
    return {"result": not failed, "comment": comment, "changes": changes, "images": list(removed)}


def list_images(list_all=False, full_ids=False, label=None, client=None, **kwargs):
    """
    The images as table rows (``Id, RepoTags, ParentId, Created, VirtualSize, Size``), shown like
    docker-fabric's table with ``--out=table``.

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.list_images --out=table
        salt '*' dockerfabric.list_images list_all=True full_ids=True
    """
    from containermap import images

    _, api = _engine_api(client)
    return _engine(images.list_images, api, list_all=bool(list_all), full_ids=bool(full_ids), label=label)


def list_containers(
    list_all=True, short_image=True, full_ids=False, full_cmd=False, label=None, client=None, **kwargs
):
    """
    The containers as table rows (``Id, Names, Image, Command, Ports, Status, Created``).

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.list_containers --out=table
        salt '*' dockerfabric.list_containers list_all=False full_cmd=True
    """
    from containermap import images

    _, api = _engine_api(client)
    return _engine(
        images.list_containers,
        api,
        list_all=bool(list_all),
        short_image=bool(short_image),
        full_ids=bool(full_ids),
        full_cmd=bool(full_cmd),
        label=label,
    )


def list_networks(full_ids=False, label=None, client=None, **kwargs):
    """
    The networks as table rows (``Id, Name, Driver, Scope, Internal, Created``).

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.list_networks --out=table
    """
    from containermap import images

    _, api = _engine_api(client)
    return _engine(images.list_networks, api, full_ids=bool(full_ids), label=label)


def list_volumes(label=None, client=None, **kwargs):
    """
    The volumes as table rows (``Name, Driver, Mountpoint, Created``).

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.list_volumes --out=table
    """
    from containermap import images

    _, api = _engine_api(client)
    return _engine(images.list_volumes, api, label=label)


def version(client=None, **kwargs):
    """
    The engine's version information (``Version``, ``ApiVersion``, ``Os``, ``Arch`` ...).

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.version
    """
    from containermap import images

    _, api = _engine_api(client)
    return _engine(images.version, api)


def _file_info(path):
    """``{'path', 'size', 'sha256'}`` of a file (read in chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fileobj:
        while chunk := fileobj.read(1 << 20):
            digest.update(chunk)
    return {"path": os.path.abspath(path), "size": os.path.getsize(path), "sha256": digest.hexdigest()}


@contextlib.contextmanager
def _output(path, default_name):
    """Yields ``path``, or for None ``<new private directory under the minion's cachedir>/
    <default_name>`` (``default_name`` ending in ``/``: the directory); a directory made here is
    removed again when the body fails, so failed calls leave nothing behind."""
    if path:
        yield path
        return
    base = os.path.join(__opts__["cachedir"], "dockerfabric", "files")
    os.makedirs(base, mode=0o700, exist_ok=True)
    directory = tempfile.mkdtemp(prefix="out-", dir=base)
    try:
        yield os.path.join(directory, default_name)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise


def _safe_name(name):
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def save_image(image, filename=None, compress=True, client=None, **kwargs):
    """
    Save an image as a ``docker save`` archive (gzip unless ``compress=False``), streamed with
    constant memory; without ``filename`` it goes to a new directory under the minion's cachedir
    as ``image_<name>.tar.gz``. Returns ``path``, ``size``, ``sha256`` and the image ``id``.

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.save_image local/app:1.0 /srv/backup/app.tar.gz
        salt '*' dockerfabric.save_image local/app:1.0 compress=False
    """
    from containermap import images

    _, api = _engine_api(client)
    suffix = ".tar.gz" if compress else ".tar"
    with _output(filename, f"image_{_safe_name(image)}{suffix}") as filename:
        os.makedirs(os.path.dirname(os.path.abspath(filename)) or ".", exist_ok=True)
        image_id = _image_id(api, image)
        saved = _engine(images.save_image, api, image, filename, compress=bool(compress))
    ret = {"image": image, "id": image_id, "path": os.path.abspath(filename), "filename": saved["filename"]}
    ret.update(size=saved["size"], sha256=saved["sha256"])  # sha256 computed while writing
    return ret


def load_image(filename, saltenv="base", sha256=None, client=None, **kwargs):
    """
    Load a ``docker save`` archive (plain or gzip). ``filename`` may be a ``salt://`` URL (cached
    from the file server, removed from the cache after loading). With ``sha256`` the file is
    verified first. Returns the loaded ``images`` and their ``ids``.

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.load_image /srv/backup/app.tar.gz
        salt '*' dockerfabric.load_image salt://images/app.tar.gz sha256=9f86d0...
    """
    from containermap import images

    cached = None
    if "://" in filename:
        cached = __salt__["cp.cache_file"](filename, saltenv=saltenv)
        if not cached:
            raise SaltInvocationError(f"{filename} not found (saltenv {saltenv})")
    path = cached or filename
    try:
        if not os.path.isfile(path):
            raise SaltInvocationError(f"{path} is not a file")
        if sha256 is not None:
            sha256 = str(sha256)
            actual = _file_info(path)["sha256"]
            if actual != sha256:
                raise CommandExecutionError(
                    f"{filename}: sha256 {actual} does not match the expected {sha256}"
                )
        _, api = _engine_api(client)
        loaded = _engine(images.load_image, api, path)
    finally:
        if cached:
            with contextlib.suppress(OSError):
                os.unlink(cached)
    ids = [_image_id(api, name) for name in loaded["images"]]
    return {
        "result": True,
        "comment": f"Loaded {', '.join(loaded['images']) or 'nothing'} from {filename}.",
        "changes": {f"image:{n}": {"new": i} for n, i in zip(loaded["images"], ids, strict=True)},
        "images": loaded["images"],
        "ids": ids,
    }


# ------------------------------------------------------------------------------------------------
# files (engine: containermap.archive)


def _resolve_container(container, client=None):
    """``(name, client)``: a map reference ``map.config[.instance]`` becomes its container name
    (and the map's first client); anything else (container name or id, image) is kept."""
    from containermap.config import naming

    maps = _state()["config"].maps
    parts = str(container).split(".")
    if 2 <= len(parts) <= 3 and parts[0] in maps and parts[1] in maps[parts[0]].containers:
        cmap = maps[parts[0]]
        instance = parts[2] if len(parts) == 3 else None
        instances = tuple(cmap.get_extended(parts[1]).instances or ())
        if instance is None and instances:
            raise SaltInvocationError(f"{container} has instances ({', '.join(instances)}): name one")
        if instance is not None and instance not in instances:
            raise SaltInvocationError(f"{container}: {parts[1]} has no instance {instance}")
        if client is None and getattr(cmap, "clients", ()):
            client = cmap.clients[0]
        return naming.container_name(parts[0], parts[1], instance), client
    return str(container), client


def _mode(value):
    """Salt's YAML reads ``0750`` as the integer 750: like ``file.managed`` modes, an integer is
    taken as its octal digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _archive_call(func, container, client, *args, **kwargs):
    """Run an archive function on the engine of ``container`` with labelled temporary containers."""
    name, client = _resolve_container(container, client)
    _, api = _engine_api(client)
    return name, _engine(func, api, name, *args, temp_labels=_extra_labels(), **kwargs)


def copy_resource(container, resource, local_filename=None, contents_only=True, client=None, **kwargs):
    """
    Copy one path (file or directory) out of a container into a ``.tar.gz`` on the minion (a
    plain tar when the name ends in ``.tar``); a directory's contents are at the archive root
    unless ``contents_only=False``. ``container``: ``map.config[.instance]``, a container name or
    id, or an image (read through a temporary container that is never started). Without
    ``local_filename`` the archive goes to a new directory under the minion's cachedir.
    Returns ``path``, ``size``, ``sha256``.

    CLI Example:

    .. code-block:: bash

        salt web1 dockerfabric.copy_resource webapp.app_server.instance1 /var/lib/app /tmp/app.tar.gz
        salt '*' dockerfabric.copy_resource local/app:1.0 /etc/app/app.conf
    """
    from containermap import archive

    base = _safe_name(resource.rstrip("/").rsplit("/", 1)[-1] or "root")
    with _output(local_filename, f"{base}.tar.gz") as local_filename:
        name, res = _archive_call(
            archive.copy_resource,
            container,
            client,
            resource,
            local_filename,
            contents_only=bool(contents_only),
        )
    ret = {"container": name, "resource": resource}
    ret.update({k: res.get(k) for k in ("path", "size", "sha256", "data_size")})
    return ret


def copy_resources(
    src_container,
    src_resources,
    storage_dir,
    dst_directories=None,
    apply_chown=None,
    apply_chmod=None,
    client=None,
    **kwargs,
):
    """
    Copy several paths out of a container into ``storage_dir`` on the minion, extracted safely.
    Without ``dst_directories`` the container path structure is recreated; an entry (or the
    ``'*'`` fallback) renames the resource to that path. ``apply_chown`` (``user[:group]``) and
    ``apply_chmod`` (octal or symbolic) are applied to everything written. Returns the paths.

    CLI Example:

    .. code-block:: bash

        salt web1 dockerfabric.copy_resources webapp.app_server.instance1 '[/var/lib/app/data, /etc/app]' /srv/copy
        salt '*' dockerfabric.copy_resources app1 '[/data]' /srv/copy dst_directories='{"/data": "backup"}' apply_chmod=0750
    """
    from containermap import archive

    if isinstance(src_resources, str):
        src_resources = [src_resources]
    _, paths = _archive_call(
        archive.copy_resources,
        src_container,
        client,
        list(src_resources),
        storage_dir,
        dst_directories=dst_directories,
        apply_chown=apply_chown,
        apply_chmod=_mode(apply_chmod),
    )
    return paths


def isolate_and_get(
    src_container,
    src_resources,
    local_dst_dir=None,
    dst_directories=None,
    apply_chown=None,
    apply_chmod=None,
    client=None,
    **kwargs,
):
    """
    The selected paths of a container as one ``.tar.gz`` on the minion (destination rules and
    chown/chmod as for ``copy_resources``, applied to the archive members). ``local_dst_dir``: a
    directory (the file is ``container_<name>.tar.gz`` in it) or a file name; without it a new
    directory under the minion's cachedir. Returns ``path``, ``size``, ``sha256``.

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.isolate_and_get webapp.app_server.instance1 '[/var/lib/app, /etc/app]' /srv/export/
    """
    from containermap import archive

    if isinstance(src_resources, str):
        src_resources = [src_resources]
    with _output(local_dst_dir, "") as target:
        name, path = _archive_call(
            archive.isolate_and_get,
            src_container,
            client,
            list(src_resources),
            target,
            dst_directories=dst_directories,
            apply_chown=apply_chown,
            apply_chmod=_mode(apply_chmod),
        )
    ret = {"container": name, "resources": list(src_resources)}
    ret.update(_file_info(path))
    return ret


def isolate_to_image(
    src_container,
    src_resources,
    dst_image,
    cmd=None,
    env=None,
    labels=None,
    dst_directories=None,
    apply_chown=None,
    apply_chmod=None,
    client=None,
    **kwargs,
):
    """
    A new image ``dst_image`` holding only the selected paths of a container (optionally with
    ``cmd``, ``env``, ``labels``, ``entrypoint``, ``workdir``, ``user``); the ``labels`` setting
    is added. Returns the image ``id``.

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.isolate_to_image webapp.app_server.instance1 '[/var/lib/app]' local/appdata:1
    """
    from containermap import archive

    if isinstance(src_resources, str):
        src_resources = [src_resources]
    extra = {k: kwargs[k] for k in ("entrypoint", "workdir", "user", "changes") if k in kwargs}
    name, image_id = _archive_call(
        archive.isolate_to_image,
        src_container,
        client,
        list(src_resources),
        dst_image,
        cmd=cmd,
        env=env,
        labels=_extra_labels(labels),
        dst_directories=dst_directories,
        apply_chown=apply_chown,
        apply_chmod=_mode(apply_chmod),
        **extra,
    )
    return {
        "result": True,
        "comment": f"Image {dst_image} ({image_id[:19]}) created from {name}.",
        "changes": {f"image:{dst_image}": {"new": image_id}},
        "id": image_id,
    }


def flatten_image(image, dest_image=None, keep_config=True, client=None, **kwargs):
    """
    Make a one-layer image of ``image`` (a temporary container's export streamed into an
    import) tagged ``dest_image`` (default: ``image``'s own tag moves to the new image). The image
    configuration (env, cmd, entrypoint, workdir, user, ports, volumes, labels) is kept unless
    ``keep_config=False``. Returns the new image ``id``.

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.flatten_image local/app:1.0 local/app:1.0-flat
    """
    from containermap import archive

    name, client = _resolve_container(image, client)
    state, api = _engine_api(client)
    old = _image_id(api, dest_image or name)
    if _is_test(kwargs):
        return {"result": None, "comment": f"Image {name} would be flattened.", "changes": {}}
    new = _engine(
        archive.flatten_image,
        api,
        name,
        dest_image,
        keep_config=bool(keep_config),
        temp_labels=_extra_labels(),
    )
    target = dest_image or name
    return {
        "result": True,
        "comment": f"Flattened {name} into {target} ({new[:19]}).",
        "changes": {f"image:{target}": {"old": old or "absent", "new": new}},
        "id": new,
    }


def _interface(interface_name):
    interfaces = __salt__["network.interfaces"]()
    if interface_name not in interfaces:
        raise CommandExecutionError(
            f"no network interface {interface_name} (interfaces: {', '.join(sorted(interfaces))})"
        )
    return interfaces[interface_name]


def get_ip(interface_name="docker0", **kwargs):
    """
    The IPv4 address of a network interface of this host (current system data), None when it
    has none.

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.get_ip
        salt '*' dockerfabric.get_ip eth0
    """
    addresses = [a.get("address") for a in _interface(interface_name).get("inet") or [] if a.get("address")]
    return addresses[0] if addresses else None


def get_ipv6(interface_name="docker0", expand=False, **kwargs):
    """
    The IPv6 address of a network interface (a global one before a link-local one), None when it
    has none; ``expand`` writes it out in full (no ``::``).

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.get_ipv6
        salt '*' dockerfabric.get_ipv6 eth0 expand=True
    """
    entries = _interface(interface_name).get("inet6") or []
    addresses = [a["address"].split("%", 1)[0] for a in entries if a.get("address")]
    if not addresses:
        return None
    addresses.sort(key=lambda a: ipaddress.ip_address(a).is_link_local)
    address = ipaddress.ip_address(addresses[0])
    return address.exploded if expand else str(address)


# ------------------------------------------------------------------------------------------------
# multi-host (issue 8): this minion's share of the fleet


def share(**kwargs):
    """
    This minion's share of every map: map -> configuration -> the clients (engines) it runs on
    from this minion. A configuration runs on its ``clients``, else its map's ``clients``, else
    the default client; a client with a ``minion`` key (id or glob) is driven only by the minions
    it matches (see docs/multihost.md). ``None`` when the maps cannot be loaded (the map states
    then report the problem).

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.share
    """
    try:
        config = _state()["config"]
    except (CommandExecutionError, SaltInvocationError) as exc:
        log.error("dockerfabric.share: %s", exc)
        return None
    return {m: {c: list(clients) for c, clients in configs.items()} for m, configs in config.share().items()}


def fleet_level(level, action="update", **kwargs):
    """
    Run this minion's part of one level of ``salt-run dockerfabric.orchestrate``: ``level`` maps
    minion ids to ``map.config[.instance]`` selections; this minion runs its own entry with
    ``action`` (``test=True``: plan only) and reports when it started and finished.

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.fleet_level '{web1: [shop.web], app1: [shop.db]}' test=True
    """
    import time

    minion = __opts__["id"]
    mine = list((level or {}).get(minion) or [])
    started = time.time()
    if not mine:
        ret = {"result": True, "comment": "nothing to do on this minion", "changes": {}, "plan": []}
    else:
        ret = _run(action, mine, **kwargs)
    ret.update({"minion": minion, "selection": mine, "started": started, "finished": time.time()})
    return ret
