#!/usr/bin/env python3
"""Tests of tests/powerfs.py, the layer that forgets unsynced writes at a power cut.

    python3 tests/powerfs_test.py [-v]

Each test mounts the layer over a fresh directory (root and /dev/fuse needed; the
layer needs python3-pyfuse3: tests/run.sh installs both), does some writes through
it, cuts the power, and looks at what the backing directory (the disk) kept: synced
data whole, unsynced data gone, SQLite commits kept only when SQLite fsynced them,
and, with --strict-dirs, names kept only when their directory was fsynced.
"""

import mmap
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from powercut import PowerMount  # noqa: E402


def write(path, data, sync):
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        if sync:
            os.fsync(f.fileno())


def sync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read(path):
    with open(path, "rb") as f:
        return f.read()


class Layer(unittest.TestCase):
    strict = False

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="powerfs-test-")
        self.disk = os.path.join(self.tmp, "disk")
        self.mnt = os.path.join(self.tmp, "mnt")
        os.makedirs(self.disk)
        self.mount = PowerMount(self.disk, self.mnt, strict=self.strict)

    def tearDown(self):
        if self.mount.proc.poll() is None:
            self.mount.cut()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def m(self, *p):
        return os.path.join(self.mnt, *p)

    def d(self, *p):
        return os.path.join(self.disk, *p)


class Data(Layer):
    def test_synced_file_kept_unsynced_file_dropped(self):
        write(self.m("a"), b"A" * 10000, sync=True)
        write(self.m("b"), b"B" * 10000, sync=False)
        # Until the cut, a reader sees every write.
        self.assertEqual(read(self.m("b")), b"B" * 10000)
        report = self.mount.cut()
        self.assertEqual(read(self.d("a")), b"A" * 10000)
        self.assertEqual(read(self.d("b")), b"")  # the name passed through, no bytes
        self.assertEqual(report["dropped_files"], 1)

    def test_appended_after_fsync_is_dropped(self):
        with open(self.m("log"), "wb") as f:
            f.write(b"one\n")
            f.flush()
            os.fsync(f.fileno())
            f.write(b"two\n")
            f.flush()
            os.fdatasync(f.fileno())
            f.write(b"three\n")
            f.flush()
        self.assertEqual(read(self.m("log")), b"one\ntwo\nthree\n")
        self.mount.cut()
        self.assertEqual(read(self.d("log")), b"one\ntwo\n")

    def test_overwrite_in_place_and_truncate_are_data(self):
        write(self.m("f"), bytes(range(256)) * 64, sync=True)  # 16 KiB
        with open(self.m("f"), "r+b") as f:
            f.seek(5000)
            f.write(b"X" * 100)
            f.truncate(8000)
            f.flush()
            self.assertEqual(os.fstat(f.fileno()).st_size, 8000)
        self.assertEqual(read(self.m("f"))[5000:5100], b"X" * 100)
        self.mount.cut()
        self.assertEqual(read(self.d("f")), bytes(range(256)) * 64)

    def test_truncate_then_extend_reads_zeros_and_syncs(self):
        write(self.m("f"), b"Z" * 9000, sync=True)
        with open(self.m("f"), "r+b") as f:
            f.truncate(100)
            f.seek(6000)
            f.write(b"end")
            f.flush()
            want = b"Z" * 100 + bytes(5900) + b"end"
            self.assertEqual(read(self.m("f")), want)
            os.fsync(f.fileno())
        self.mount.cut()
        self.assertEqual(read(self.d("f")), want)

    def test_o_sync_writes_are_durable(self):
        fd = os.open(self.m("s"), os.O_CREAT | os.O_WRONLY | os.O_DSYNC, 0o600)
        os.write(fd, b"durable")
        os.close(fd)
        self.mount.cut()
        self.assertEqual(read(self.d("s")), b"durable")

    def test_mmap_pages_durable_only_after_msync(self):
        write(self.m("shm"), bytes(8192), sync=True)
        fd = os.open(self.m("shm"), os.O_RDWR)
        mm = mmap.mmap(fd, 8192)
        mm[0:4] = b"KEPT"
        mm.flush()  # msync(MS_SYNC): the kernel writes back, then fsyncs
        mm[4096:4100] = b"LOST"
        mm.close()
        os.close(fd)
        self.mount.cut()
        disk = read(self.d("shm"))
        self.assertEqual(disk[0:4], b"KEPT")
        self.assertEqual(disk[4096:4100], bytes(4))

    def test_sqlite_wal_commit_survives_only_when_fsynced(self):
        # A process commits in WAL mode (the -shm file mmap'd through the layer), is
        # killed holding the database, then the power goes: the commit is on the
        # disk only if SQLite fsynced it (synchronous=FULL), not with OFF.
        child = r"""
import os, signal, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("CREATE TABLE t (x)")
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
db.execute("PRAGMA synchronous=" + sys.argv[2])
db.execute("INSERT INTO t VALUES (1)")
print(db.execute("SELECT count(*) FROM t").fetchone()[0], flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
        for name, mode in (("full.db", "FULL"), ("off.db", "OFF")):
            r = subprocess.run([sys.executable, "-c", child, self.m(name), mode],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, -9, r.stderr)
            self.assertEqual(r.stdout.strip(), "1")
        self.mount.cut()
        for name, want in (("full.db", 1), ("off.db", 0)):
            db = sqlite3.connect(f"file:{self.d(name)}?mode=ro", uri=True)
            self.assertEqual(db.execute("SELECT count(*) FROM t").fetchone()[0], want,
                             name)
            self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")
            db.close()

    def test_after_the_cut_writes_are_refused(self):
        fd = os.open(self.m("late"), os.O_CREAT | os.O_WRONLY, 0o600)
        self.mount.proc.send_signal(10)  # SIGUSR1: the cut
        self.mount.proc.stdout.readline()
        with self.assertRaises(OSError):
            os.write(fd, b"x")
        os.close(fd)
        self.mount.unmount()
        self.assertEqual(read(self.d("late")), b"")


class Strict(Layer):
    strict = True

    def test_new_name_needs_its_directory_fsynced(self):
        write(self.m("kept"), b"k", sync=True)
        sync_dir(self.mnt)
        write(self.m("lost"), b"l", sync=True)  # data synced, the name not
        report = self.mount.cut()
        self.assertEqual(read(self.d("kept")), b"k")
        self.assertFalse(os.path.exists(self.d("lost")))
        self.assertEqual(report["undone"], 1)

    def test_rename_needs_the_destination_directory_fsynced(self):
        os.mkdir(self.m("store"))
        sync_dir(self.mnt)
        write(self.m("tmp1"), b"one", sync=True)
        write(self.m("tmp2"), b"two", sync=True)
        sync_dir(self.mnt)
        os.rename(self.m("tmp1"), self.m("store", "one"))
        sync_dir(self.m("store"))
        os.rename(self.m("tmp2"), self.m("store", "two"))
        self.mount.cut()
        self.assertEqual(read(self.d("store", "one")), b"one")
        self.assertFalse(os.path.exists(self.d("tmp1")))
        self.assertFalse(os.path.exists(self.d("store", "two")))
        self.assertEqual(read(self.d("tmp2")), b"two")  # back under its old name

    def test_rename_over_a_file_is_undone_whole(self):
        write(self.m("f"), b"old", sync=True)
        write(self.m("f.tmp"), b"new", sync=True)
        sync_dir(self.mnt)
        os.rename(self.m("f.tmp"), self.m("f"))
        self.assertEqual(read(self.m("f")), b"new")
        self.mount.cut()
        self.assertEqual(read(self.d("f")), b"old")
        self.assertEqual(read(self.d("f.tmp")), b"new")

    def test_unlink_needs_its_directory_fsynced(self):
        write(self.m("a"), b"a", sync=True)
        write(self.m("b"), b"b", sync=True)
        sync_dir(self.mnt)
        os.unlink(self.m("a"))
        sync_dir(self.mnt)
        os.unlink(self.m("b"))
        self.mount.cut()
        self.assertFalse(os.path.exists(self.d("a")))
        self.assertEqual(read(self.d("b")), b"b")
        self.assertFalse(os.path.exists(self.disk + ".powerfs-graves"))

    def test_rmdir_and_directory_rename_are_undone(self):
        os.makedirs(self.m("a", "b"))
        write(self.m("a", "b", "f"), b"f", sync=True)
        sync_dir(self.m("a", "b"))
        sync_dir(self.m("a"))
        sync_dir(self.mnt)
        os.unlink(self.m("a", "b", "f"))
        os.rmdir(self.m("a", "b"))
        os.mkdir(self.m("a", "c"))  # may take the number of b's inode on BACKING
        os.rename(self.m("a"), self.m("z"))
        self.assertEqual(os.listdir(self.m("z")), ["c"])
        report = self.mount.cut()
        self.assertEqual(report["undo_errors"], [])
        self.assertEqual(os.listdir(self.d()), ["a"])
        self.assertEqual(os.listdir(self.d("a")), ["b"])
        self.assertEqual(read(self.d("a", "b", "f")), b"f")

    def test_removal_kept_with_its_directory(self):
        os.makedirs(self.m("a", "b"))
        write(self.m("a", "b", "f"), b"f", sync=True)
        for d in (self.m("a", "b"), self.m("a"), self.mnt):
            sync_dir(d)
        os.unlink(self.m("a", "b", "f"))  # never kept: b is not fsynced after it
        os.rmdir(self.m("a", "b"))
        sync_dir(self.m("a"))  # b is gone for good, and with it f
        report = self.mount.cut()
        self.assertEqual(report["undo_errors"], [])
        self.assertEqual(os.listdir(self.d("a")), [])

    def test_new_directory_needs_its_parent_fsynced(self):
        os.mkdir(self.m("d"))
        write(self.m("d", "f"), b"f", sync=True)
        sync_dir(self.m("d"))  # f's name is kept in d, but d's own name is not
        self.mount.cut()
        self.assertFalse(os.path.exists(self.d("d")))


if __name__ == "__main__":
    unittest.main()
