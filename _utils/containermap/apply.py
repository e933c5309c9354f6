"""Run a :class:`~containermap.plan.Plan`: pulls, then networks/volumes, then containers, in parallel.

A failed step does not stop the others; steps that need it (``params['after']``) are skipped.
:func:`apply_plan` always builds an :class:`ApplyResult` (per-step results and Salt-style
``changes``); when anything failed it raises :class:`~containermap.exceptions.ActionError`
whose ``results`` are the step results and ``apply_result`` the whole result, so the Salt layer
gets both the changes made and the failure (``raise_on_error=False`` returns it with
``ok=False`` instead).

Re-creating a container keeps the old one serving as long as possible: the old container is
renamed to ``<name>-dfold-<id>``, the new one created under the real name; when the old one
is connected to no network but Docker's own (``bridge``, ``host``, ``none``) and publishes no
fixed host port, the new one is started before the old one is stopped; with fixed host ports
the old one is stopped right before the start; when it is connected to a user-defined network
it is stopped before the rename (:func:`_renames_safely`). If creating or starting the new one
fails, it is removed and the old one gets its name and running state back.

Crash recovery: a NEW container whose network connect or start fails is removed again (a
half-made one would block the next run); a ``created`` container whose start fails because
containerd kept its task over an engine crash (:data:`STALE_TASK_ERRORS`) is re-created.

After the steps, every container the apply started is inspected once: one that exited, or whose
healthcheck fails (waited for up to :data:`HEALTH_GRACE` s when it can decide that fast), gives a
warning in :attr:`ApplyResult.warnings`; the step itself stays successful (Docker runs it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import docker.errors
import requests.exceptions

from .errors import translate
from .exceptions import ActionError, EngineError
from .plan import LEFTOVER_MARK, Plan, Step, operations
from .spec import ContainerSpec, NetworkSpec, VolumeSpec

log = logging.getLogger(__name__)

Progress = Callable[[Step, str], None]

# how long to keep retrying the removal of a network whose endpoints the engine still counts
# after the containers were removed (released late under parallel removal). dockerd can also
# keep a count that is too high for good (moby/moby#42119; renaming a running container is the
# main cause, which :func:`_renames_safely` avoids; many parallel starts and stops on one
# network, rarely, another): then only a restart of the engine lets the network go, and the
# error says so
REMOVE_NETWORK_TIMEOUT = 30.0
# networks of Docker's own, never removed: a wrong endpoint count of theirs harms nobody
_ENGINE_NETWORKS = frozenset({"bridge", "host", "none"})
# after an apply, how long to wait for the first verdict of the healthcheck of a container it
# started; only healthchecks that can give one within this time are waited for
HEALTH_GRACE = 3.0
# Docker's healthcheck defaults (nanoseconds / count) when the configuration leaves them out
_HC_DEFAULT_INTERVAL = 30_000_000_000
_HC_DEFAULT_RETRIES = 3


@dataclass
class StepResult:
    step: Step
    ok: bool
    skipped: bool = False
    error: str | None = None
    output: Any = None
    seconds: float = 0.0
    change: tuple[str, str] | None = None  # (old, new) for the changes dict
    change_key: str = ""  # key in the changes dict (volume:map.alias, image:repo:tag, ...)

    def as_dict(self) -> dict:
        return {
            **self.step.as_dict(),
            "ok": self.ok,
            "skipped": self.skipped,
            "error": self.error,
            "output": self.output,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class ApplyResult:
    """What an apply did: per-step results, Salt-style changes, errors."""

    action: str
    results: list[StepResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def errors(self) -> list[str]:
        return [f"{r.step.key}: {r.error}" for r in self.results if not r.ok and not r.skipped]

    @property
    def changes(self) -> dict[str, dict[str, str]]:
        """``{'container:map.cfg': {'old': .., 'new': ..}, 'network:map.net': .., ...}``; with
        several clients the key is prefixed by ``client|``."""
        clients = {r.step.client for r in self.results}
        changes: dict[str, dict[str, str]] = {}
        for r in self.results:
            if not r.ok or r.change is None:
                continue
            key = r.change_key or r.step.key
            if len(clients) > 1:
                key = f"{r.step.client}|{key}"
            old, new = r.change
            if key in changes:
                changes[key]["new"] = new
            else:
                changes[key] = {"old": old, "new": new}
        return changes

    @property
    def comment(self) -> str:
        done = sum(1 for r in self.results if r.ok and r.change is not None)
        if not self.results:
            return "There are no changes to apply."
        errors = self.errors
        if not errors:
            return f"{operations(done)} finished successfully."
        skipped = sum(1 for r in self.results if r.skipped)
        text = f"{operations(done)} finished, {len(errors)} failed"
        if skipped:
            text += f", {skipped} skipped because a dependency failed"
        return text + ": " + "; ".join(errors)

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "comment": self.comment,
            "changes": self.changes,
            "steps": [r.as_dict() for r in self.results],
            "warnings": list(self.warnings),
        }


class _Executor:
    def __init__(
        self,
        plan: Plan,
        apis: Mapping[str, Any],
        extra_labels: Mapping[str, str] | None,
        auth_configs: Mapping[str, Any] | None,
    ):
        self.plan = plan
        self.apis = apis
        self.labels = dict(extra_labels or {})
        self.auth = auth_configs or {}

    def spec(self, step: Step) -> Any:
        return self.plan.specs.get((step.client, step.key))

    def run(self, step: Step) -> StepResult:
        api = self.apis[step.client]
        start = time.monotonic()
        try:
            output, change = getattr(self, "do_" + step.kind)(api, step)
        except Exception as exc:  # noqa: BLE001 - every failure is reported per step
            err = (
                exc
                if isinstance(exc, EngineError)
                else translate(exc, str(step.target), step.client, step.kind)
            )
            log.warning("%s failed: %s", step, err)
            return StepResult(
                step, False, error=str(err), seconds=time.monotonic() - start, output=_partial(exc)
            )
        return StepResult(
            step,
            True,
            output=output,
            change=change,
            seconds=time.monotonic() - start,
            change_key=self.change_key(step),
        )

    def change_key(self, step: Step) -> str:
        """The step's change key, the same one test mode shows (:attr:`Step.change_key`)."""
        return step.change_key or step.key

    # -- images, networks, volumes --------------------------------------------------------

    def do_pull(self, api: Any, step: Step) -> tuple[Any, Any]:
        from .images import pull_image

        image = step.params["image"]
        old = None
        try:
            old = api.inspect_image(image)["Id"]
        except docker.errors.NotFound:
            pass
        new = pull_image(api, image, auth_configs=self.auth.get(step.client))
        change = None if old == new else ("absent" if old is None else old, new)
        return new, change

    def do_create_network(self, api: Any, step: Step) -> tuple[Any, Any]:
        spec: NetworkSpec = self.spec(step)
        result = api.create_network(**spec.create_kwargs(self.labels))
        return result.get("Id"), ("absent", "present")

    def do_remove_network(self, api: Any, step: Step) -> tuple[Any, Any]:
        spec: NetworkSpec = self.spec(step)
        deadline = time.monotonic() + REMOVE_NETWORK_TIMEOUT
        delay = 0.25
        while True:
            try:
                info = api.inspect_network(spec.name)
            except docker.errors.NotFound:
                return None, None
            endpoints = info.get("Containers") or {}
            self._disconnect_stale(api, info["Id"], endpoints)
            try:
                api.remove_network(info["Id"])
                return None, ("present", "absent")
            except docker.errors.NotFound:
                return None, None
            except docker.errors.APIError as exc:
                # endpoints of containers just removed can linger in the engine for a while
                if "active endpoints" not in str(exc):
                    raise
                if time.monotonic() + delay > deadline:
                    listed = ", ".join(sorted(e.get("Name") or k for k, e in endpoints.items())) or "none"
                    raise EngineError(
                        f"network {spec.name} could not be removed: the Docker engine still counts "
                        f"active endpoints after {REMOVE_NETWORK_TIMEOUT:.0f} s of retries and "
                        f"force-disconnects (endpoints listed: {listed}); it was left in place, "
                        "remove it after restarting the engine",
                        target=f"network:{spec.name}",
                        client=step.client,
                        cause=exc,
                    ) from exc
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    @staticmethod
    def _disconnect_stale(api: Any, network_id: str, endpoints: Mapping[str, Any]) -> None:
        """Force-disconnect every endpoint the network still lists: by the listed key (container
        id, or ``ep-<id>`` for a removed container) and, if the engine refuses that, by the
        container name, which it accepts for stale endpoints of removed containers."""
        for key, ep in endpoints.items():
            for ref in dict.fromkeys(r for r in (key, (ep or {}).get("Name")) if r):
                try:
                    api.disconnect_container_from_network(ref, network_id, force=True)
                    break
                except docker.errors.NotFound:
                    continue
                except docker.errors.APIError as exc:
                    log.debug("force-disconnect of %s from %s: %s", ref, network_id, exc)

    def do_create_volume(self, api: Any, step: Step) -> tuple[Any, Any]:
        spec: VolumeSpec = self.spec(step)
        api.create_volume(**spec.create_kwargs(self.labels))
        return self._prepare_volume(api, spec) or spec.name, ("absent", "present")

    def _prepare_volume(self, api: Any, spec: VolumeSpec) -> Any:
        if not spec.user and not spec.permissions:
            return None
        from .volumes import prepare_volume

        return prepare_volume(
            api, spec.name, spec.user, spec.permissions, helper_image=spec.helper_image, labels=self.labels
        )

    def do_replace_volume(self, api: Any, step: Step) -> tuple[Any, Any]:
        spec: VolumeSpec = self.spec(step)
        for name in step.params.get("remove_containers", ()):
            self._stop(api, name, None)
            api.remove_container(name, v=True, force=True)
        api.remove_volume(spec.name)
        api.create_volume(**spec.create_kwargs(self.labels))
        self._prepare_volume(api, spec)
        return spec.name, ("present", "replaced")

    def do_remove_volume(self, api: Any, step: Step) -> tuple[Any, Any]:
        spec: VolumeSpec = self.spec(step)
        try:
            api.remove_volume(spec.name)
        except docker.errors.NotFound:
            return None, None
        return None, ("present", "absent")

    def do_warning(self, api: Any, step: Step) -> tuple[Any, Any]:
        return None, None

    # -- containers -----------------------------------------------------------------------

    def _create(self, api: Any, spec: ContainerSpec, name: str | None = None) -> str:
        create, host, endpoint = spec.create_args(self.labels)
        if name:
            create["name"] = name
        kwargs: dict[str, Any] = {"host_config": api.create_host_config(**host)}
        if endpoint:
            ((net, ep),) = endpoint.items()
            kwargs["networking_config"] = api.create_networking_config(
                {net: api.create_endpoint_config(**endpoint_kwargs(ep))}
            )
        image = create.pop("image")
        result = api.create_container(image, **create, **kwargs)
        cid = result["Id"]
        first = next(iter(endpoint)) if endpoint else None
        try:
            for net in spec.networks:
                if net != first and not spec.fields.get("network_mode"):
                    api.connect_container_to_network(cid, net, **endpoint_kwargs(spec.endpoint(net)))
        except Exception:
            # a half-made container (missing networks, labelled as complete) would block the
            # name and look up to date to the next run
            _remove_quietly(api, cid)
            raise
        return cid

    def _execs(self, api: Any, name: str, execs: list[dict] | None, first: bool) -> list[dict]:
        if not execs:
            return []
        from .execs import run_exec_commands

        return run_exec_commands(api, name, execs, first, detach=True, target=name)

    def _start(self, api: Any, step: Step, name: str, first: bool) -> Any:
        try:
            api.start(name)
        except docker.errors.APIError as exc:
            # a container left "created" by a crashed engine fails with "task ... already exists"
            # or "id already in use" (containerd kept its task) forever: re-create it (named
            # volumes and binds are kept)
            if not _stale_task(exc) or not isinstance(self.spec(step), ContainerSpec):
                raise
            log.warning("%s: start failed (%s); re-creating", name, exc)
            api.remove_container(name, force=True, v=True)
            self._create(api, self.spec(step))
            api.start(name)
            first = True
        self._start_delay(self.spec(step))
        return self._execs(api, name, step.params.get("execs"), first)

    def do_create(self, api: Any, step: Step) -> tuple[Any, Any]:
        spec: ContainerSpec = self.spec(step)
        cid = self._create(api, spec)
        if not step.params.get("start"):
            return cid, ("absent", "present")
        try:
            api.start(cid)
        except Exception:
            # a new container that cannot start (port taken, engine error) is removed, so the
            # next run creates it again from scratch instead of tripping over it
            _remove_quietly(api, cid)
            raise
        self._start_delay(spec)
        self._execs(api, spec.name, step.params.get("execs"), True)
        return cid, ("absent", "running")

    def do_start(self, api: Any, step: Step) -> tuple[Any, Any]:
        spec: ContainerSpec = self.spec(step)
        self._start(api, step, spec.name, bool(step.params.get("first_start")))
        return None, ("present", "running")

    @staticmethod
    def _start_delay(spec: Any) -> None:
        """``start_delay``: give a started container time before its dependents start (the
        step finishes, and so releases the steps that come after it, only then)."""
        delay = getattr(spec, "start_delay", None)
        if delay:
            time.sleep(delay)

    def _stop(self, api: Any, name: str, timeout: Any, spec: Any = None) -> None:
        """``docker stop``; with a ``stop_signal`` and the client's ``wait_timeout``, first the
        signal and a wait of up to ``wait_timeout`` seconds for the container to exit."""
        signal = spec.fields.get("stop_signal") if isinstance(spec, ContainerSpec) else None
        if signal and spec.wait_timeout:
            try:
                api.kill(name, signal=signal)
                api.wait(name, timeout=spec.wait_timeout)
                return
            except docker.errors.NotFound:
                raise
            except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
                # not running (409), or still running after wait_timeout: docker stop decides
                log.debug("%s: %s did not stop it (%s); stopping", name, signal, exc)
        if timeout is None:
            api.stop(name)
        else:
            api.stop(name, timeout=int(timeout))

    def do_stop(self, api: Any, step: Step) -> tuple[Any, Any]:
        spec = self.spec(step)
        self._stop(api, spec.name, step.params.get("timeout"), spec)
        return None, ("running", "stopped")

    def do_remove(self, api: Any, step: Step) -> tuple[Any, Any]:
        spec = self.spec(step)
        name = spec.name
        old = "present"
        if step.params.get("stop"):
            self._stop(api, name, step.params.get("timeout"), spec)
            old = "running"
        api.remove_container(name, v=True)
        return None, (old, "absent")

    def do_restart(self, api: Any, step: Step) -> tuple[Any, Any]:
        spec = self.spec(step)
        name = spec.name
        self._stop(api, name, step.params.get("timeout"), spec)
        api.start(name)
        self._start_delay(spec)
        self._execs(api, name, step.params.get("execs"), False)
        return None, ("running", "restarted")

    def do_kill(self, api: Any, step: Step) -> tuple[Any, Any]:
        api.kill(self.spec(step).name, signal=step.params.get("signal"))
        return None, ("running", "signaled")

    def do_exec(self, api: Any, step: Step) -> tuple[Any, Any]:
        ids = self._execs(api, self.spec(step).name, step.params.get("execs"), False)
        return ids, ("running", "exec-command-run")

    def do_update(self, api: Any, step: Step) -> tuple[Any, Any]:
        api.update_container(self.spec(step).name, **step.params["update"])
        return None, ("running", "host-config-updated")

    def do_connect(self, api: Any, step: Step) -> tuple[Any, Any]:
        spec: ContainerSpec = self.spec(step)
        for net in step.params.get("disconnect", ()):
            api.disconnect_container_from_network(spec.name, net)
        for net in step.params.get("connect", ()):
            api.connect_container_to_network(spec.name, net, **endpoint_kwargs(spec.endpoint(net)))
        return None, ("running", "network-updated")

    def do_remove_temporary(self, api: Any, step: Step) -> tuple[Any, Any]:
        try:
            api.remove_container(step.params["name"], force=True, v=True)
        except docker.errors.NotFound:
            return None, None  # removed concurrently
        return step.params["name"][:12], ("present", "absent")

    def do_restore(self, api: Any, step: Step) -> tuple[Any, Any]:
        spec = self.spec(step)
        # back under its name, in the state it was left in, without renaming it running
        restart = step.params.get("old_state") == "running" and not _renames_safely(
            step.params.get("old_networks", ())
        )
        if restart:
            self._stop(api, step.params["old"], spec.stop_timeout, spec)
        api.rename(step.params["old"], spec.name)
        if restart:
            api.start(spec.name)
        return None, ("absent", "present")

    def do_remove_leftover(self, api: Any, step: Step) -> tuple[Any, Any]:
        try:
            api.remove_container(step.params["name"], force=True, v=True)
        except docker.errors.NotFound:
            pass
        return step.params["name"], None

    def do_recreate(self, api: Any, step: Step) -> tuple[Any, Any]:
        spec: ContainerSpec = self.spec(step)
        name = spec.name
        if step.params.get("old_id"):  # the planner's list says which container and state
            old = {"Id": step.params["old_id"], "Image": step.params.get("old_image")}
            old_running = step.params.get("old_state") == "running"
            old_networks = step.params.get("old_networks", ())
        else:
            old = api.inspect_container(name)
            old_running = bool(old["State"].get("Running"))
            old_networks = tuple((old.get("NetworkSettings") or {}).get("Networks") or ())
        old_state = "running" if old_running else "present"
        if step.params.get("if_image_changed"):
            wanted = api.inspect_image(spec.image)["Id"]
            if wanted == old["Image"]:
                if not old_running and step.params.get("start"):
                    self._start(api, step, name, False)
                    return None, ("present", "running")
                return "image unchanged after pull", None
        # when the old one stops: before its rename, right before the new one starts (its
        # fixed host ports or name are needed), or after that start (keeps serving longest)
        if not old_running:
            stop_at = None
        elif not _renames_safely(old_networks):
            stop_at = "rename"
        elif spec.published_ports or step.params.get("unmanaged"):
            stop_at = "start"
        else:
            stop_at = "started"
        if stop_at == "rename":
            self._stop(api, old["Id"], spec.stop_timeout, spec)
        api.rename(old["Id"], f"{name}{LEFTOVER_MARK}{old['Id'][:12]}")
        try:
            new_id = self._create(api, spec)
        except Exception as exc:
            api.rename(old["Id"], name)
            if stop_at == "rename":
                api.start(old["Id"])
            raise _Restored(exc, "creating the new container failed; the old one was kept", step) from exc
        try:
            if stop_at == "start":
                self._stop(api, old["Id"], spec.stop_timeout, spec)
            if step.params.get("start", True):
                api.start(new_id)
            if stop_at == "started":
                self._stop(api, old["Id"], spec.stop_timeout, spec)
        except Exception as exc:
            self._rollback(api, new_id, old["Id"], name, old_running)
            raise _Restored(exc, "starting the new container failed; the old one was restored", step) from exc
        api.remove_container(old["Id"], v=True, force=True)
        if step.params.get("start", True):
            self._start_delay(spec)
            self._execs(api, name, step.params.get("execs"), True)
        return new_id, (old_state, "updated")

    def _rollback(self, api: Any, new_id: str, old_id: str, name: str, was_running: bool) -> None:
        try:
            api.remove_container(new_id, force=True, v=True)
        finally:
            api.rename(old_id, name)
            if was_running:
                state = api.inspect_container(old_id)["State"]
                if not state.get("Running"):
                    api.start(old_id)


class _Restored(EngineError):
    """A recreate failed and the old container was put back (message says so)."""

    def __init__(self, cause: BaseException, note: str, step: Step):
        err = (
            cause
            if isinstance(cause, EngineError)
            else translate(cause, str(step.target), step.client, "recreate")
        )
        super().__init__(f"{err.message} ({note})", target=str(step.target), client=step.client, cause=cause)


# start errors of a container whose containerd task (or its state directory, named after the
# container id) survived an engine crash; a re-created container gets a new id
STALE_TASK_ERRORS = ("already exists", "id already in use", "failed to start shim: mkdir")


def _stale_task(exc: BaseException) -> bool:
    text = str(exc)
    return any(marker in text for marker in STALE_TASK_ERRORS)


def _renames_safely(networks: Any) -> bool:
    """True if a RUNNING container connected to ``networks`` (names) can be renamed without
    harm. Renaming a running container makes dockerd (20.10 at least: libnetwork
    ``endpoint.rename`` -> ``endpointCnt.updateStore``) write back an endpoint count of the
    network that it read earlier; changes made meanwhile are lost, and a count left too high
    keeps the network from being removed until the engine restarts (moby/moby#42119). A stopped
    container has no endpoints, so its rename does not touch the count; Docker's own networks
    are never removed, so their count does not matter."""
    return all(net in _ENGINE_NETWORKS for net in networks)


def _remove_quietly(api: Any, container: str) -> None:
    """Best-effort removal of a container we just made; the original error matters more."""
    try:
        api.remove_container(container, force=True, v=True)
    except Exception:  # noqa: BLE001 - the next run removes or repairs what is left
        log.warning("could not remove half-made container %s", container[:12])


def _partial(exc: BaseException) -> Any:
    return {"restored": True} if isinstance(exc, _Restored) else None


def endpoint_kwargs(endpoint: Mapping[str, Any]) -> dict:
    """Endpoint kwargs for the SDK (links as (name, alias) pairs)."""
    result = dict(endpoint)
    if result.get("links"):
        result["links"] = [
            tuple(link.split(":", 1)) if isinstance(link, str) else tuple(link) for link in result["links"]
        ]
    return result


def _phases(plan: Plan) -> list[list[Step]]:
    """Barrier groups. Forward actions: image pulls, then networks/volumes/leftovers, then all
    container steps (scheduled by dependency, not by level, so a container starts as soon as
    what it needs is up). Reverse actions: containers, then volumes and networks."""
    from .plan import FORWARD_ACTIONS

    groups: dict[int, list[Step]] = {}
    for step in plan.actionable:
        if plan.action in FORWARD_ACTIONS:
            phase = min(step.level, 2)
        else:
            phase = 0 if step.target.config_type == "container" else 1
        groups.setdefault(phase, []).append(step)
    return [sorted(groups[k], key=lambda s: s.level) for k in sorted(groups)]


def _run_phase(
    steps: list[Step],
    pool: ThreadPoolExecutor,
    executor: _Executor,
    failed: set[str],
    result: ApplyResult,
    progress: Progress | None,
) -> None:
    """Run ``steps``: each as soon as every step it comes ``after`` (in this phase) finished;
    skipped when one of them failed. Steps of one target keep their level order."""
    outstanding: dict[str, int] = {}
    for step in steps:
        outstanding[step.ref] = outstanding.get(step.ref, 0) + 1
    remaining = list(steps)
    running: dict[Future, Step] = {}

    def run(step: Step) -> StepResult:
        if progress:
            progress(step, "start")
        res = executor.run(step)
        if progress:
            progress(step, "done" if res.ok else "failed")
        return res

    def finish(step: Step, res: StepResult) -> None:
        if not res.ok:
            failed.add(step.ref)
        outstanding[step.ref] -= 1
        result.results.append(res)

    while remaining or running:
        launched_refs = {s.ref for s in running.values()}
        progressed = False
        for step in list(remaining):
            after = step.params.get("after", ())
            # same target: earlier levels first; dependencies: when finished
            same_target_earlier = any(
                o is not step and o.ref == step.ref and o.level < step.level for o in remaining
            )
            if same_target_earlier or step.ref in launched_refs:
                continue
            if any(outstanding.get(ref, 0) > 0 for ref in after if ref != step.ref):
                continue
            remaining.remove(step)
            progressed = True
            blocked = [ref for ref in after if ref in failed]
            if blocked:
                reason = "skipped: " + ", ".join(b.split("|", 1)[1] for b in blocked) + " failed"
                finish(step, StepResult(step, False, skipped=True, error=reason))
                if progress:
                    progress(step, "skipped")
                continue
            running[pool.submit(run, step)] = step
            launched_refs.add(step.ref)
        if not running:
            if remaining and not progressed:  # a dependency outside of any order: run in order
                step = remaining.pop(0)
                finish(step, run(step))
            continue
        done, _ = wait(list(running), return_when=FIRST_COMPLETED)
        for future in done:
            step = running.pop(future)
            finish(step, future.result())


def apply_plan(
    plan: Plan,
    apis: Mapping[str, Any],
    *,
    parallel: bool = True,
    max_workers: int = 8,
    progress: Progress | None = None,
    extra_labels: Mapping[str, str] | None = None,
    auth_configs: Mapping[str, Any] | None = None,
    raise_on_error: bool = True,
) -> ApplyResult:
    """Run ``plan`` against the docker API clients ``apis`` (client name -> ``APIClient``).

    Image pulls run first, then networks/volumes, then the container steps, each as soon as
    the steps it comes ``after`` are done (``max_workers`` threads; ``parallel=False`` runs
    them one by one). A step whose ``after`` references a failed or skipped step is skipped. ``extra_labels`` are added to every object created
    (not hashed). Raises :class:`ActionError` (``results``: step results, ``apply_result``:
    the :class:`ApplyResult`) when a step failed, unless ``raise_on_error=False``.
    """
    result = ApplyResult(plan.action, warnings=list(plan.warnings))
    executor = _Executor(plan, apis, extra_labels, auth_configs)
    failed: set[str] = set()
    order = {id(step): i for i, step in enumerate(plan.steps)}
    workers = max(1, max_workers if parallel else 1)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="containermap") as pool:
        for phase in _phases(plan):
            _run_phase(phase, pool, executor, failed, result, progress)
    result.warnings.extend(_check_started(executor, result.results))
    result.results.sort(key=lambda r: order.get(id(r.step), 0))
    if raise_on_error and not result.ok:
        error = ActionError(result.comment, results=result.results)
        error.apply_result = result  # type: ignore[attr-defined]
        raise error
    return result


_STARTED = {"running", "updated", "restarted"}


def _check_started(executor: _Executor, results: list[StepResult]) -> list[str]:
    """Warnings for containers this apply started that are not healthy right after it.

    Docker neither stops an unhealthy container nor fails ``start`` for a container whose process
    exits at once, so the step result alone ("running") could mislead. One inspect per started
    container; a container whose healthcheck is still ``starting`` is polled for up to
    :data:`HEALTH_GRACE` seconds, and only when its healthcheck can decide within that time.
    """
    started: list[tuple[Any, str]] = []
    for r in results:
        spec = executor.spec(r.step)
        if r.ok and r.change and r.change[1] in _STARTED and isinstance(spec, ContainerSpec):
            if r.step.kind == "recreate" and not r.step.params.get("start", True):
                continue
            started.append((executor.apis[r.step.client], spec.name))
    warnings: list[str] = []
    deadline = time.monotonic() + HEALTH_GRACE
    while started:
        waiting = []
        for api, name in started:
            try:
                info = api.inspect_container(name)
            except (docker.errors.APIError, requests.exceptions.RequestException):
                continue  # removed concurrently or engine gone: the next run plans from scratch
            state = info.get("State") or {}
            health = (state.get("Health") or {}).get("Status")
            if state.get("Status") in ("exited", "dead"):
                warnings.append(
                    f"container {name} was started but is {state['Status']} right after "
                    f"(exit code {state.get('ExitCode')})"
                )
            elif health == "unhealthy":
                warnings.append(f"container {name} was started and is running, but its healthcheck fails")
            elif health == "starting" and _verdict_within_grace(info):
                waiting.append((api, name))
        if not waiting or time.monotonic() >= deadline:
            break
        started = waiting
        time.sleep(0.2)
    for text in warnings:
        log.info("%s", text)  # returned in the result's warnings; the caller decides
    return warnings


def _verdict_within_grace(info: Mapping[str, Any]) -> bool:
    """Whether the container's healthcheck can turn ``unhealthy`` within :data:`HEALTH_GRACE`."""
    hc = (info.get("Config") or {}).get("Healthcheck") or {}
    interval = hc.get("Interval") or _HC_DEFAULT_INTERVAL
    retries = hc.get("Retries") or _HC_DEFAULT_RETRIES
    return (hc.get("StartPeriod") or 0) + interval * retries <= HEALTH_GRACE * 1e9
