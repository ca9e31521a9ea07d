"""The pods of every service over the window, and request routing between them.

Each service runs ``replicas`` pods (``Instance``) from long before the window. A
``Deploy`` replaces them one by one (a Kubernetes rolling update: a new pod every 20 s,
the old one stopped two seconds after its successor is ready), so a new
``service.version`` appears in the middle of the window; a ``ScaleOut`` adds pods on a
fresh node. ``Router.pick`` sends a request to a random pod that is ready at that time.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from obsctl.demo import topology as topo
from obsctl.demo.scenario import Scenario

MS = 1_000_000
SEC = 1_000_000_000

_POD_CHARS = "bcdfghjklmnpqrstvwxz2456789"
_READY_S = {"go": 4.0, "java": 22.0, "nodejs": 7.0, "python": 5.0}
"""Start-up time until a pod passes its readiness probe, by runtime."""


@dataclass
class Instance:
    """One pod of a service."""

    idx: int
    """Position in the fleet (records refer to pods by it)."""
    service: str
    pod: str
    """``k8s.pod.name`` (also ``service.instance.id``)."""
    host: str
    version: str
    commit: str
    start_ns: int
    """Process start (before the window for pods already running)."""
    ready_ns: int
    """When it starts taking requests."""
    stop_ns: int | None
    """When it was terminated, or None."""


def _suffix(rng: np.random.Generator, n: int) -> str:
    return "".join(_POD_CHARS[i] for i in rng.integers(0, len(_POD_CHARS), n))


def build_fleet(sc: Scenario, rng: np.random.Generator) -> list[Instance]:
    """The pods of every service over the window: initial ones, deploys, scale-outs."""
    t0 = sc.start_ns
    fleet: list[Instance] = []

    def add(svc: topo.Service, host: str, version: str, commit: str, start: int, ready: int):
        replicaset = _suffix(rng, 10 if svc.language == "java" else 9)
        pod = f"{svc.name}-{replicaset}-{_suffix(rng, 5)}"
        inst = Instance(len(fleet), svc.name, pod, host, version, commit, start, ready, None)
        fleet.append(inst)
        return inst

    for svc in topo.SERVICES:
        commit = "".join("0123456789abcdef"[i] for i in rng.integers(0, 16, 7))
        current = []
        for _ in range(svc.replicas):
            start = t0 - int(rng.uniform(3, 30) * 3600 * SEC) - int(rng.integers(0, SEC))
            current.append(add(svc, svc.host, svc.version, commit, start, start))
        ready_after = int(_READY_S[svc.language] * SEC)
        for dep in (d for d in sc.deploys if d.service == svc.name):
            t = sc.minute_ns(dep.minute)
            new = []
            for i, old in enumerate(current):
                start = t + i * 20 * SEC + int(rng.integers(0, 400 * MS))
                pod = add(svc, old.host, dep.version, dep.commit, start, start + ready_after)
                old.stop_ns = pod.ready_ns + 2 * SEC
                new.append(pod)
            current = new
        for so in (s for s in sc.scale_outs if s.service == svc.name):
            t = sc.minute_ns(so.minute)
            host = topo.SCALE_OUT_HOST.get(svc.name, svc.host)
            last = current[-1]
            for i in range(so.replicas - len(current)):
                start = t + i * 3 * SEC + int(rng.integers(0, 400 * MS))
                current.append(
                    add(svc, host, last.version, last.commit, start, start + ready_after)
                )
    return fleet


def alive(inst: Instance, t: int) -> bool:
    """Whether a pod takes requests at ``t``."""
    return inst.ready_ns <= t and (inst.stop_ns is None or t < inst.stop_ns)


class Router:
    """Picks a ready pod of a service at a time."""

    def __init__(self, fleet: list[Instance]) -> None:
        self._epochs: dict[str, tuple[list[int], list[list[Instance]]]] = {}
        for svc in topo.SERVICES:
            pods = [p for p in fleet if p.service == svc.name]
            changes = {p.ready_ns for p in pods} | {p.stop_ns for p in pods if p.stop_ns}
            times = [-(1 << 62), *sorted(changes)]
            ready = [[p for p in pods if alive(p, t)] or pods[:1] for t in times]
            self._epochs[svc.name] = (times, ready)

    def pick(self, service: str, t: int, u: float) -> Instance:
        """The pod of ``service`` that a uniform draw ``u`` selects at ``t``."""
        times, ready = self._epochs[service]
        pods = ready[bisect.bisect_right(times, t) - 1]
        return pods[int(u * len(pods))]
