//! A small tmpfs for disk-full tests (needs root, as CI runs), and a filler that
//! leaves exactly a given number of bytes free on it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted for the test, unmounted when dropped.
pub struct Tmpfs {
    _dir: tempfile::TempDir,
    /// Where it is mounted.
    pub path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `24m`); fails loudly without root.
    pub fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mnt");
        std::fs::create_dir(&path).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root (CI runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { _dir: dir, path }
    }

    /// Allocates a filler file (beside the data dir, on the same filesystem) so that
    /// exactly `leave` bytes stay free (a multiple of the 4 KiB page), and returns its
    /// path. Remove it to free the space again.
    pub fn fill(&self, name: &str, leave: u64) -> PathBuf {
        let path = self.path.join(name);
        let before = free(&self.path);
        assert!(
            before >= leave,
            "only {before} bytes free, {leave} asked to stay"
        );
        let file = std::fs::File::create(&path).unwrap();
        if before > leave {
            rustix::fs::fallocate(
                &file,
                rustix::fs::FallocateFlags::empty(),
                0,
                before - leave,
            )
            .unwrap();
        }
        assert_eq!(free(&self.path), leave, "the filler left the wrong space");
        path
    }
}

/// Bytes free on the filesystem holding `path`.
pub fn free(path: &Path) -> u64 {
    venuebox::files::free_bytes(path).unwrap()
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
