"""Drives tests/powerfs.py from a test: mount, power cut, unmount.

    m = PowerMount(backing, mountpoint, strict=False)   # mounted on return
    ...                                                 # the program under test
    report = m.cut()   # drops unsynced data, unmounts; BACKING is the disk now
    # or m.cut(unmount=False), ... readers finish ..., m.unmount()

Standard library only, so it runs under any python3; the layer itself runs under
the interpreter that has Debian's python3-pyfuse3 (/usr/bin/python3).
"""

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LAYER = os.path.join(HERE, "powerfs.py")


def layer_python():
    """The interpreter that can import pyfuse3: this one, else Debian's own."""
    for py in (sys.executable, "/usr/bin/python3"):
        if py and subprocess.run([py, "-c", "import pyfuse3, trio"],
                                 capture_output=True).returncode == 0:
            return py
    raise RuntimeError("powerfs needs pyfuse3: apt-get install python3-pyfuse3 fuse3 "
                       "(tests/run.sh installs it)")


class PowerMount:
    """One mount of the layer: BACKING served at MOUNTPOINT until `cut`."""

    def __init__(self, backing, mountpoint, strict=False, log=None):
        os.makedirs(backing, exist_ok=True)
        os.makedirs(mountpoint, exist_ok=True)
        self.mountpoint = mountpoint
        args = [layer_python(), LAYER, backing, mountpoint]
        if strict:
            args.append("--strict-dirs")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log,
                                     text=True)
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"powerfs did not mount {mountpoint}: {line!r} "
                               f"(exit {self.proc.returncode})")

    def cut(self, unmount=True):
        """The power cut: the layer drops what was never fsynced (and, strict, the name
        changes whose directory was never fsynced) and refuses every later change;
        then it is unmounted (or later, by `unmount`, once nothing reads through it).
        Returns the layer's report (dropped files and bytes, fsync counts)."""
        self.proc.send_signal(10)  # SIGUSR1
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"powerfs ended before the cut (exit {self.proc.wait()})")
        report = json.loads(line)
        if unmount:
            self.unmount()
        return report

    def unmount(self):
        """Unmounts and waits for the layer to end. The disk is final at the cut, so
        this is cleanup: when the mount stays busy (a process still inside it) or the
        layer does not end (another mount namespace, made while it was mounted, still
        holds a copy: `unshare -m`, systemd-nspawn), it is detached lazily and the
        layer killed, which ends its connection; `self.forced` says why."""
        self.forced = None
        deadline = time.monotonic() + 10
        while True:
            r = subprocess.run(["umount", self.mountpoint], capture_output=True, text=True)
            if r.returncode == 0 or self.proc.poll() is not None:
                break
            if time.monotonic() > deadline:
                self.forced = (f"umount: {r.stderr.strip()}; held by "
                               f"{holders(self.mountpoint)}")
                subprocess.run(["umount", "-l", self.mountpoint], capture_output=True)
                break
            time.sleep(0.1)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.forced = self.forced or "the layer did not end after its unmount"
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        if self.forced is None and self.proc.returncode != 0:
            raise RuntimeError(f"powerfs exited with {self.proc.returncode}")


def holders(mountpoint):
    """Processes with a file, a mapping or their working directory under `mountpoint`
    (from /proc), to say why an unmount is refused."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            links = [os.readlink(f"/proc/{pid}/cwd")]
            links += [os.readlink(f"/proc/{pid}/fd/{fd}")
                      for fd in os.listdir(f"/proc/{pid}/fd")]
            with open(f"/proc/{pid}/maps") as f:
                links += [line.split(maxsplit=5)[-1].strip() for line in f]
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        held = sorted({p for p in links if p.startswith(mountpoint + "/") or p == mountpoint})
        if held:
            found.append(f"{pid} ({comm}): {held[:5]}")
    return found or "no process (a request in flight?)"
