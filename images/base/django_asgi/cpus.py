"""How many CPUs this container may really use.

`os.cpu_count()` reports the host's CPUs and ignores cgroup quotas (`docker run --cpus`,
Kubernetes CPU limits, Fly.io shared CPUs), so worker defaults taken from it overcommit.
"""

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def available_cpus(cgroup_root: Path = CGROUP_ROOT) -> int:
    """CPUs this process may use: affinity, capped by a cgroup quota rounded up, at least 1."""
    cpus = len(os.sched_getaffinity(0))
    quota = cgroup_cpu_quota(cgroup_root)
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(1, cpus)


def cgroup_cpu_quota(cgroup_root: Path = CGROUP_ROOT) -> float | None:
    """The CPU quota as a number of CPUs (1.5 for `--cpus 1.5`), or None when unlimited."""
    v2 = cgroup_root / "cpu.max"
    if v2.is_file():
        return _quota_v2(v2.read_text())
    for controller in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        quota_file = cgroup_root / controller / "cpu.cfs_quota_us"
        if quota_file.is_file():
            period_file = cgroup_root / controller / "cpu.cfs_period_us"
            return _quota_v1(quota_file.read_text(), period_file.read_text())
    return None


def _quota_v2(cpu_max: str) -> float | None:
    """cgroup v2 `cpu.max` holds "<quota> <period>", quota being "max" when unlimited."""
    quota, _, period = cpu_max.strip().partition(" ")
    if quota == "max" or not period:
        return None
    return int(quota) / int(period)


def _quota_v1(quota_us: str, period_us: str) -> float | None:
    """cgroup v1 keeps quota and period apart; a quota of -1 means unlimited."""
    quota, period = int(quota_us), int(period_us)
    if quota <= 0 or period <= 0:
        return None
    return quota / period
