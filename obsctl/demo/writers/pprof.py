"""CPU profiles: one gzipped pprof protobuf per profiled service per minute.

``profiles/<service>/cpu-<unix seconds>.pb.gz`` is what a continuous profiler (Pyroscope,
Parca, Datadog) stores when it pulls ``/debug/pprof/profile?seconds=60`` from one pod of
each service every minute. Sample types are ``samples/count`` and ``cpu/nanoseconds``
(Go's order; pprof then defaults to the last one), the period is 10 ms of CPU,
``time_nanos``/``duration_nanos`` cover the minute, and the file is gzipped as Go writes
it (always, whatever ``--gzip`` says: ``.pb.gz`` is how pprof files travel).

The numbers are tied to the other signals: the total CPU of a profile is the pod's
utilisation over that minute (``Scenario.cpu_at``, the curve ``process.cpu.utilization``
and the node's busy share follow) times its CPU limit times 60 s, in 10 ms samples.
Samples are spread over the service's stacks (``obsctl.demo.stacks``) by a multinomial
draw, so shares wobble a little from minute to minute, as real profiles do; the stacks
through the scenario's culprit function get ``CulpritCode.share`` of them (3 % when the
scenario does not drive them: the code exists, it is just not a problem).

Encoding reuses the ``perftools.profiles.Profile`` message class the pprof loader builds
from its descriptor (``obsctl.ingest.profiles_pprof.profile_class``): one definition of
profile.proto in the code base, used both ways.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from obsctl.demo import topology as topo
from obsctl.demo.scenario import curve_at
from obsctl.demo.stacks import CATALOGS, crc, frame_info
from obsctl.demo.traffic import SEC, Instance, Simulation
from obsctl.demo.writers import WrittenFile, gzip_bytes

PERIOD_NS = 10_000_000
"""CPU sampling period (Go's default 100 Hz)."""
DEFAULT_CULPRIT_SHARE = 0.03


def write(sim: Simulation, out_dir: Path, *, gzip: bool) -> list[WrittenFile]:
    """Every profile of the window (``gzip`` is ignored: pprof files are always gzipped)."""
    from obsctl.ingest.profiles_pprof import profile_class

    message = profile_class()
    sc = sim.scenario
    rng = sim.rng("pprof")
    files: list[WrittenFile] = []
    for svc in topo.SERVICES:
        if not svc.profiled or svc.name not in CATALOGS:
            continue
        catalog = CATALOGS[svc.name]
        stacks = [s for _, s in catalog.base] + [s for _, s in catalog.culprit]
        base_w = np.array([w for w, _ in catalog.base], dtype=np.float64)
        culp_w = np.array([w for w, _ in catalog.culprit], dtype=np.float64)
        code = sc.culprit_code if sc.culprit_code and sc.culprit_code.service == svc.name else None
        for minute in range(sc.minutes):
            start = sc.minute_ns(minute)
            pod = _profiled_pod(sim, svc.name, start + 30 * SEC)
            util = float(np.mean(sc.cpu_at(svc.name, minute + np.linspace(0.05, 0.95, 12))))
            util = min(1.0, max(0.01, util + rng.normal(0, 0.01)))
            total = round(util * svc.cores * 60 * SEC / PERIOD_NS)
            share = float(curve_at(code.share, minute + 0.5)[()]) if code else DEFAULT_CULPRIT_SHARE
            if culp_w.size:
                p = np.concatenate(
                    [base_w / base_w.sum() * (1 - share), culp_w / culp_w.sum() * share]
                )
            else:
                p = base_w / base_w.sum()
            counts = rng.multinomial(total, p)
            prof = _profile(
                message,
                catalog.binary,
                pod.version,
                stacks,
                counts.tolist(),
                start + int(rng.integers(0, 30 * 1_000_000)),
            )
            rel = f"profiles/{svc.name}/cpu-{start // SEC}.pb.gz"
            path = out_dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(gzip_bytes(prof.SerializeToString(deterministic=True)))
            files.append(WrittenFile(rel, "pprof", "profiles", 1))
    return files


def _profiled_pod(sim: Simulation, service: str, t: int) -> Instance:
    """The pod the profiler pulled from at ``t``: the oldest ready one."""
    pods = [
        p
        for p in sim.instances
        if p.service == service and p.ready_ns <= t and (p.stop_ns is None or t < p.stop_ns)
    ]
    return pods[0] if pods else next(p for p in sim.instances if p.service == service)


def _profile(
    message: Any, binary: str, version: str, stacks: list[str], counts: list[int], t: int
) -> Any:
    """One ``Profile`` message holding the stacks with a non-zero count."""
    strings: dict[str, int] = {"": 0}

    def s(text: str) -> int:
        i = strings.get(text)
        if i is None:
            i = strings[text] = len(strings)
        return i

    prof = message()
    for typ, unit in (("samples", "count"), ("cpu", "nanoseconds")):
        vt = prof.sample_type.add()
        vt.type, vt.unit = s(typ), s(unit)
    prof.period_type.type, prof.period_type.unit = s("cpu"), s("nanoseconds")
    prof.period = PERIOD_NS
    prof.time_nanos = t
    prof.duration_nanos = 60 * SEC
    m = prof.mapping.add()
    m.id, m.memory_start, m.memory_limit, m.file_offset = 1, 0x400000, 0x1C00000, 0
    m.filename = s(binary)
    m.build_id = s(f"{crc(binary + version):08x}{crc(version + binary):08x}")
    m.has_functions = m.has_filenames = m.has_line_numbers = True
    locations: dict[str, int] = {}
    for stack, count in zip(stacks, counts, strict=True):
        if count == 0:
            continue
        ids = []
        for frame in reversed(stack.split(";")):  # pprof lists the leaf first
            loc = locations.get(frame)
            if loc is None:
                loc = locations[frame] = len(locations) + 1
                name, file, start, line = frame_info(frame)
                fn = prof.function.add()
                fn.id, fn.name, fn.system_name = loc, s(name), s(name)
                fn.filename, fn.start_line = s(file), start
                lo = prof.location.add()
                lo.id, lo.mapping_id, lo.address = loc, 1, 0x401000 + (crc(frame) % 0x17FF000)
                ln = lo.line.add()
                ln.function_id, ln.line = loc, line
            ids.append(loc)
        smp = prof.sample.add()
        smp.location_id.extend(ids)
        smp.value.extend([count, count * PERIOD_NS])
    prof.string_table.extend(strings)
    return prof
