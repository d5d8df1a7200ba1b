//! Which volume a folder is on: mount point, file system, free space; and whether two folders share
//! one (which decides whether a folder launcher moves its files into the COLD folder by a rename or
//! copies them). Also how check words a volume and a size.
//!
//! On Linux the mount comes from `/proc/self/mountinfo` (the longest mount point containing the
//! folder's real path, the last one mounted when several are stacked), the sizes from `statvfs`.
//! Other Unix systems get the sizes only. On Windows the volume is the drive or the share the path
//! starts with (`C:\`, `\\server\share\`), the sizes come from `GetDiskFreeSpaceExW` (through
//! fs4); the file system's type is not known there. Whether two folders share a volume is decided
//! by `durable::volume_of_path` (the device on Unix, the volume serial number on Windows).

use std::path::{Path, PathBuf};

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Volume {
    /// Where the file system is mounted, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mount_point: Option<PathBuf>,
    /// `ext4`, `nfs4`, `cifs`, `tmpfs`…, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fs_type: Option<String>,
    /// What is mounted: a device, a share (`//server/share`), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Bytes this user may still write.
    pub free_bytes: u64,
    pub total_bytes: u64,
}

/// The volume `folder` is on, or `None` when this system cannot tell.
#[cfg(unix)]
pub fn volume_of(folder: &Path) -> Option<Volume> {
    let stat = rustix::fs::statvfs(folder).ok()?;
    let mut volume = Volume {
        mount_point: None,
        fs_type: None,
        device: None,
        free_bytes: stat.f_bavail.saturating_mul(stat.f_frsize),
        total_bytes: stat.f_blocks.saturating_mul(stat.f_frsize),
    };
    if cfg!(target_os = "linux") {
        let real = folder.canonicalize().ok()?;
        if let Ok(table) = std::fs::read_to_string("/proc/self/mountinfo") {
            if let Some(mount) = mount_of(&table, &real) {
                volume.mount_point = Some(mount.mount_point);
                volume.fs_type = Some(mount.fs_type);
                volume.device = Some(mount.device);
            }
        }
    }
    Some(volume)
}

#[cfg(windows)]
pub fn volume_of(folder: &Path) -> Option<Volume> {
    let stats = fs4::statvfs(folder).ok()?;
    Some(Volume {
        mount_point: windows_volume_root(&std::path::absolute(folder).ok()?),
        fs_type: None,
        device: None,
        free_bytes: stats.available_space(),
        total_bytes: stats.total_space(),
    })
}

#[cfg(not(any(unix, windows)))]
pub fn volume_of(_folder: &Path) -> Option<Volume> {
    None
}

/// The root of the drive or share a Windows path is on: `C:\`, `\\server\share\`.
#[cfg(windows)]
fn windows_volume_root(path: &Path) -> Option<PathBuf> {
    use std::path::{Component, Prefix};
    let Some(Component::Prefix(prefix)) = path.components().next() else {
        return None;
    };
    let root = match prefix.kind() {
        Prefix::Disk(letter) | Prefix::VerbatimDisk(letter) => {
            format!("{}:\\", char::from(letter))
        }
        Prefix::UNC(server, share) | Prefix::VerbatimUNC(server, share) => format!(
            "\\\\{}\\{}\\",
            server.to_string_lossy(),
            share.to_string_lossy()
        ),
        Prefix::Verbatim(_) | Prefix::DeviceNS(_) => return None,
    };
    Some(PathBuf::from(root))
}

/// Whether `a` and `b` are on the same volume, or `None` when either cannot be read.
pub fn same_volume(a: &Path, b: &Path) -> Option<bool> {
    let a = crate::durable::volume_of_path(a).ok()?;
    let b = crate::durable::volume_of_path(b).ok()?;
    Some(a == b)
}

#[derive(Debug, PartialEq, Eq)]
#[cfg(any(unix, test))]
struct Mount {
    mount_point: PathBuf,
    fs_type: String,
    device: String,
}

/// The mount of `/proc/self/mountinfo` (text `table`) holding the real path `real`.
#[cfg(any(unix, test))]
fn mount_of(table: &str, real: &Path) -> Option<Mount> {
    let mut best: Option<Mount> = None;
    for line in table.lines() {
        let Some(mount) = parse_line(line) else {
            continue;
        };
        if !real.starts_with(&mount.mount_point) {
            continue;
        }
        // Longer mount points are closer; among equal ones the later mount hides the earlier.
        let closer = best.as_ref().is_none_or(|b| {
            mount.mount_point.components().count() >= b.mount_point.components().count()
        });
        if closer {
            best = Some(mount);
        }
    }
    best
}

/// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`: the mount
/// point is the fifth field; the file system type and source follow the lone `-`.
#[cfg(any(unix, test))]
fn parse_line(line: &str) -> Option<Mount> {
    let mut fields = line.split(' ');
    let mount_point = fields.nth(4)?;
    let mut fields = fields.skip_while(|f| *f != "-");
    fields.next()?;
    let fs_type = fields.next()?;
    let device = fields.next()?;
    Some(Mount {
        mount_point: PathBuf::from(unescape(mount_point)),
        fs_type: unescape(fs_type),
        device: unescape(device),
    })
}

/// The kernel writes space, tab, newline and backslash in these fields as `\040`, `\011`, `\012`,
/// `\134`.
#[cfg(any(unix, test))]
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = |b: &u8| (b'0'..=b'7').contains(b);
        if bytes[i] == b'\\' && i + 3 < bytes.len() && bytes[i + 1..i + 4].iter().all(octal) {
            let value = bytes[i + 1..i + 4]
                .iter()
                .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
            if let Ok(byte) = u8::try_from(value) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// "volume / (ext4, /dev/sda1): 1.2 GiB free of 20.0 GiB", as check prints it.
pub(super) fn describe_volume(volume: &Volume) -> String {
    let free = format!(
        "{} free of {}",
        human_bytes(volume.free_bytes),
        human_bytes(volume.total_bytes)
    );
    match (&volume.mount_point, &volume.fs_type, &volume.device) {
        (Some(mount), Some(fs_type), Some(device)) => {
            format!("volume {} ({fs_type}, {device}): {free}", mount.display())
        }
        // Windows: the drive or share, `C:\`.
        (Some(mount), _, _) => format!("volume {}: {free}", mount.display()),
        _ => format!("volume: {free}"),
    }
}

/// Powers of 1024, one decimal: "512 B", "1.2 MiB".
pub(super) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 << 30), "5.0 GiB");
    }

    const TABLE: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
23 22 0:21 / /proc rw,nosuid shared:2 - proc proc rw
40 22 0:35 / /srv/cold\\040share rw,relatime shared:20 - cifs //nas/cold rw,vers=3.0
41 22 0:36 / /srv rw shared:21 - xfs /dev/sdb1 rw
42 22 0:37 / /tmp rw shared:22 - tmpfs tmpfs rw
43 42 0:38 / /tmp rw shared:23 - tmpfs other rw";

    #[test]
    fn the_closest_and_latest_mount_wins() {
        let at = |path: &str| mount_of(TABLE, Path::new(path)).unwrap();
        let share = at("/srv/cold share/in");
        assert_eq!(share.mount_point, Path::new("/srv/cold share"));
        assert_eq!(
            (share.fs_type.as_str(), share.device.as_str()),
            ("cifs", "//nas/cold")
        );
        assert_eq!(at("/srv/cold").mount_point, Path::new("/srv"));
        assert_eq!(at("/home/x").fs_type, "ext4");
        assert_eq!(at("/tmp/a").device, "other");
        // /srv/coldx is not under /srv/cold: paths compare by component, not by text.
        assert_eq!(at("/srv/cold sharex").mount_point, Path::new("/srv"));
    }

    #[test]
    fn escapes_are_decoded_and_bad_lines_skipped() {
        assert_eq!(unescape("a\\040b\\134c\\01"), "a b\\c\\01");
        assert_eq!(parse_line("garbage"), None);
        assert_eq!(parse_line("1 2 3 / /x rw no-separator ext4"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_systems_root_has_a_volume() {
        let volume = volume_of(Path::new("/")).unwrap();
        assert_eq!(volume.mount_point.as_deref(), Some(Path::new("/")));
        assert!(volume.total_bytes >= volume.free_bytes);
        assert_eq!(same_volume(Path::new("/"), Path::new("/")), Some(true));
    }

    #[cfg(windows)]
    #[test]
    fn a_windows_volume_is_its_drive_or_its_share() {
        let root = |path: &str| windows_volume_root(Path::new(path));
        assert_eq!(root(r"C:\ezged\cold"), Some(PathBuf::from(r"C:\")));
        assert_eq!(root(r"\\?\D:\cold"), Some(PathBuf::from(r"D:\")));
        assert_eq!(
            root(r"\\nas\scans\in"),
            Some(PathBuf::from(r"\\nas\scans\"))
        );
        assert_eq!(
            root(r"\\?\UNC\nas\scans\in"),
            Some(PathBuf::from(r"\\nas\scans\"))
        );
        assert_eq!(root(r"relative\cold"), None);
    }

    #[cfg(windows)]
    #[test]
    fn this_systems_temporary_folder_has_a_volume() {
        let dir = tempfile::tempdir().unwrap();
        let volume = volume_of(dir.path()).unwrap();
        assert!(volume.total_bytes >= volume.free_bytes && volume.total_bytes > 0);
        assert!(volume.mount_point.is_some());
        assert_eq!(same_volume(dir.path(), dir.path()), Some(true));
    }
}
