"""System pseudo-filesystems that a library walk must never enter.

/proc, /sys and /dev hold no media but endless or blocking "files" (a link to
/proc/self reaches the whole file system again). A folder is skipped when the
file system it lies on has one of the types below (read from /proc/self/mountinfo
on Linux) or when its real path lies under /proc, /sys or /dev, which also covers
systems without mountinfo and containers whose /dev is a plain tmpfs.
"""

from __future__ import annotations

import os

PSEUDO_TYPES = frozenset({
    "proc", "sysfs", "devtmpfs", "devpts", "devfs", "cgroup", "cgroup2", "debugfs", "tracefs", "securityfs",
    "pstore", "bpf", "configfs", "fusectl", "mqueue", "hugetlbfs", "binfmt_misc", "efivarfs", "selinuxfs",
    "rpc_pipefs", "nsfs", "fdescfs", "procfs", "linprocfs", "linsysfs", "kernfs",
})
SYSTEM_FOLDERS = (b"/proc", b"/sys", b"/dev")


def _mount_types() -> dict[int, str]:
    """{device number: file-system type} of the pseudo-filesystems mounted (Linux); {}
    where /proc/self/mountinfo cannot be read."""
    found: dict[int, str] = {}
    try:
        fd = os.open("/proc/self/mountinfo", os.O_RDONLY)
    except OSError:
        return found
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    except OSError:
        return found
    finally:
        os.close(fd)
    lines = b"".join(chunks).decode("utf-8", "replace").splitlines()
    for line in lines:
        fields = line.split()
        try:
            fstype = fields[fields.index("-") + 1]
            major, minor = fields[2].split(":")
            device = os.makedev(int(major), int(minor))
        except (ValueError, IndexError):
            continue
        if fstype in PSEUDO_TYPES:
            found[device] = fstype
    return found


class PseudoFilesystems:
    """Tells whether a folder lies on a system pseudo-filesystem (read once per walk)."""

    def __init__(self):
        self.types = _mount_types() if os.name == "posix" else {}
        if os.name == "posix" and not self.types:
            # no mountinfo: the devices of /proc, /sys and /dev where each is a mount of its own
            try:
                root_dev = os.stat("/").st_dev
            except OSError:
                root_dev = None
            for folder in SYSTEM_FOLDERS:
                try:
                    dev = os.stat(folder).st_dev
                except OSError:
                    continue
                if dev != root_dev:
                    self.types[dev] = os.fsdecode(folder[1:])

    def reason(self, folder: bytes, device: int) -> str | None:
        """Why ``folder`` (on ``device``) must not be entered, or None."""
        if os.name != "posix":
            return None
        real = os.path.realpath(folder)
        where = "" if real == os.path.abspath(folder) else f" (a link to {os.fsdecode(real)})"
        if device in self.types:
            return f"a system pseudo-filesystem ({self.types[device]}){where}, not media"
        for system in SYSTEM_FOLDERS:
            if real == system or real.startswith(system + b"/"):
                return f"a system folder ({os.fsdecode(system)}){where}, not media"
        return None
