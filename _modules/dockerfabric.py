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

import hashlib
import json
import logging

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
    from containermap.exceptions import ConfigurationError, EngineError

    if isinstance(exc, ConfigurationError):
        return SaltInvocationError(str(exc))
    if isinstance(exc, EngineError):
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
            state["client"] = MapClient(config.maps, clients=config.clients, extra_labels=labels)
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
    actionable = [s for s in steps if s.get("kind") != "warning"]
    warnings = [s["reason"] for s in steps if s.get("kind") == "warning"] + list(
        getattr(plan, "warnings", [])
    )
    if actionable:
        comment = f"{len(actionable)} operations would be applied: " + "; ".join(
            f"{s['kind']} {s['target']} ({s['reason']})" for s in actionable
        )
        result = None
    else:
        comment = "There are no changes to apply."
        result = True
    ret = {"result": result, "comment": comment, "changes": _plan_changes(steps), "plan": steps}
    if warnings:
        ret["warnings"] = warnings
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
    test = _is_test(kwargs)
    state, plan = _plan(action, container, instances, map_name, _options(kwargs))
    if test or not plan:
        return _plan_return(plan)
    return _apply(state, plan)


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


def cleanup_containers(include_initial=False, exclude=None, label=None, test=None, **kwargs):
    """
    Remove exited containers that are not persistent map containers (``include_initial`` also
    removes created-but-never-started ones; ``label`` limits it to containers with that label,
    ``key`` or ``key=value``).

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.cleanup_containers
        salt '*' dockerfabric.cleanup_containers test=True
    """
    from containermap import images

    if test is None:
        test = __opts__.get("test", False)
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


def remove_all_containers(shutdown_maps=_ALL, label=None, test=None, **kwargs):
    """
    Shut down the maps in order (``shutdown_maps``, all by default), then stop and remove every
    other container on the engine (``label``: only those with that label).

    CLI Example:

    .. code-block:: bash

        salt '*' dockerfabric.remove_all_containers test=True
    """
    from containermap import images

    if test is None:
        test = __opts__.get("test", False)
    ret = _run("shutdown", shutdown_maps, test=test) if _state()["config"].maps else None
    state, api = _engine_api(kwargs.get("client"))
    try:
        removed = images.remove_all_containers(api, list_only=bool(test), label=label)
    except Exception as exc:  # noqa: BLE001
        raise _translate(exc) from exc
    names = [r if isinstance(r, str) else r.get("Names") or r.get("Id") for r in removed or []]
    changes = dict((ret or {}).get("changes") or {})
    changes.update({f"container:{n}": {"old": "present", "new": "absent"} for n in names})
    result = (ret or {}).get("result", True)
    if test:
        result = None if changes else True
    return {"result": result, "comment": f"{len(changes)} containers affected.", "changes": changes}
