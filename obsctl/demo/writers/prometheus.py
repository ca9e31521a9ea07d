"""node_exporter metrics of every node, scraped every 15 s, as one Prometheus text file.

``metrics/node.prom`` is what a federation dump or a textfile archive of the scrapes
looks like: for each scrape round, the ``# HELP``/``# TYPE`` lines of each family then the
samples of every node, each with its scrape timestamp in milliseconds (nodes are scraped
at their own offset within the interval, as Prometheus spreads targets). Labels are the
scrape target's (``instance="ip-10-0-3-7:9100"``, ``job="node"``) plus the family's own.

The busy share of a node is its background load plus, for every pod running on it, that
pod's CPU utilisation times its CPU limit over the node's CPUs (the same curve the OTLP
``process.cpu.utilization`` gauge and the profiles follow), so the payment node saturates
exactly when payment's pods do. ``node_cpu_seconds_total`` counters integrate that busy
share per CPU and mode (user/system/softirq/… split, the rest idle), ``node_load1``
follows the run queue with a one-minute decay (above the CPU count when saturated), and
``node_memory_MemAvailable_bytes`` is what the pods leave.

A node with no pod at the window start (the one the payment scale-out lands on) is
scraped from shortly before its first pod starts: its series begin mid-file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from obsctl.demo import topology as topo
from obsctl.demo.traffic import SEC, Simulation
from obsctl.demo.writers import WrittenFile, open_text

SCRAPE_NS = 15 * SEC
MODES = ("idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user")
_SHARE = {
    "iowait": 0.012,
    "irq": 0.008,
    "nice": 0.0,
    "softirq": 0.03,
    "steal": 0.006,
    "system": 0.2,
    "user": 0.744,
}
"""How busy time splits into modes."""

FAMILIES = (
    ("node_cpu_seconds_total", "counter", "Seconds the CPUs spent in each mode."),
    ("node_load1", "gauge", "1m load average."),
    ("node_memory_MemAvailable_bytes", "gauge", "Memory information field MemAvailable_bytes."),
)


def write(sim: Simulation, out_dir: Path, *, gzip: bool) -> list[WrittenFile]:
    """``metrics/node.prom``."""
    sc = sim.scenario
    t0, end = sc.start_ns, sc.end_ns
    rng = sim.rng("node-exporter")
    rounds = np.arange(t0, end, SCRAPE_NS, dtype=np.int64)
    minutes = (rounds - t0) / 60e9
    hosts = []
    for host in topo.HOSTS:
        pods = [p for p in sim.instances if p.host == host.name]
        if not pods and host.name in topo.SCALE_OUT_HOST.values():
            continue  # no scale-out in this scenario: the spare node never joins
        first = min((p.start_ns for p in pods), default=t0)
        visible = rounds >= (t0 if first <= t0 else first - 45 * SEC)
        busy = np.full(len(rounds), host.busy)
        used_gb = np.full(len(rounds), host.extra_memory_gb)
        for p in pods:
            svc = topo.SERVICE[p.service]
            alive = (rounds >= p.start_ns) & ((rounds < p.stop_ns) if p.stop_ns else True)
            busy += alive * sc.cpu_at(p.service, minutes) * svc.cores / host.cpus
            used_gb += alive * svc.memory_mb / 1024
        busy = np.clip(busy, 0.0, 0.992)
        offset = int(rng.integers(0, SCRAPE_NS))
        # per-CPU busy share (noisy), then per-mode seconds per interval, integrated
        ncpu = host.cpus
        per_cpu = np.clip(busy[:, None] + rng.normal(0, 0.025, (len(rounds), ncpu)), 0.002, 0.998)
        secs = SCRAPE_NS / SEC
        # uptime at the window start; a node joining mid-window booted a minute before its
        # first scrape and counts nothing before
        uptime_s = float(rng.uniform(5, 40)) * 86400 if first <= t0 else 60.0
        base = {m: uptime_s * (0.25 * _SHARE[m] if m != "idle" else 0.75) for m in MODES}
        counters = {}
        for m in MODES:
            share = (1.0 - per_cpu) if m == "idle" else per_cpu * _SHARE[m]
            share = share * visible[:, None]
            counters[m] = base[m] * rng.uniform(0.9, 1.1, ncpu) + np.cumsum(share * secs, axis=0)
        # load: run queue ≈ busy CPUs, growing fast past saturation, 1-minute decay
        target = busy * ncpu * (1 + 6 * np.clip(busy - 0.9, 0, None)) + rng.normal(
            0, 0.08, len(rounds)
        )
        decay = np.exp(-secs / 60.0)
        load = np.empty(len(rounds))
        cur = float(target[0])
        for i, x in enumerate(target.tolist()):
            cur = cur * decay + max(x, 0.0) * (1 - decay)
            load[i] = cur
        avail = (host.memory_gb - used_gb) * 1024**3 + rng.normal(0, 2e7, len(rounds))
        hosts.append((host, visible, offset, counters, load, avail))

    samples = 0
    with open_text(out_dir, "metrics/node.prom", gzip) as (out, rel):
        for i in range(len(rounds)):
            for fam, typ, help_text in FAMILIES:
                out.write(f"# HELP {fam} {help_text}\n# TYPE {fam} {typ}\n")
                for host, visible, offset, counters, load, avail in hosts:
                    if not visible[i]:
                        continue
                    ts = (int(rounds[i]) + offset) // 1_000_000
                    target = f'instance="{host.name}:9100",job="node"'
                    if fam == "node_cpu_seconds_total":
                        for c in range(host.cpus):
                            for m in MODES:
                                v = counters[m][i, c]
                                out.write(f'{fam}{{cpu="{c}",{target},mode="{m}"}} {v:.2f} {ts}\n')
                                samples += 1
                    elif fam == "node_load1":
                        out.write(f"{fam}{{{target}}} {load[i]:.2f} {ts}\n")
                        samples += 1
                    else:
                        out.write(f"{fam}{{{target}}} {avail[i]:.0f} {ts}\n")
                        samples += 1
    return [WrittenFile(rel, "prometheus", "metrics", samples)]
