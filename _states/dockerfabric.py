"""Declarative container maps: converge the containers of pillar-defined maps.

State names are map references: ``map`` (every container of the map), ``map.config``,
``map.config.instance``, a group or ``__all__``. The main state is ``updated``::

    webapp:
      dockerfabric.updated

    webapp.web_server:
      dockerfabric.updated:
        - reload_signal: SIGHUP          # sent by mod_watch instead of a restart
        - watch:
          - file: /srv/webapp/nginx.conf

With ``test=True`` every state asks the engine for the plan only (no state-changing request to
Docker) and returns ``result: None`` with exactly the steps a real run would apply as changes;
nothing to do gives ``result: True`` and no changes. Errors in the maps (with map, config and key
path) or from the engine give ``result: False``; a partial failure keeps the changes made.
"""

from salt.exceptions import SaltException

__virtualname__ = "dockerfabric"


def __virtual__():
    if "dockerfabric.update" in __salt__:
        return __virtualname__
    return (False, "dockerfabric state: the dockerfabric execution module is not available")


def _ret(name):
    return {"name": name, "result": True, "changes": {}, "comment": ""}


def _options(kwargs):
    return {k: v for k, v in kwargs.items() if not k.startswith("__") and k not in ("name", "fun", "state")}


def _call(ret, func, *args, **kwargs):
    """Run an execution function and copy result, changes and comment into the state return."""
    try:
        res = __salt__[f"dockerfabric.{func}"](*args, **kwargs)
    except SaltException as exc:
        ret.update(result=False, comment=str(exc), changes={})
        return ret
    ret["result"] = res.get("result", True)
    ret["changes"] = res.get("changes") or {}
    ret["comment"] = res.get("comment", "")
    if res.get("warnings"):
        ret["warnings"] = res["warnings"]
    return ret


def _action(name, func, plan_action, instances=None, map_name=None, extra_kwargs=None, **kwargs):
    """Test mode: the engine's plan for ``plan_action``; otherwise the execution function."""
    ret = _ret(name)
    options = _options(kwargs)
    options.update(extra_kwargs or {})
    if __opts__["test"]:
        return _call(ret, "plan", plan_action, name, instances=instances, map_name=map_name, **options)
    return _call(ret, func, name, instances=instances, map_name=map_name, **options)


def updated(name, instances=None, map_name=None, reload_signal=None, **kwargs):
    """
    The containers of ``name`` exist, run and match their configuration: missing ones are
    created, stopped ones started, changed ones re-created (each with the reason). Watching
    states trigger :func:`mod_watch` (restart, or ``reload_signal`` such as SIGHUP).

    name
        Map reference: ``map``, ``map.config``, ``map.config.instance``, group or ``__all__``.
    instances
        Restrict to these instances of the config.
    map_name
        Map of ``name`` when it has no map part.
    reload_signal
        Signal that :func:`mod_watch` sends instead of restarting.
    """
    return _action(name, "update", "update", instances, map_name, **kwargs)


def started_up(name, instances=None, map_name=None, **kwargs):
    """The containers of ``name`` and their dependencies are created and started."""
    return _action(name, "startup", "startup", instances, map_name, **kwargs)


def created(name, instances=None, map_name=None, extra_kwargs=None, **kwargs):
    """The containers of ``name`` exist (they are not started)."""
    return _action(name, "create", "create", instances, map_name, extra_kwargs, **kwargs)


def started(name, instances=None, map_name=None, extra_kwargs=None, **kwargs):
    """The containers of ``name`` are running."""
    return _action(name, "start", "start", instances, map_name, extra_kwargs, **kwargs)


def restarted(name, instances=None, map_name=None, extra_kwargs=None, **kwargs):
    """The containers of ``name`` are restarted (every run)."""
    return _action(name, "restart", "restart", instances, map_name, extra_kwargs, **kwargs)


def stopped(name, instances=None, map_name=None, extra_kwargs=None, **kwargs):
    """The containers of ``name`` (and their dependents) are stopped."""
    return _action(name, "stop", "stop", instances, map_name, extra_kwargs, **kwargs)


def removed(name, instances=None, map_name=None, extra_kwargs=None, **kwargs):
    """The containers of ``name`` (and their dependents) are removed."""
    return _action(name, "remove", "remove", instances, map_name, extra_kwargs, **kwargs)


def shut_down(name, instances=None, map_name=None, **kwargs):
    """The containers of ``name`` and their dependents are stopped and removed."""
    return _action(name, "shutdown", "shutdown", instances, map_name, **kwargs)


def signaled(name, instances=None, map_name=None, signal="SIGKILL", **kwargs):
    """The running containers of ``name`` get ``signal`` (every run)."""
    return _action(name, "kill", "kill", instances, map_name, signal=signal, **kwargs)


def script_run(name, instances=None, map_name=None, source=None, contents=None, saltenv="base", **kwargs):
    """A script (``source`` salt:// file or ``contents``) ran in a new container of the
    configuration instance ``name`` (dependencies started first); the state fails when the
    script exits non-zero. Runs every time (use ``onchanges``/``unless`` to limit it)."""
    ret = _ret(name)
    return _call(
        ret,
        "script",
        name,
        instances=instances,
        map_name=map_name,
        source=source,
        contents=contents,
        saltenv=saltenv,
        test=__opts__["test"],
        **_options(kwargs),
    )


def set_up(name, map_data=None, check_integrity=True, ignore_existing=False, **kwargs):
    """
    A map is added at run time (until the end of the run); order it before the states that
    use it (``require``).
    """
    ret = _ret(name)
    return _call(
        ret,
        "setup",
        name,
        map_data=map_data,
        check_integrity=check_integrity,
        ignore_existing=ignore_existing,
        **_options(kwargs),
    )


def merged(name, target_map, lists_only=False, map_data=None, **kwargs):
    """Map content ``name`` is merged into ``target_map`` at run time."""
    ret = _ret(name)
    return _call(ret, "merge", name, target_map, lists_only=lists_only, map_data=map_data, **_options(kwargs))


def containers_clean(name, include_initial=False, exclude=None, label=None, **kwargs):
    """Exited containers that are not persistent map containers are removed (``label``: only
    containers with that label)."""
    ret = _ret(name)
    return _call(
        ret,
        "cleanup_containers",
        include_initial=include_initial,
        exclude=exclude,
        label=label,
        test=__opts__["test"],
    )


def all_removed(name, shutdown_maps="__all__", label=None, **kwargs):
    """Every container is removed: the maps shut down in order first, then all others
    (``label``: only containers with that label)."""
    ret = _ret(name)
    return _call(
        ret, "remove_all_containers", shutdown_maps=shutdown_maps, label=label, test=__opts__["test"]
    )


def _exists(name, client=None):
    return __salt__["dockerfabric.image_tag_exists"](name, client=client)


def image_built(name, force=False, client=None, **kwargs):
    """
    The image tag ``name`` exists: it is built when missing (or with ``force``); an existing tag
    is left alone unless a watched state changed (:func:`mod_watch` rebuilds). Arguments as for
    ``dockerfabric.build``: ``source`` (``salt://`` Dockerfile), ``template``, ``context``,
    ``contents``, ``content_pillar``, ``add_files``, ``add_tags``, ``labels``, engine options.

    .. code-block:: yaml

        local/app:1.0:
          dockerfabric.image_built:
            - source: salt://app/Dockerfile
            - add_files: [salt://app/app.conf]
            - watch:
              - file: /srv/salt/app/app.conf
    """
    ret = _ret(name)
    options = _options(kwargs)
    try:
        if not force and _exists(name, client):
            ret["comment"] = f"Image {name} exists."
            return ret
    except SaltException as exc:
        ret.update(result=False, comment=str(exc))
        return ret
    return _call(ret, "build", name, client=client, test=__opts__["test"], **options)


def image_present(name, policy="missing", client=None, **kwargs):
    """
    The image ``name`` is present: pulled (credentials from pillar ``dockerfabric:registries``)
    when missing; ``policy: latest`` also pulls ``latest`` tags every run, ``always`` every tag.
    """
    ret = _ret(name)
    return _call(ret, "pull", name, policy=policy, client=client, test=__opts__["test"])


def image_absent(name, images=None, force=False, client=None, **kwargs):
    """The image tags ``name`` (or every tag in ``images``) do not exist locally."""
    ret = _ret(name)
    changes, comments = {}, []
    for image in images or [name]:
        part = _call(_ret(image), "remove_image", image, force=force, client=client, test=__opts__["test"])
        changes.update(part["changes"])
        comments.append(part["comment"])
        if part["result"] is False:
            ret["result"] = False
        elif part["result"] is None and ret["result"] is True:
            ret["result"] = None
    ret.update(changes=changes, comment=" ".join(comments))
    return ret


def logged_in(name, username=None, password=None, email=None, reauth=False, client=None, **kwargs):
    """
    Logged in to the registry ``name`` (``docker.io`` for Docker Hub); without ``username`` the
    credentials of pillar ``dockerfabric:registries`` are used. Refused credentials give
    ``result: False`` with the registry's message (never the password).
    """
    ret = _ret(name)
    registry = None if name in ("docker.io", "index.docker.io") else name
    return _call(
        ret,
        "login",
        registry,
        username=username,
        password=password,
        email=email,
        reauth=reauth,
        client=client,
        test=__opts__["test"],
    )


def images_clean(name, remove_old=False, keep_tags=None, force=False, label=None, client=None, **kwargs):
    """
    Images nobody needs are removed (see ``dockerfabric.cleanup_images``; ``label`` limits the
    candidates to images with that label). ``test=True`` lists them only.
    """
    ret = _ret(name)
    return _call(
        ret,
        "cleanup_images",
        remove_old=remove_old,
        keep_tags=keep_tags,
        force=force,
        label=label,
        client=client,
        test=__opts__["test"],
    )


def mod_watch(name, sfun=None, **kwargs):
    """
    Called when a watched state changed and the watching state itself had nothing to do:
    ``updated``/``started``/``started_up`` restart the containers of ``name`` or, with
    ``reload_signal``, send them that signal; ``script_run`` runs the script again;
    ``image_built`` rebuilds the image (also when the tag exists).
    """
    kwargs = {k: v for k, v in kwargs.items() if not k.startswith("__")}
    instances = kwargs.pop("instances", None)
    map_name = kwargs.pop("map_name", None)
    if sfun in ("updated", "started", "started_up"):
        signal = kwargs.pop("reload_signal", None)
        if signal:
            return _action(name, "kill", "kill", instances, map_name, signal=signal)
        return _action(name, "restart", "restart", instances, map_name)
    if sfun == "script_run":
        return script_run(name, instances=instances, map_name=map_name, **kwargs)
    if sfun == "image_built":
        kwargs.pop("force", None)
        ret = image_built(name, force=True, **kwargs)
        if ret["result"] is not False and not __opts__["test"]:
            ret["comment"] = "Rebuilt (watch). " + ret["comment"]
        return ret
    ret = _ret(name)
    ret.update(result=False, comment=f"dockerfabric.{sfun} does not support watch")
    return ret
