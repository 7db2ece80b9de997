#!/usr/bin/python3
"""powerfs: a FUSE layer that forgets what was never fsynced (issue 18, item 2).

    /usr/bin/python3 tests/powerfs.py BACKING MOUNTPOINT [--strict-dirs]

Serves the directory BACKING at MOUNTPOINT. BACKING stands for what a disk holds;
the layer's memory stands for the kernel's page cache. It behaves like LazyFS
(github.com/dsrhaslab/lazyfs): a write goes to the layer's own cache of dirty data,
and only fsync(2) or fdatasync(2) of that file (or a write to a file opened with
O_SYNC or O_DSYNC, which the kernel follows with an fsync) pushes the file's dirty
data to BACKING. On SIGUSR1, the "power cut", the layer drops every unsynced byte,
refuses every later change (EIO), and prints one JSON line on stdout:

    {"cut": true, "dropped_files": N, "dropped_bytes": B, "undone": U, ...}

Unmount it then (`umount MOUNTPOINT` as root, or `fusermount3 -u`); the process ends
and BACKING is what a disk would hold after the power came back. It prints `ready`
on stdout once mounted. Needs Debian's python3-pyfuse3 (libfuse 3, trio) and
/dev/fuse; tests/run.sh installs it. BACKING's own fsyncs are not made: the host's
disk is not under test, and the soak unmounts cleanly.

The model
---------
Data. Per file, dirty 4 KiB pages, the file's size, and the lowest size a truncate
set since the last sync (bytes of BACKING past it are gone). Truncation is data here:
ftruncate(2) is durable only with the next fsync of the file, as the size a
fdatasync(2) must flush (POSIX fdatasync: "all data ... and file attributes needed to
retrieve it"). A fsync writes the file's pages and size to BACKING in one go.

Names. Two models:
  default       as LazyFS: create, mkdir, link, symlink, unlink, rmdir and rename are
                durable at once (passed through to BACKING). A new file's name
                survives a cut, its unsynced bytes do not: the "zero-length file
                after a crash" of ext4 without auto_da_alloc, XFS, btrfs.
  --strict-dirs a name change is durable only once its directory is fsynced
                (fsync(2) of a directory: "calling fsync() on a file does not
                necessarily ensure that the entry in the directory containing the
                file has also reached disk ... an explicit fsync() on a file
                descriptor for the directory is also needed"). Each change is done
                on BACKING at once and logged with its undo; fsync of a directory
                keeps the changes logged for it; the cut undoes the others, newest
                first. A rename belongs to its destination directory (the old name
                goes with it: no state has both names); a new directory's own entry
                belongs to its parent. Removed files and directories wait in
                BACKING.powerfs-graves (same filesystem, so a rename moves them)
                until their removal is kept or undone; a directory's removal, once
                kept, also keeps what was logged inside it (it is gone for good).
                Inode numbers of BACKING are the layer's, and are not reused while
                an undo may name them (removed inodes live on in the graves).

Not modelled (what real storage does that this does not): torn writes (a sector or a
flash page half written; a 4 KiB page here is all or nothing), writes reaching the
disk out of order within one fsync (BACKING gets a file's pages in one go, so a cut
during a fsync is never seen: the cut comes between requests), a drive that lies
about its cache flush, bit rot, and journal replay of a real filesystem (ext4's
data=ordered mode, which makes a renamed file's data durable with the rename; this
layer is stricter). Permissions, ownership and times (chmod, chown, utimes) pass
through and are durable at once. sync_file_range(2), sync(2) and syncfs(2) do not
reach a FUSE daemon: through this layer they flush nothing (stricter than a disk).
mmap: MAP_SHARED pages (SQLite's -shm) reach the layer when the kernel writes them
back (msync, munmap, fsync, or its writeback timer), as dirty data like any write;
SQLite rebuilds the -shm from the WAL after a crash, so losing it is harmless. The
layer keeps the kernel's write-back cache off, so every write(2) reaches it before
the call returns, and mmap'd pages the kernel writes back after the cut are refused.
"""

import argparse
import errno
import json
import os
import shutil
import signal
import stat as st
import sys

import pyfuse3
import trio
from pyfuse3 import FUSEError

PAGE = 4096


def fail(exc):
    """A FUSEError for an OSError from BACKING."""
    return FUSEError(exc.errno or errno.EIO)


class Dirty:
    """The unsynced state of one regular file: dirty pages, size, truncation floor."""

    def __init__(self, durable_size):
        self.pages = {}          # page index -> bytearray(PAGE)
        self.size = durable_size  # the size readers see
        self.floor = None        # lowest size truncated to since the last sync

    def visible(self):
        """How much of BACKING's bytes readers may still see."""
        return self.size if self.floor is None else min(self.size, self.floor)

    def page(self, fd, idx):
        p = self.pages.get(idx)
        if p is None:
            p = bytearray(PAGE)
            start = idx * PAGE
            n = min(PAGE, self.visible() - start)
            if n > 0:
                got = os.pread(fd, n, start)
                p[:len(got)] = got
            self.pages[idx] = p
        return p

    def write(self, fd, off, buf):
        pos, i = off, 0
        while i < len(buf):
            idx = pos // PAGE
            start = idx * PAGE
            n = min(len(buf) - i, start + PAGE - pos)
            self.page(fd, idx)[pos - start:pos - start + n] = buf[i:i + n]
            pos += n
            i += n
        self.size = max(self.size, off + len(buf))

    def truncate(self, fd, size):
        if size < self.size:
            for idx in [i for i in self.pages if i * PAGE >= size]:
                del self.pages[idx]
            if size % PAGE:
                p = self.page(fd, size // PAGE)
                p[size % PAGE:] = bytes(PAGE - size % PAGE)
            self.floor = size if self.floor is None else min(self.floor, size)
        self.size = size

    def read(self, fd, off, size):
        end = min(off + size, self.size)
        if end <= off:
            return b""
        buf = bytearray(end - off)
        lim = min(end, self.visible())
        if lim > off:
            got = os.pread(fd, lim - off, off)
            buf[:len(got)] = got
        for idx in range(off // PAGE, (end - 1) // PAGE + 1):
            p = self.pages.get(idx)
            if p is not None:
                start = idx * PAGE
                s, e = max(off, start), min(end, start + PAGE)
                buf[s - off:e - off] = p[s - start:e - start]
        return bytes(buf)

    def flush(self, fd):
        """Writes this state to BACKING: the truncation, the pages, the size."""
        if self.floor is not None:
            os.ftruncate(fd, self.floor)
        run_start, run = None, []
        for idx in sorted(self.pages):
            start = idx * PAGE
            if start >= self.size:
                break
            if run and run_start + len(run) * PAGE != start:
                os.pwrite(fd, b"".join(run), run_start)
                run = []
            if not run:
                run_start = start
            run.append(bytes(self.pages[idx][:min(PAGE, self.size - start)]))
        if run:
            os.pwrite(fd, b"".join(run), run_start)
        os.ftruncate(fd, self.size)

    def bytes(self):
        """Bytes this state holds for the report: its dirty pages, plus one for a
        pending truncation."""
        return len(self.pages) * PAGE + (0 if self.floor is None else 1)


class PowerFS(pyfuse3.Operations):
    """The layer (see the module doc)."""

    enable_writeback_cache = False  # every write(2) must reach us before it returns

    def __init__(self, backing, strict):
        super().__init__()
        self.backing = os.path.realpath(backing)
        self.root_ino = os.lstat(self.backing).st_ino
        self.strict = strict
        self.graves = self.backing.rstrip("/") + ".powerfs-graves"
        if strict:
            shutil.rmtree(self.graves, ignore_errors=True)
            os.mkdir(self.graves, 0o700)
        self.paths = {pyfuse3.ROOT_INODE: {self.backing}}  # inode -> its paths in BACKING
        self.fds = {}        # inode -> [backing fd, open count]
        self.handles = {}    # fh -> (inode, sync-each-write)
        self.next_fh = 1
        self.dirty = {}      # inode -> Dirty
        self.log = []        # strict: [dir inode, undo, keep] name changes not yet kept
        self.seq = 0
        self.dead = False
        self.stats = {"fsyncs": 0, "dir_fsyncs": 0, "bytes_synced": 0, "writes": 0}

    # --- inodes and paths ---
    def ino(self, s):
        return pyfuse3.ROOT_INODE if s.st_ino == self.root_ino else s.st_ino

    def path(self, inode):
        try:
            return next(iter(self.paths[inode]))
        except (KeyError, StopIteration):
            raise FUSEError(errno.ENOENT)

    def child(self, parent, name):
        return os.path.join(self.path(parent), os.fsdecode(name))

    def add(self, inode, path):
        self.paths.setdefault(inode, set()).add(path)

    def drop(self, inode, path):
        ps = self.paths.get(inode)
        if ps is not None:
            ps.discard(path)

    def moved(self, old, new):
        """Renames `old` to `new` in the path map, with everything under it."""
        pre = old + "/"
        for inode, ps in self.paths.items():
            for p in list(ps):
                if p == old:
                    ps.discard(p)
                    ps.add(new)
                elif p.startswith(pre):
                    ps.discard(p)
                    ps.add(new + p[len(old):])

    def forget_tree(self, path):
        """Forgets `path` and everything under it in the path map."""
        pre = path + "/"
        for ps in self.paths.values():
            for p in [p for p in ps if p == path or p.startswith(pre)]:
                ps.discard(p)

    def attr(self, s):
        e = pyfuse3.EntryAttributes()
        for a in ("st_mode", "st_nlink", "st_uid", "st_gid", "st_rdev", "st_size",
                  "st_atime_ns", "st_mtime_ns", "st_ctime_ns"):
            setattr(e, a, getattr(s, a))
        e.st_ino = self.ino(s)
        d = self.dirty.get(e.st_ino)
        if d is not None:
            e.st_size = d.size
        e.generation = 0
        e.entry_timeout = 1.0
        e.attr_timeout = 1.0
        e.st_blksize = 4096
        e.st_blocks = (e.st_size + 511) // 512
        return e

    def lstat(self, path):
        try:
            return os.lstat(path)
        except OSError as exc:
            raise fail(exc)

    def alive(self):
        if self.dead:
            raise FUSEError(errno.EIO)

    # --- strict mode: name changes and their undo ---
    def logged(self, dir_ino, what, undo, keep=None):
        """Strict: logs a name change in directory `dir_ino` (`what` names it in
        reports) with its undo, and what to do once its directory is fsynced."""
        if self.strict:
            self.log.append([dir_ino, undo, keep, what])

    def kept(self, dir_ino):
        """Strict: the name changes logged for `dir_ino` are durable now."""
        kept = [e for e in self.log if e[0] == dir_ino]
        self.log = [e for e in self.log if e[0] != dir_ino]
        for e in kept:
            if e[2]:
                e[2]()

    def grave(self, path):
        """Moves `path` out of the tree, keeping it until its removal is kept."""
        self.seq += 1
        g = os.path.join(self.graves, str(self.seq))
        os.rename(path, g)
        return g

    def is_ino(self, path, inode):
        try:
            return self.ino(os.lstat(path)) == inode
        except OSError:
            return False

    def remove_tree(self, path):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)

    def undo_new(self, parent, name, inode):
        """Undo of a new name (create, mkdir, link, symlink, mknod)."""
        def undo():
            p = os.path.join(self.path(parent), name)
            if self.is_ino(p, inode):
                self.remove_tree(p)
                self.forget_tree(p)
        return undo

    def new_name(self, parent, name, s):
        self.logged(parent, f"new {os.fsdecode(name)}",
                    self.undo_new(parent, os.fsdecode(name), self.ino(s)))

    # --- lookups and attributes ---
    async def lookup(self, parent, name, ctx=None):
        path = self.child(parent, name)
        a = self.attr(self.lstat(path))
        if name not in (b".", b".."):
            self.add(a.st_ino, path)
        return a

    async def getattr(self, inode, ctx=None):
        f = self.fds.get(inode)
        try:
            s = os.fstat(f[0]) if f else os.lstat(self.path(inode))
        except OSError as exc:
            raise fail(exc)
        return self.attr(s)

    async def forget(self, inode_list):
        pass  # paths are kept for the mount's life: one round of the soak

    async def setattr(self, inode, attr, fields, fh, ctx):
        self.alive()
        path = self.path(inode)
        try:
            if fields.update_size:
                self.truncate(inode, path, attr.st_size)
            if fields.update_mode:
                os.chmod(path, st.S_IMODE(attr.st_mode))
            if fields.update_uid or fields.update_gid:
                os.chown(path, attr.st_uid if fields.update_uid else -1,
                         attr.st_gid if fields.update_gid else -1, follow_symlinks=False)
            if fields.update_atime or fields.update_mtime:
                old = os.lstat(path)
                os.utime(path, ns=(attr.st_atime_ns if fields.update_atime else
                                   old.st_atime_ns,
                                   attr.st_mtime_ns if fields.update_mtime else
                                   old.st_mtime_ns), follow_symlinks=False)
        except OSError as exc:
            raise fail(exc)
        return await self.getattr(inode)

    def truncate(self, inode, path, size):
        f = self.fds.get(inode)
        fd = f[0] if f else os.open(path, os.O_RDWR)
        try:
            d = self.dirty.get(inode)
            if d is None:
                d = self.dirty[inode] = Dirty(os.fstat(fd).st_size)
            d.truncate(fd, size)
        finally:
            if not f:
                os.close(fd)

    async def readlink(self, inode, ctx):
        try:
            return os.fsencode(os.readlink(self.path(inode)))
        except OSError as exc:
            raise fail(exc)

    async def statfs(self, ctx):
        s = os.statvfs(self.backing)
        out = pyfuse3.StatvfsData()
        for a in ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files",
                  "f_ffree", "f_favail", "f_namemax"):
            setattr(out, a, getattr(s, a))
        return out

    # --- directories ---
    async def opendir(self, inode, ctx):
        return inode

    async def readdir(self, inode, start, token):
        path = self.path(inode)
        try:
            names = sorted(os.listdir(path))
        except OSError as exc:
            raise fail(exc)
        for i, name in enumerate(names[start:], start + 1):
            try:
                a = self.attr(os.lstat(os.path.join(path, name)))
            except OSError:
                continue
            if not pyfuse3.readdir_reply(token, os.fsencode(name), a, i):
                break
            self.add(a.st_ino, os.path.join(path, name))

    async def releasedir(self, fh):
        pass

    async def fsyncdir(self, fh, datasync):
        self.alive()
        self.stats["dir_fsyncs"] += 1
        if self.strict:
            self.kept(fh)

    async def mkdir(self, parent, name, mode, ctx):
        self.alive()
        path = self.child(parent, name)
        try:
            os.mkdir(path, mode & ~ctx.umask)
        except OSError as exc:
            raise fail(exc)
        a = self.attr(self.lstat(path))
        self.add(a.st_ino, path)
        self.new_name(parent, name, a)
        return a

    async def mknod(self, parent, name, mode, rdev, ctx):
        self.alive()
        path = self.child(parent, name)
        try:
            os.mknod(path, mode & ~ctx.umask, rdev)
        except OSError as exc:
            raise fail(exc)
        a = self.attr(self.lstat(path))
        self.dirty.pop(a.st_ino, None)
        self.add(a.st_ino, path)
        self.new_name(parent, name, a)
        return a

    async def symlink(self, parent, name, target, ctx):
        self.alive()
        path = self.child(parent, name)
        try:
            os.symlink(os.fsdecode(target), path)
        except OSError as exc:
            raise fail(exc)
        a = self.attr(self.lstat(path))
        self.add(a.st_ino, path)
        self.new_name(parent, name, a)
        return a

    async def link(self, inode, parent, name, ctx):
        self.alive()
        path = self.child(parent, name)
        try:
            os.link(self.path(inode), path, follow_symlinks=False)
        except OSError as exc:
            raise fail(exc)
        self.add(inode, path)
        a = await self.getattr(inode)
        self.new_name(parent, name, a)
        return a

    async def unlink(self, parent, name, ctx):
        self.alive()
        self.remove(parent, name, dir=False)

    async def rmdir(self, parent, name, ctx):
        self.alive()
        self.remove(parent, name, dir=True)

    def remove(self, parent, name, dir):
        path = self.child(parent, name)
        s = self.lstat(path)
        inode = self.ino(s)
        if dir and not st.S_ISDIR(s.st_mode):
            raise FUSEError(errno.ENOTDIR)
        if not dir and st.S_ISDIR(s.st_mode):
            raise FUSEError(errno.EISDIR)
        try:
            if self.strict:
                # Kept in the graves, so its inode number is not used again while
                # undos may name it, and the undo gets the same file back.
                if dir and os.listdir(path):
                    raise FUSEError(errno.ENOTEMPTY)
                g = self.grave(path)
            elif dir:
                os.rmdir(path)
            else:
                os.unlink(path)
        except OSError as exc:
            raise fail(exc)
        if not self.strict:
            self.drop(inode, path)
            if not dir and s.st_nlink <= 1 and inode not in self.fds:
                self.dirty.pop(inode, None)
            return
        if dir:
            self.moved(path, g)
        else:
            self.drop(inode, path)
            self.add(inode, g)
        name = os.fsdecode(name)

        def undo():
            p = os.path.join(self.path(parent), name)
            if not os.path.lexists(p):
                os.rename(g, p)
                self.moved(g, p)

        def keep():
            if dir:
                # Gone for good: what was logged inside it can no longer be undone.
                self.kept(inode)
            if os.path.lexists(g):
                self.remove_tree(g)
            self.forget_tree(g)
        self.logged(parent, f"remove {name}", undo, keep)

    async def rename(self, parent_old, name_old, parent_new, name_new, flags, ctx):
        self.alive()
        if flags != 0:
            raise FUSEError(errno.EINVAL)
        old = self.child(parent_old, name_old)
        new = self.child(parent_new, name_new)
        s = self.lstat(old)
        inode = self.ino(s)
        replaced = None
        try:
            r = os.lstat(new)
        except FileNotFoundError:
            r = None
        except OSError as exc:
            raise fail(exc)
        if r is not None and r.st_ino == s.st_ino:
            return  # two names of one file: rename(2) does nothing
        try:
            if r is not None and self.strict:
                if st.S_ISDIR(r.st_mode) != st.S_ISDIR(s.st_mode):
                    raise FUSEError(errno.EISDIR if st.S_ISDIR(r.st_mode) else errno.ENOTDIR)
                if st.S_ISDIR(r.st_mode) and os.listdir(new):
                    raise FUSEError(errno.ENOTEMPTY)
                replaced = self.grave(new)
            os.rename(old, new)
        except OSError as exc:
            raise fail(exc)
        if r is not None:
            self.drop(self.ino(r), new)
            if not self.strict and r.st_nlink <= 1 and self.ino(r) not in self.fds:
                self.dirty.pop(self.ino(r), None)
        self.moved(old, new)
        if self.strict:
            na, nb = os.fsdecode(name_old), os.fsdecode(name_new)

            def undo():
                b = os.path.join(self.path(parent_new), nb)
                try:
                    a = os.path.join(self.path(parent_old), na)
                except FUSEError:
                    a = None  # its old directory is gone for good: so is the file
                if self.is_ino(b, inode):
                    if a is None or os.path.lexists(a):
                        self.remove_tree(b)
                        self.forget_tree(b)
                    else:
                        os.rename(b, a)
                        self.moved(b, a)
                if replaced and not os.path.lexists(b):
                    os.rename(replaced, b)

            def keep():
                if replaced and os.path.lexists(replaced):
                    self.remove_tree(replaced)
            self.logged(parent_new, f"rename {na} -> {nb}", undo, keep)

    # --- files ---
    def opened(self, inode, path, flags):
        f = self.fds.get(inode)
        if f is None:
            try:
                fd = os.open(path, os.O_RDWR if not st.S_ISDIR(os.lstat(path).st_mode)
                             else os.O_RDONLY)
            except OSError as exc:
                raise fail(exc)
            f = self.fds[inode] = [fd, 0]
        f[1] += 1
        fh = self.next_fh
        self.next_fh += 1
        self.handles[fh] = (inode, bool(flags & (os.O_SYNC | os.O_DSYNC)))
        return fh

    async def open(self, inode, flags, ctx):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_TRUNC):
            self.alive()
        path = self.path(inode)
        fh = self.opened(inode, path, flags)
        if flags & os.O_TRUNC:
            self.truncate(inode, path, 0)
        return pyfuse3.FileInfo(fh=fh)

    async def create(self, parent, name, mode, flags, ctx):
        self.alive()
        path = self.child(parent, name)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, mode & ~ctx.umask)
        except FileExistsError:
            if flags & os.O_EXCL:
                raise FUSEError(errno.EEXIST)
            fd = None
        except OSError as exc:
            raise fail(exc)
        if fd is not None:
            s = os.fstat(fd)
            os.close(fd)
            self.dirty.pop(self.ino(s), None)  # a new file: an inode number used again
            self.new_name(parent, name, s)
        a = self.attr(self.lstat(path))
        self.add(a.st_ino, path)
        fh = self.opened(a.st_ino, path, flags)
        if fd is None and flags & os.O_TRUNC:
            self.truncate(a.st_ino, path, 0)
            a.st_size = 0
        return pyfuse3.FileInfo(fh=fh), a

    async def read(self, fh, off, size):
        inode = self.handles[fh][0]
        fd = self.fds[inode][0]
        try:
            d = self.dirty.get(inode)
            return d.read(fd, off, size) if d else os.pread(fd, size, off)
        except OSError as exc:
            raise fail(exc)

    async def write(self, fh, off, buf):
        self.alive()
        inode, sync = self.handles[fh]
        fd = self.fds[inode][0]
        try:
            d = self.dirty.get(inode)
            if d is None:
                d = self.dirty[inode] = Dirty(os.fstat(fd).st_size)
            d.write(fd, off, buf)
            self.stats["writes"] += 1
            if sync:
                self.sync(inode)
        except OSError as exc:
            raise fail(exc)
        return len(buf)

    def sync(self, inode):
        d = self.dirty.pop(inode, None)
        if d is not None:
            self.stats["bytes_synced"] += d.bytes()
            d.flush(self.fds[inode][0])

    async def fsync(self, fh, datasync):
        self.alive()
        self.stats["fsyncs"] += 1
        try:
            self.sync(self.handles[fh][0])
        except OSError as exc:
            raise fail(exc)

    async def flush(self, fh):
        pass  # close(2) flushes nothing to a disk

    async def release(self, fh):
        inode, _ = self.handles.pop(fh)
        f = self.fds[inode]
        f[1] -= 1
        if f[1] == 0:
            del self.fds[inode]
            os.close(f[0])

    # --- the power cut ---
    def cut(self):
        """Drops every unsynced byte and undoes every name change not kept."""
        self.dead = True
        report = {"cut": True, "dropped_files": len(self.dirty),
                  "dropped_bytes": sum(d.bytes() for d in self.dirty.values()),
                  "undone": len(self.log), "undo_errors": []}
        self.dirty.clear()
        for e in reversed(self.log):
            try:
                e[1]()
            except (OSError, FUSEError) as exc:
                report["undo_errors"].append(f"{e[3]}: {exc!r}")
        self.log = []
        if self.strict:
            shutil.rmtree(self.graves, ignore_errors=True)
        report.update(self.stats)
        return report


async def serve(fs):
    async with trio.open_nursery() as nursery:
        async def on_signal():
            with trio.open_signal_receiver(signal.SIGUSR1) as signals:
                async for _ in signals:
                    print(json.dumps(fs.cut()), flush=True)
        nursery.start_soon(on_signal)
        await pyfuse3.main()
        nursery.cancel_scope.cancel()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("backing")
    p.add_argument("mountpoint")
    p.add_argument("--strict-dirs", action="store_true",
                   help="a name change is durable only once its directory is fsynced")
    args = p.parse_args()
    fs = PowerFS(args.backing, args.strict_dirs)
    options = set(pyfuse3.default_options)
    options.add("fsname=powerfs")
    pyfuse3.init(fs, args.mountpoint, options)
    print("ready", flush=True)
    try:
        trio.run(serve, fs)
    finally:
        pyfuse3.close(unmount=False)
        if fs.strict:
            shutil.rmtree(fs.graves, ignore_errors=True)


if __name__ == "__main__":
    main()
