//! The box's health as the kernel shows it, read under a root directory
//! (`dashboard.host_root`: `/` on the box, a temp dir in tests):
//!
//! - CPU temperature: `sys/class/thermal/thermal_zone0/temp`, millidegrees Celsius
//!   (the kernel's thermal sysfs ABI, Documentation/ABI/testing/sysfs-class-thermal).
//! - Throttling and under-voltage: `sys/devices/platform/soc/soc:firmware/get_throttled`,
//!   the firmware's bit field in hex (as `vcgencmd get_throttled` prints it; Raspberry Pi
//!   documentation, "vcgencmd": bit 0 under-voltage now, 1 ARM frequency capped now,
//!   2 throttled now, 3 soft temperature limit now, 16–19 the same since boot), and the
//!   `rpi_volt` hwmon device's `in0_lcrit_alarm` (1 while under-voltage is detected;
//!   Linux's raspberrypi-hwmon driver, Documentation/hwmon/raspberrypi-hwmon.rst).
//! - Memory: `proc/meminfo` `MemTotal` and `MemAvailable` (proc(5)).
//! - Load: `proc/loadavg`, the 1, 5 and 15 minute averages (proc(5)).
//! - This process's bytes written to storage: `proc/self/io` `write_bytes` (proc(5)).
//!
//! A file that is missing or does not parse gives `None` ("n/a" on the page): an
//! ordinary x86-64 machine has no `get_throttled` and may have no thermal zone.

use std::path::Path;

/// The firmware's throttle bits (`get_throttled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle(pub u32);

impl Throttle {
    /// Under-voltage detected now (bit 0).
    pub fn under_voltage_now(self) -> bool {
        self.0 & 1 != 0
    }
    /// Under-voltage detected since boot (bit 16).
    pub fn under_voltage_since_boot(self) -> bool {
        self.0 & (1 << 16) != 0
    }
    /// ARM frequency capped, throttled or at the soft temperature limit now (bits 1–3).
    pub fn throttled_now(self) -> bool {
        self.0 & 0b1110 != 0
    }
    /// Capped, throttled or at the soft temperature limit at some time since boot
    /// (bits 17–19).
    pub fn throttled_since_boot(self) -> bool {
        self.0 & (0b1110 << 16) != 0
    }
}

/// What the kernel says of the box, each figure `None` where it has no source.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    /// CPU temperature, degrees Celsius.
    pub cpu_celsius: Option<f64>,
    /// The firmware's throttle bits.
    pub throttle: Option<Throttle>,
    /// The `rpi_volt` hwmon's under-voltage alarm.
    pub volt_alarm: Option<bool>,
    /// Total memory, bytes.
    pub mem_total: Option<u64>,
    /// Memory available for new work without swapping, bytes.
    pub mem_available: Option<u64>,
    /// Load averages over 1, 5 and 15 minutes.
    pub load: Option<[f64; 3]>,
    /// Bytes this process caused to be written to storage since it started.
    pub written_bytes: Option<u64>,
}

impl Health {
    /// Under-voltage now, by either source: `None` when neither exists.
    pub fn under_voltage_now(&self) -> Option<bool> {
        match (self.throttle, self.volt_alarm) {
            (None, None) => None,
            (t, a) => Some(t.is_some_and(Throttle::under_voltage_now) || a == Some(true)),
        }
    }
}

fn read(root: &Path, rel: &str) -> Option<String> {
    std::fs::read_to_string(root.join(rel)).ok()
}

/// A `Key:   123 kB` line's value in bytes.
fn kb_field(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    let rest = line[key.len()..].trim_start_matches(':').trim();
    let n: u64 = rest.split_whitespace().next()?.parse().ok()?;
    Some(n.saturating_mul(1024))
}

/// The `rpi_volt` hwmon device's alarm, if one exists under `root`.
fn volt_alarm(root: &Path) -> Option<bool> {
    let dir = std::fs::read_dir(root.join("sys/class/hwmon")).ok()?;
    for entry in dir.flatten() {
        let path = entry.path();
        let name = std::fs::read_to_string(path.join("name")).unwrap_or_default();
        if name.trim() == "rpi_volt" {
            let v = std::fs::read_to_string(path.join("in0_lcrit_alarm")).ok()?;
            return Some(v.trim() == "1");
        }
    }
    None
}

/// Reads every figure under `root` (blocking file reads of a few small files).
pub fn read_health(root: &Path) -> Health {
    let cpu_celsius = read(root, "sys/class/thermal/thermal_zone0/temp")
        .and_then(|t| t.trim().parse::<f64>().ok())
        .map(|m| m / 1000.0);
    let throttle = read(root, "sys/devices/platform/soc/soc:firmware/get_throttled")
        .and_then(|t| u32::from_str_radix(t.trim().trim_start_matches("0x"), 16).ok())
        .map(Throttle);
    let meminfo = read(root, "proc/meminfo").unwrap_or_default();
    let load = read(root, "proc/loadavg").and_then(|t| {
        let v: Vec<f64> = t
            .split_whitespace()
            .take(3)
            .filter_map(|x| x.parse().ok())
            .collect();
        <[f64; 3]>::try_from(v).ok()
    });
    let written_bytes = read(root, "proc/self/io").and_then(|t| {
        let line = t.lines().find(|l| l.starts_with("write_bytes:"))?;
        line["write_bytes:".len()..].trim().parse().ok()
    });
    Health {
        cpu_celsius,
        throttle,
        volt_alarm: volt_alarm(root),
        mem_total: kb_field(&meminfo, "MemTotal"),
        mem_available: kb_field(&meminfo, "MemAvailable"),
        load,
        written_bytes,
    }
}

/// Total and free bytes (free to an unprivileged writer) of the filesystem holding
/// `dir` (statvfs(3)).
pub fn disk(dir: &Path) -> std::io::Result<(u64, u64)> {
    let s = rustix::fs::statvfs(dir)?;
    Ok((
        s.f_blocks.saturating_mul(s.f_frsize),
        s.f_bavail.saturating_mul(s.f_frsize),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn a_pi_root_is_read_and_an_empty_one_is_not_available() {
        let dir = tempfile::tempdir().unwrap();
        let empty = read_health(dir.path());
        assert_eq!(empty, Health::default());
        assert_eq!(empty.under_voltage_now(), None);

        let root = dir.path();
        put(root, "sys/class/thermal/thermal_zone0/temp", "61234\n");
        put(
            root,
            "sys/devices/platform/soc/soc:firmware/get_throttled",
            "50000\n",
        );
        put(root, "sys/class/hwmon/hwmon0/name", "cpu_thermal\n");
        put(root, "sys/class/hwmon/hwmon1/name", "rpi_volt\n");
        put(root, "sys/class/hwmon/hwmon1/in0_lcrit_alarm", "0\n");
        put(
            root,
            "proc/meminfo",
            "MemTotal:        3884084 kB\nMemFree:  1 kB\nMemAvailable:    2000000 kB\n",
        );
        put(root, "proc/loadavg", "0.52 0.40 0.31 1/234 5678\n");
        let h = read_health(root);
        assert_eq!(h.cpu_celsius, Some(61.234));
        let t = h.throttle.unwrap();
        assert!(!t.under_voltage_now() && t.under_voltage_since_boot());
        assert!(!t.throttled_now() && t.throttled_since_boot());
        assert_eq!(h.volt_alarm, Some(false));
        assert_eq!(h.under_voltage_now(), Some(false));
        assert_eq!(h.mem_total, Some(3_884_084 * 1024));
        assert_eq!(h.mem_available, Some(2_000_000 * 1024));
        assert_eq!(h.load, Some([0.52, 0.40, 0.31]));

        put(root, "sys/class/hwmon/hwmon1/in0_lcrit_alarm", "1\n");
        assert_eq!(read_health(root).under_voltage_now(), Some(true));
        put(root, "sys/class/hwmon/hwmon1/in0_lcrit_alarm", "0\n");
        put(
            root,
            "sys/devices/platform/soc/soc:firmware/get_throttled",
            "0x50005",
        );
        assert_eq!(read_health(root).under_voltage_now(), Some(true));
    }
}
