//! Whether one `syncfs` may stand in for flushing a batch's files one by one: only when the
//! volume is quiet, so that the call cannot make the run wait for other programs' data beyond a
//! small, fixed margin.
//!
//! The measure is the kernel's own count of data waiting for the disk, `Dirty:` plus
//! `Writeback:` in `/proc/meminfo`. It is system-wide, so an upper bound for any one volume: when
//! it is at most what the batch wrote plus `MARGIN`, a `syncfs` writes (and waits for) at most
//! that much, whoever dirtied it. Data dirtied by others once the call has begun is not waited
//! for (the kernel's sync only waits for what was dirty when it started), and the count is read
//! just before the call. Anything unknown (no `/proc/meminfo`, a line missing, a file system
//! whose `syncfs` is not known to flush to the device and report write errors, a kernel older
//! than 5.8, whose `syncfs` did not report them) means per-file: it is always sound, only slower
//! on a quiet disk.

use std::io;

/// How a batch's files are made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Way {
    /// One `syncfs` per volume holding them.
    Volume,
    /// Each file flushed on its own (`fdatasync`), by the worker threads.
    EachFile,
}

/// What a `syncfs` may write beyond the batch's own bytes. A quiet server still has a few MiB
/// dirty at any moment (logs, the system journal, cron jobs): the margin must let that through or
/// every batch would be flushed file by file. And what it allows costs at most a fraction of a
/// second even on a slow disk (32 MiB at 100 MB/s is 0.3 s), the order of what a batch of
/// per-file flushes costs there (256 documents and their sidecars at about 1 ms each). A database
/// or a copy writing on the volume dirties far more than that, and then each file is flushed on
/// its own.
pub const MARGIN: u64 = 32 << 20;

/// Bytes waiting for a disk according to a `/proc/meminfo` text: `Dirty:` plus `Writeback:`.
/// `None` unless both are there, in kB as the kernel writes them.
pub fn waiting_bytes(meminfo: &str) -> Option<u64> {
    let field = |name: &str| {
        meminfo.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(':')?;
            let mut words = rest.split_whitespace();
            let value: u64 = words.next()?.parse().ok()?;
            match words.next() {
                Some("kB") => value.checked_mul(1024),
                _ => None,
            }
        })
    };
    field("Dirty")?.checked_add(field("Writeback")?)
}

/// The way to flush a batch of `ours` bytes, given the `/proc/meminfo` text (`None` if it could
/// not be read).
pub fn choose(meminfo: Option<&str>, ours: u64) -> Way {
    match meminfo.and_then(waiting_bytes) {
        Some(waiting) if waiting <= ours.saturating_add(MARGIN) => Way::Volume,
        _ => Way::EachFile,
    }
}

/// Reads the kernel's count of dirty data.
pub fn read_meminfo() -> io::Result<String> {
    // Debug builds (the test suites' binary) can be handed another text, so that the
    // integration tests take each way whatever the machine's disk is doing. Release builds
    // always read the kernel's.
    #[cfg(debug_assertions)]
    if let Some(path) = std::env::var_os("LANCEUR_TEST_MEMINFO") {
        return std::fs::read_to_string(path);
    }
    std::fs::read_to_string("/proc/meminfo")
}

/// Whether `syncfs` on the file system holding `file` flushes its data to the device and reports
/// a failed write: a local file system lanceur knows, on a kernel that reports errors from
/// `syncfs` (5.8 and later). Network and other file systems get per-file flushes, whose
/// semantics every file system implements.
#[cfg(target_os = "linux")]
pub fn syncfs_trusted(file: &std::fs::File) -> bool {
    use std::sync::OnceLock;
    static KERNEL_REPORTS_ERRORS: OnceLock<bool> = OnceLock::new();
    let reports = *KERNEL_REPORTS_ERRORS.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .and_then(|release| kernel_at_least(&release, (5, 8)))
            .unwrap_or(false)
    });
    // ext2/3/4, XFS, Btrfs, F2FS, tmpfs (nothing to flush).
    const KNOWN: [i64; 5] = [0xEF53, 0x5846_5342, 0x9123_683E, 0xF2F5_2010, 0x0102_1994];
    // `f_type`'s width differs between architectures.
    #[allow(clippy::unnecessary_cast)]
    let known = |f_type| KNOWN.contains(&(f_type as i64));
    reports
        && rustix::fs::fstatfs(file)
            .map(|stat| known(stat.f_type))
            .unwrap_or(false)
}

/// Whether a kernel release such as `6.1.0-18-amd64` is at least `(major, minor)`; `None` when
/// the text is not one.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub fn kernel_at_least(release: &str, wanted: (u32, u32)) -> Option<bool> {
    let mut parts = release.trim().split(['.', '-']);
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next()?.parse().ok()?;
    Some((major, minor) >= wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The head of a real `/proc/meminfo` (Linux 6.1), with the two lines that matter given.
    fn meminfo(dirty_kb: u64, writeback_kb: u64) -> String {
        format!(
            "MemTotal:        8131572 kB\nMemFree:          402316 kB\nMemAvailable:    \
             5871132 kB\nBuffers:          297260 kB\nCached:          5011164 kB\nSwapCached:     \
             0 kB\nActive:          3302496 kB\nInactive:        3561340 kB\nDirty:         \
             {dirty_kb:>8} kB\nWriteback:     {writeback_kb:>8} kB\nAnonPages:       1523340 \
             kB\nWritebackTmp:          0 kB\nHugePages_Total:       0\n"
        )
    }

    #[test]
    fn dirty_and_writeback_are_added_in_bytes() {
        assert_eq!(waiting_bytes(&meminfo(1200, 34)), Some(1234 * 1024));
        // WritebackTmp is another line, not Writeback.
        assert_eq!(waiting_bytes("Dirty: 1 kB\nWritebackTmp: 5 kB\n"), None);
        assert_eq!(waiting_bytes("Dirty: 1 kB\n"), None);
        assert_eq!(waiting_bytes("Dirty: 1 MB\nWriteback: 0 kB\n"), None);
        assert_eq!(waiting_bytes(""), None);
    }

    #[test]
    fn a_quiet_disk_gets_one_syncfs() {
        // Only what the batch wrote, plus a little noise from the rest of the system.
        let ours = 16 << 20;
        assert_eq!(
            choose(Some(&meminfo(16 * 1024 + 900, 0)), ours),
            Way::Volume
        );
        // Exactly the margin beyond the batch still is quiet.
        let limit_kb = (ours + MARGIN) / 1024;
        assert_eq!(choose(Some(&meminfo(limit_kb - 10, 10)), ours), Way::Volume);
    }

    #[test]
    fn a_busy_disk_gets_per_file_flushes() {
        // A writer with 1.5 GB waiting: flushing the volume would wait for it.
        assert_eq!(
            choose(Some(&meminfo(1_500_000, 0)), 16 << 20),
            Way::EachFile
        );
        // Beyond the margin by one kB, counting data already being written back.
        let limit_kb = (16 + 32) * 1024;
        assert_eq!(choose(Some(&meminfo(limit_kb, 1)), 16 << 20), Way::EachFile);
        assert_eq!(choose(Some(&meminfo(0, 200_000)), 0), Way::EachFile);
    }

    #[test]
    fn an_unknown_count_means_per_file() {
        assert_eq!(choose(None, 1 << 20), Way::EachFile);
        assert_eq!(
            choose(Some("MemTotal: 8131572 kB\n"), 1 << 20),
            Way::EachFile
        );
        assert_eq!(
            choose(Some("Dirty: lots kB\nWriteback: 0 kB\n"), 0),
            Way::EachFile
        );
    }

    #[test]
    fn kernel_releases_are_compared_by_major_and_minor() {
        assert_eq!(kernel_at_least("6.1.0-18-amd64\n", (5, 8)), Some(true));
        assert_eq!(kernel_at_least("5.8.0", (5, 8)), Some(true));
        assert_eq!(kernel_at_least("5.10.0-28-cloud-amd64", (5, 8)), Some(true));
        assert_eq!(
            kernel_at_least("4.18.0-553.el8_10.x86_64", (5, 8)),
            Some(false)
        );
        assert_eq!(kernel_at_least("5.4", (5, 8)), Some(false));
        assert_eq!(kernel_at_least("junk", (5, 8)), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_pipe_is_not_trusted() {
        let (reader, _writer) = std::io::pipe().unwrap();
        let pipe = std::fs::File::from(std::os::fd::OwnedFd::from(reader));
        assert!(!syncfs_trusted(&pipe));
    }
}
