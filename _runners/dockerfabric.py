"""Master side of salt-dockerfabric: bring files from minions to the master, flatten and move images.

``salt-run dockerfabric.copy_resource web1 webapp.app_server.instance1 /var/lib/app`` runs the
minion function (which writes the archive and returns its size and sha256), has the minion push
the file with ``cp.push``, verifies size and checksum on the master, and moves it under the
runner directory: master config ``dockerfabric.runner_dir`` (default
``<cachedir>/dockerfabric``). The master needs ``file_recv: True`` and a ``file_recv_max_size``
(MB, default 100) above the largest file; a truncated or corrupt delivery is detected and the
partial file removed.

``transfer_image`` delivers an image from one minion to others through the master: saved on the
source, pushed, verified, then served to the targets from the master's file server. For that the
runner directory must lie inside a ``file_roots`` directory of ``saltenv`` (default ``base``).

Every function returns ``{'result': bool, 'comment': str, ...}``; failures (a minion down or not
answering, the function missing there, a verification error) give ``result: False`` with a clear
comment, ``retcode: 1`` and a non-zero exit code of ``salt-run``.
"""

import hashlib
import logging
import os
import shutil
import uuid

import salt.client
import salt.utils.args

log = logging.getLogger(__name__)

__virtualname__ = "dockerfabric"

# how long to wait for a minion that does not report any activity (find_job keeps long jobs alive)
DEFAULT_TIMEOUT = 60


def __virtual__():
    return __virtualname__


class RunnerError(Exception):
    """A step of a runner function failed; the message is the comment of the return."""


# ------------------------------------------------------------------------------------------------
# helpers


def _fail(message, **extra):
    # salt-run exits with a return's "retcode"; __context__ marks the job as failed in events
    __context__["retcode"] = 1
    ret = {"result": False, "comment": message, "retcode": 1}
    ret.update(extra)
    return ret


def _clean(kwargs):
    return {k: v for k, v in salt.utils.args.clean_kwargs(**kwargs).items() if not k.startswith("__")}


def _call(minion, fun, arg=(), kwarg=None, timeout=None):
    """Run ``fun`` on one minion and return its return value; raise :class:`RunnerError` with a
    clear message when the minion does not answer, lacks the function or the function failed."""
    with salt.client.get_local_client(__opts__["conf_file"], mopts=__opts__) as client:
        returns = client.cmd(
            minion,
            fun,
            arg=list(arg),
            kwarg=dict(kwarg or {}),
            timeout=timeout or DEFAULT_TIMEOUT,
            full_return=True,
        )
    if minion not in (returns or {}):
        raise RunnerError(
            f"minion {minion} did not answer {fun} (down, not connected, or its key is not accepted)"
        )
    answer = returns[minion]
    value = answer.get("ret") if isinstance(answer, dict) else answer
    retcode = answer.get("retcode", 0) if isinstance(answer, dict) else 0
    if isinstance(value, str) and "is not available" in value:
        raise RunnerError(
            f"{fun} is not available on minion {minion}: install salt-dockerfabric there "
            "or run saltutil.sync_all"
        )
    if retcode or (isinstance(value, str) and fun.startswith("dockerfabric.")):
        raise RunnerError(f"{fun} failed on minion {minion}: {value}")
    return value


def _runner_dir():
    """The master directory for delivered files (created 0700)."""
    path = __opts__.get("dockerfabric.runner_dir") or (__opts__.get("dockerfabric") or {}).get("runner_dir")
    path = path or os.path.join(__opts__["cachedir"], "dockerfabric")
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fileobj:
        while chunk := fileobj.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(path, size, sha256):
    """Check a received file against the minion's size and sha256; remove it when it differs."""
    if not os.path.isfile(path):
        raise RunnerError(
            f"the file did not arrive on the master ({path}): set file_recv: True in the master config"
        )
    actual = os.path.getsize(path)
    if actual != size:
        os.unlink(path)
        limit = __opts__.get("file_recv_max_size", 100)
        raise RunnerError(
            f"truncated delivery: {actual} of {size} bytes arrived (removed); "
            f"is the file larger than file_recv_max_size ({limit} MB)?"
        )
    digest = _sha256(path)
    if digest != sha256:
        os.unlink(path)
        raise RunnerError(f"corrupt delivery: sha256 {digest} differs from the minion's {sha256} (removed)")


def _landing(minion, upload_path):
    return os.path.join(__opts__["cachedir"], "minions", minion, "files", upload_path)


def _deliver(minion, info, timeout=None, keep_remote=False):
    """Push the minion file described by ``info`` (``path``, ``size``, ``sha256``) to the master,
    verify it and return the path of the received file (in the master's cachedir)."""
    remote = info["path"]
    upload_path = os.path.join("dockerfabric", uuid.uuid4().hex, os.path.basename(remote))
    received = _landing(minion, upload_path)
    try:
        pushed = _call(minion, "cp.push", [remote], {"upload_path": upload_path}, timeout)
        if not pushed:
            if os.path.exists(received):
                os.unlink(received)
            raise RunnerError(
                f"cp.push of {remote} from {minion} failed: the master needs file_recv: True and a "
                f"file_recv_max_size (now {__opts__.get('file_recv_max_size', 100)} MB) above "
                f"{info['size']} bytes; the partial file was removed"
            )
        _verify(received, info["size"], info["sha256"])
    except BaseException:
        _remove_tree(os.path.dirname(received))
        raise
    finally:
        if not keep_remote:
            _remove_remote(minion, remote, timeout)
    return received


def _remove_tree(path):
    shutil.rmtree(path, ignore_errors=True)


def _remove_remote(minion, path, timeout=None):
    """Remove a file the minion function wrote (and its private directory), best effort."""
    try:
        _call(minion, "file.remove", [path], timeout=timeout)
        parent = os.path.dirname(path)
        if os.path.basename(parent).startswith("out-"):
            _call(minion, "file.remove", [parent], timeout=timeout)
    except RunnerError as exc:
        log.warning("dockerfabric: could not remove %s on %s: %s", path, minion, exc)


def _place(received, minion, dest):
    """Move a received file to ``dest`` (absolute, relative to the runner directory, or a
    directory) - default ``<runner_dir>/<minion>/<file name>``; returns the final path."""
    name = os.path.basename(received)
    base = _runner_dir()
    if not dest:
        target = os.path.join(base, minion, name)
    else:
        target = dest if os.path.isabs(dest) else os.path.join(base, dest)
        if dest.endswith(("/", os.sep)) or os.path.isdir(target):
            target = os.path.join(target, name)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    try:
        shutil.move(received, target)
    finally:
        _remove_tree(os.path.dirname(received))
    return target


def _fetch(minion, fun, arg, kwarg, dest, timeout):
    """Run a minion function that writes a file, bring the file over, return the runner result."""
    try:
        info = _call(minion, fun, arg, kwarg, timeout)
        if not isinstance(info, dict) or not {"path", "size", "sha256"} <= set(info):
            raise RunnerError(f"{fun} on {minion} returned no file description: {info}")
        path = _place(_deliver(minion, info, timeout), minion, dest)
    except RunnerError as exc:
        return _fail(str(exc))
    return {
        "result": True,
        "comment": f"{os.path.basename(path)} from {minion} ({info['size']} bytes, sha256 verified).",
        "path": path,
        "size": info["size"],
        "sha256": info["sha256"],
    }


# ------------------------------------------------------------------------------------------------
# functions


def copy_resource(minion, container, resource, dest=None, contents_only=True, timeout=None, **kwargs):
    """
    Copy a path out of a container on ``minion`` into a ``.tar.gz`` on the master.

    ``container``: ``map.config[.instance]``, a container name or id, or an image on that minion.
    ``dest``: path on the master (relative paths and the default are under the runner directory,
    ``dockerfabric.runner_dir``). Returns ``path``, ``size``, ``sha256``.

    CLI Example:

    .. code-block:: bash

        salt-run dockerfabric.copy_resource web1 webapp.app_server.instance1 /var/lib/app
        salt-run dockerfabric.copy_resource web1 local/app:1.0 /etc/app /srv/export/app-etc.tar.gz
    """
    kwarg = {"contents_only": contents_only}
    kwarg.update(_clean(kwargs))
    return _fetch(minion, "dockerfabric.copy_resource", [container, resource], kwarg, dest, timeout)


def isolate_and_get(minion, src_container, src_resources, dest=None, timeout=None, **kwargs):
    """
    The selected paths of a container on ``minion`` as one ``.tar.gz`` on the master
    (``dst_directories``, ``apply_chown``, ``apply_chmod`` as for the minion function).

    CLI Example:

    .. code-block:: bash

        salt-run dockerfabric.isolate_and_get web1 webapp.app_server.instance1 '[/var/lib/app, /etc/app]'
    """
    if isinstance(src_resources, str):
        src_resources = [src_resources]
    return _fetch(
        minion,
        "dockerfabric.isolate_and_get",
        [src_container, list(src_resources)],
        _clean(kwargs),
        dest,
        timeout,
    )


def save_image(minion, image, dest=None, compress=True, timeout=None, **kwargs):
    """
    Save an image of ``minion`` (``docker save``, gzip unless ``compress=False``) to the master.

    CLI Example:

    .. code-block:: bash

        salt-run dockerfabric.save_image web1 local/app:1.0
        salt-run dockerfabric.save_image web1 local/app:1.0 dest=/srv/images/
    """
    kwarg = {"compress": compress}
    kwarg.update(_clean(kwargs))
    ret = _fetch(minion, "dockerfabric.save_image", [image], kwarg, dest, timeout)
    if ret["result"]:
        ret["image"] = image
    return ret


def flatten_image(minion, image, dest_image=None, keep_config=True, timeout=None, **kwargs):
    """
    Flatten an image on ``minion`` to one layer (config kept unless ``keep_config=False``).

    CLI Example:

    .. code-block:: bash

        salt-run dockerfabric.flatten_image web1 local/app:1.0 local/app:1.0-flat
    """
    kwarg = {"dest_image": dest_image, "keep_config": keep_config}
    kwarg.update(_clean(kwargs))
    try:
        res = _call(minion, "dockerfabric.flatten_image", [image], kwarg, timeout)
    except RunnerError as exc:
        return _fail(str(exc))
    return {"result": True, "comment": res.get("comment", ""), "id": res.get("id"), "minion": minion}


def _file_root(saltenv, path):
    """The ``file_roots`` directory of ``saltenv`` that contains ``path``, or None."""
    real = os.path.realpath(path)
    for root in (__opts__.get("file_roots") or {}).get(saltenv) or []:
        root = os.path.realpath(root)
        if real == root or real.startswith(root + os.sep):
            return root
    return None


def transfer_image(source, image, targets, saltenv="base", compress=True, timeout=None, **kwargs):
    """
    Copy an image from minion ``source`` to the minions ``targets`` (a list or a comma-separated
    string) through the master: saved on the source, pushed and verified, served to the targets
    by the master's file server (the runner directory must lie in a ``file_roots`` directory of
    ``saltenv``), loaded there (sha256 checked before loading) and the image id compared with
    the source's. The file is removed from the master afterwards. Per target: ``ok`` and a comment.

    CLI Example:

    .. code-block:: bash

        salt-run dockerfabric.transfer_image build1 local/app:1.0 web1,web2
    """
    if isinstance(targets, str):
        targets = [t.strip() for t in targets.split(",") if t.strip()]
    root = _file_root(saltenv, _runner_dir())
    if root is None:
        return _fail(
            f"transfer_image serves the image with the master's file server: put the runner directory "
            f"{_runner_dir()} (dockerfabric.runner_dir) inside a file_roots directory of saltenv {saltenv}"
        )
    received = None
    try:
        info = _call(source, "dockerfabric.save_image", [image], {"compress": compress}, timeout)
        received = _deliver(source, info, timeout)
        target_dir = os.path.join(_runner_dir(), "transfer", uuid.uuid4().hex)
        path = _place(received, source, target_dir + os.sep)
    except RunnerError as exc:
        return _fail(str(exc))
    url = "salt://" + os.path.relpath(path, root).replace(os.sep, "/")
    results = {}
    try:
        for target in targets:
            try:
                loaded = _call(
                    target,
                    "dockerfabric.load_image",
                    [url],
                    {"saltenv": saltenv, "sha256": info["sha256"]},
                    timeout,
                )
                ids = loaded.get("ids") or []
                if info.get("id") and info["id"] not in ids:
                    raise RunnerError(f"loaded image ids {ids} do not include the source's {info['id']}")
                results[target] = {"ok": True, "comment": loaded.get("comment", ""), "id": info.get("id")}
            except RunnerError as exc:
                results[target] = {"ok": False, "comment": str(exc)}
    finally:
        _remove_tree(os.path.dirname(path))
    failed = sorted(t for t, r in results.items() if not r["ok"])
    ret = {
        "result": not failed,
        "comment": (
            f"{image} ({info.get('id')}) transferred from {source} to {', '.join(targets)}."
            if not failed
            else f"transfer of {image} failed on {', '.join(failed)}."
        ),
        "targets": results,
        "size": info["size"],
        "sha256": info["sha256"],
    }
    if failed:
        __context__["retcode"] = ret["retcode"] = 1
    return ret


# ------------------------------------------------------------------------------------------------
# multi-host orchestration (issue 8)

# reverse actions walk dependents first, so their levels run in reverse order
_REVERSE_ACTIONS = ("stop", "remove", "shutdown")
_FLEET_ACTIONS = (
    "create",
    "start",
    "startup",
    "update",
    "pull_images",
    "restart",
    "stop",
    "remove",
    "shutdown",
)


def _containermap():
    """The engine package on the master: installed, synced (``saltutil.sync_utils``) or next to
    this runner in a checkout (``runner_dirs: [<repo>/_runners]``)."""
    import importlib
    import sys

    try:
        return importlib.import_module("containermap")
    except ImportError:
        candidates = [
            os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_utils"),
            os.path.join(__opts__.get("extension_modules") or "", "utils"),
        ]
        for path in candidates:
            if os.path.isdir(os.path.join(path, "containermap")) and path not in sys.path:
                sys.path.append(path)
        return importlib.import_module("containermap")


def _fleet_configs(tgt, tgt_type, saltenv):
    """``({minion: PillarConfig}, [problem text])`` for every accepted minion ``tgt`` matches,
    from the pillar the master compiles for it with its cached grains (nothing runs on minions)."""
    import salt.fileclient
    import salt.pillar
    import salt.utils.minions

    _containermap()
    from containermap.exceptions import ConfigurationError
    from containermap.pillar import load_pillar_config

    found = salt.utils.minions.CkMinions(__opts__).check_minions(tgt, tgt_type)
    minions = sorted(found.get("minions") or [])
    configs, problems = {}, []
    with salt.fileclient.get_file_client(__opts__) as files:

        def fetch(source):
            if "://" in source:
                return files.cache_file(source, saltenv) or None
            return source if os.path.exists(source) else None

        for minion in minions:
            _id, grains, _pillar = salt.utils.minions.get_minion_data(minion, __opts__)
            grains = dict(grains or {})
            grains.setdefault("id", minion)
            pillar = salt.pillar.Pillar(__opts__, grains, minion, saltenv).compile_pillar()
            errors = pillar.get("_errors") if isinstance(pillar, dict) else None
            if errors:
                problems.extend(f"minion {minion}: pillar error: {e}" for e in errors)
                continue
            try:
                configs[minion] = load_pillar_config(pillar, grains, {"id": minion}, fetch=fetch)
            except ConfigurationError as exc:
                problems.extend(f"minion {minion}: {p}" for p in exc.problems)
    return configs, problems


def _run_level(level, action, kwarg, timeout):
    """One publish to every minion of ``level``; each runs its own selections. Returns
    ``{minion: return or None}`` (None: no answer)."""
    minions = sorted(level)
    with salt.client.get_local_client(__opts__["conf_file"], mopts=__opts__) as client:
        returns = client.cmd(
            minions,
            "dockerfabric.fleet_level",
            arg=[level],
            kwarg={"action": action, **kwarg},
            tgt_type="list",
            timeout=timeout or DEFAULT_TIMEOUT,
            full_return=True,
        )
    out = {}
    for minion in minions:
        answer = (returns or {}).get(minion)
        if answer is None:
            out[minion] = None
            continue
        value = answer.get("ret") if isinstance(answer, dict) else answer
        retcode = answer.get("retcode", 0) if isinstance(answer, dict) else 0
        if isinstance(value, str) and value.startswith("Minion did not return"):
            out[minion] = None
            continue
        if not isinstance(value, dict):
            value = {"result": False, "comment": str(value), "changes": {}}
        elif retcode and value.get("result") is not False and "changes" not in value:
            value = {"result": False, "comment": str(value), "changes": {}}
        out[minion] = value
    return out


def orchestrate(
    maps=None,
    action="update",
    test=False,
    tgt="*",
    tgt_type="glob",
    timeout=None,
    ping_timeout=5,
    saltenv="base",
    **kwargs,
):
    """
    Converge container maps across the fleet in dependency order.

    Every targeted minion's share (from the pillar the master compiles for it) is validated on
    the master before anything runs: ``links``/``uses``/``network_mode`` across hosts, ``requires``
    that no minion runs, cycles. The cross-host levels follow ``requires``; each level runs on all
    its minions at once (one publish), and a failure stops the following levels: the return lists
    what the completed minions changed. ``test=True`` collects every minion's plan and changes
    nothing. Further keyword arguments are engine options (``remove_attached=True``...).
    ``timeout``: seconds to wait for a minion's level run without sign of life (default 60);
    ``ping_timeout``: seconds the first ping waits for the minions (a minion that does not
    answer it is reported down and gets nothing to do).

    CLI Example:

    .. code-block:: bash

        salt-run dockerfabric.orchestrate
        salt-run dockerfabric.orchestrate shop,billing test=True
        salt-run dockerfabric.orchestrate shop action=shutdown remove_attached=True
    """
    import time

    clock = time.monotonic()
    if action not in _FLEET_ACTIONS:
        return _fail(f"unknown action '{action}'; use one of {', '.join(_FLEET_ACTIONS)}")
    if isinstance(maps, str):
        maps = [m.strip() for m in maps.split(",") if m.strip()]
    options = _clean(kwargs)
    test = bool(test) if not isinstance(test, str) else test.strip().lower() in ("1", "true", "yes")
    try:
        configs, problems = _fleet_configs(tgt, tgt_type, saltenv)
        from containermap.fleet import Fleet

        fleet = Fleet(configs, maps=maps)
    except Exception as exc:  # noqa: BLE001 - reported as the runner's result
        log.debug("dockerfabric.orchestrate", exc_info=exc)
        return _fail(f"cannot load the fleet's maps: {exc}")
    problems += [str(p) for p in fleet.problems()]
    if problems:
        return _fail(
            "fleet validation failed, nothing was run:\n  " + "\n  ".join(problems), problems=problems
        )
    levels = fleet.levels(reverse=action in _REVERSE_ACTIONS)
    ret = {
        "result": True,
        "test": test,
        "action": action,
        "levels": levels,
        "assignments": fleet.assignments(),
        "minions": {},
        "changes": {},
        # wall-clock seconds: validation, the ping/pillar refresh, then each level run
        "seconds": {"validate": round(time.monotonic() - clock, 3)},
    }
    kwarg = {**options, "test": test}
    with salt.client.get_local_client(__opts__["conf_file"], mopts=__opts__) as client:
        # one ping finds the minions that are down (each later publish would wait for them), and
        # the minions act on their own pillar: bring it in line with what the master validated
        alive = client.cmd(fleet.minions_with_work(), "test.ping", tgt_type="list", timeout=ping_timeout)
        alive = sorted(m for m, up in (alive or {}).items() if up is True)
        if alive:
            client.cmd(
                alive,
                "saltutil.refresh_pillar",
                kwarg={"wait": True},
                tgt_type="list",
                timeout=timeout or DEFAULT_TIMEOUT,
            )
    ret["seconds"]["prepare"] = round(time.monotonic() - clock - ret["seconds"]["validate"], 3)
    pending = False
    for index, level in enumerate(levels):
        started = time.monotonic()
        up = {m: sel for m, sel in level.items() if m in alive}
        returns = _run_level(up, action, kwarg, timeout) if up else {}
        returns.update({m: None for m in level if m not in up})
        ret["seconds"][f"level {index}"] = round(time.monotonic() - started, 3)
        failed = []
        for minion, value in returns.items():
            if value is None:
                failed.append(
                    f"minion {minion} did not answer (down, not connected or its key is not accepted)"
                )
                ret["minions"].setdefault(minion, []).append(
                    {"level": index, "result": False, "comment": "no answer"}
                )
                continue
            value["level"] = index
            ret["minions"].setdefault(minion, []).append(value)
            if value.get("changes"):
                ret["changes"].setdefault(minion, {}).update(value["changes"])
            if value.get("result") is False:
                failed.append(f"minion {minion}: {value.get('comment')}")
            elif value.get("result") is None:
                pending = True
        if failed:
            rest = len(levels) - index - 1
            ret["comment"] = f"level {index} failed: " + "; ".join(failed)
            if rest:
                ret["comment"] += f"; {rest} following level(s) not run"
            ret["result"] = False
            __context__["retcode"] = 1
            ret["retcode"] = 1
            return ret
    done = sum(len(level) for level in levels)
    if test:
        ret["result"] = None if pending else True
        ret["comment"] = (
            f"test mode: plans of {len(ret['minions'])} minion(s) in {len(levels)} level(s), nothing changed"
        )
    else:
        ret["comment"] = f"{len(levels)} level(s) converged ({done} minion run(s))"
    return ret
