//! Durable files: writes that survive a power cut at any instant.
//!
//! A file is written under a temporary name in its final directory, flushed to the
//! device, renamed over its final name, and the directory is flushed so the rename
//! itself is on disk. A reader therefore sees either the old content or the new, never
//! a torn mix. Everything that writes a file the box must keep goes through here.

pub mod layout;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Writes `bytes` to `path` atomically, creating it with `mode` (e.g. `0o600` for keys).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    write_replacing(path, bytes, mode, true)
}

/// As [`write_atomic`] for a file that can be made again (a preview): readers still see
/// the old content or the new, but nothing is flushed, so a power cut may leave it
/// empty or short. Its readers must check it is whole. Each flush is a journal commit
/// that a photo's upload, whose flushes the issue requires, would queue behind.
pub fn write_replacing_cache(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    write_replacing(path, bytes, mode, false)
}

fn write_replacing(path: &Path, bytes: &[u8], mode: u32, durable: bool) -> io::Result<()> {
    let dir = parent_of(path)?;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        // `mode` is filtered by the umask at creation; set it exactly.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(bytes)?;
        if durable {
            file.sync_all()?;
        }
        fs::rename(&tmp, path)?;
        if durable {
            sync_dir(dir)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Removes the temporary files [`write_atomic`] and [`write_replacing_cache`] leave when
/// the process dies between creating one and renaming it (`.<name>.tmp-<pid>`), in
/// `dir` and, with `depth` > 0, in its subdirectories down to that depth. Such a file
/// is never read; without this sweep each kill during a write left one for good (the
/// crash soak found one in `derivatives/`, round 94 of a 200-round run).
///
/// A file whose writer may still be running is left alone: one whose pid is alive and
/// not this process (another venuebox command writing at the same moment). Meant for
/// start-up, before this process writes anything: a file named with this process's own
/// pid is then a leftover of an earlier process that had the same pid. Returns how
/// many files went; a directory that does not exist holds none.
pub fn sweep_temporaries(dir: &Path, depth: usize) -> io::Result<usize> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if depth > 0 {
                removed += sweep_temporaries(&entry.path(), depth - 1)?;
            }
            continue;
        }
        let name = entry.file_name();
        let Some(pid) = temporary_pid(&name.to_string_lossy()) else {
            continue;
        };
        let running = pid != std::process::id() && Path::new(&format!("/proc/{pid}")).exists();
        if !running {
            match fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(removed)
}

/// The writer's pid in a temporary file's name, `.<name>.tmp-<pid>`.
fn temporary_pid(name: &str) -> Option<u32> {
    let (head, pid) = name.rsplit_once(".tmp-")?;
    if !head.starts_with('.') || head.len() < 2 || pid.is_empty() {
        return None;
    }
    if !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Flushes a directory so that renames and creations inside it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` (and parents) if missing, with `mode` on the directories it creates,
/// and makes each new directory's entry durable by flushing its parent (fsync(2): a
/// new name is on disk only once its directory is flushed). Without that a power cut
/// could take a directory, and every file later made durable inside it, away.
pub fn create_dir(dir: &Path, mode: u32) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let parent = parent_of(dir)?;
    if parent == dir {
        // "." or "/" that is not a directory: nothing above to create.
        return fs::DirBuilder::new().mode(mode).create(dir);
    }
    create_dir(parent, mode)?;
    match fs::DirBuilder::new().mode(mode).create(dir) {
        Ok(()) => sync_dir(parent),
        // Made by someone else meanwhile: flushed by them.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Checks that `dir` accepts new files, by creating and removing one. Permission bits
/// alone do not tell (root ignores them; read-only mounts ignore them).
pub fn check_writable(dir: &Path) -> io::Result<()> {
    let probe = dir.join(format!(".write-probe-{}", std::process::id()));
    File::create(&probe)?.sync_all()?;
    fs::remove_file(&probe)
}

/// Bytes available to an unprivileged writer on the filesystem holding `dir`.
pub fn free_bytes(dir: &Path) -> io::Result<u64> {
    let stat = rustix::fs::statvfs(dir)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// True when `e` says the filesystem (or the writer's quota) is full: `ENOSPC` or
/// `EDQUOT` (`std::io::ErrorKind::StorageFull`, `QuotaExceeded`; errno(3)). Such a
/// write can succeed later, once space is freed: callers answer "disk full" (HTTP 507,
/// FTP 552) and retry rather than record a lasting failure.
pub fn is_disk_full(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

fn parent_of(path: &Path) -> io::Result<&Path> {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => Ok(p),
        _ => Ok(Path::new(".")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_removes_leftover_temporaries_of_dead_writers_only() {
        let dir = tempfile::tempdir().unwrap();
        let shard = dir.path().join("ab");
        fs::create_dir(&shard).unwrap();
        // A pid above the kernel's pid_max (4194304) never runs.
        let dead = shard.join(".abc-preview.jpg.tmp-9999999");
        let own = dir
            .path()
            .join(format!(".chain.json.tmp-{}", std::process::id()));
        let alive = dir.path().join(".key.pem.tmp-1"); // init: always running
        let kept = [
            shard.join("abc-preview.jpg"),
            shard.join(".hidden"),
            shard.join(".x.tmp-"),
            shard.join(".x.tmp-12a"),
            shard.join("x.tmp-12"),
        ];
        for f in [&dead, &own, &alive].into_iter().chain(kept.iter()) {
            fs::write(f, b"x").unwrap();
        }
        let deeper = shard.join("sub");
        fs::create_dir(&deeper).unwrap();
        let too_deep = deeper.join(".y.tmp-9999999");
        fs::write(&too_deep, b"x").unwrap();

        assert_eq!(sweep_temporaries(dir.path(), 1).unwrap(), 2);
        assert!(!dead.exists() && !own.exists());
        assert!(alive.exists(), "a running writer's file stays");
        for f in &kept {
            assert!(f.exists(), "{} is not a temporary", f.display());
        }
        assert!(too_deep.exists(), "below the depth asked for");
        assert_eq!(sweep_temporaries(&dir.path().join("none"), 1).unwrap(), 0);
    }

    #[test]
    fn atomic_write_replaces_content_and_sets_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        write_atomic(&path, b"one", 0o600).unwrap();
        write_atomic(&path, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // No temporary files are left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn writable_check_fails_under_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain");
        fs::write(&file, b"x").unwrap();
        assert!(check_writable(&file).is_err());
        check_writable(dir.path()).unwrap();
    }
}
