"""Drives tests/powerfs.py from a test: mount, power cut, unmount.

    m = PowerMount(backing, mountpoint, strict=False)   # mounted on return
    ...                                                 # the program under test
    report = m.cut()   # drops unsynced data, unmounts; BACKING is the disk now

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

    def cut(self):
        """The power cut: the layer drops what was never fsynced (and, strict, the name
        changes whose directory was never fsynced), then is unmounted. Returns the
        layer's report (dropped files and bytes, fsync counts)."""
        self.proc.send_signal(10)  # SIGUSR1
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"powerfs ended before the cut (exit {self.proc.wait()})")
        report = json.loads(line)
        self.unmount()
        return report

    def unmount(self):
        deadline = time.monotonic() + 30
        while True:
            r = subprocess.run(["umount", self.mountpoint], capture_output=True, text=True)
            if r.returncode == 0 or self.proc.poll() is not None:
                break
            if time.monotonic() > deadline:
                subprocess.run(["umount", "-l", self.mountpoint])
                break
            time.sleep(0.1)  # busy: a process still holds a file there
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("powerfs did not exit after unmount")
        self.proc.stdout.close()
        if self.proc.returncode != 0:
            raise RuntimeError(f"powerfs exited with {self.proc.returncode}")
