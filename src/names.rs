//! Names: what makes a name from outside safe in the COLD folder (`safe_name`), and the small text
//! helpers that several parts name files with (`numbered`, `split_extension`, `short_tag`,
//! `is_launcher_name`), and which names are system clutter rather than documents (`is_clutter`,
//! `is_archive_junk`). A leaf: it imports nothing of the crate.
//!
//! # Safe names for the COLD folder
//!
//! A document's name comes from outside: a mail's attachment header, a file someone dropped in a
//! share, an archive entry. Before it becomes a file name in the COLD folder it must be harmless on
//! Linux and Windows alike (COLD folders are often SMB shares read by a Windows EzGED server):
//!
//! - no path: separators, `..` and drive letters cannot lead outside the folder;
//! - no character Windows refuses (`<>:"/\|?*`, control characters) and no bidi control, which can
//!   disguise `invoice<U+202E>fdp.exe` (shown as `invoiceexe.pdf`) as a PDF;
//! - no leading dot (hidden, and our own staging names start with one), no trailing dot or space
//!   (Windows strips them, so two names would collide);
//! - no reserved device name (`CON`, `PRN`, `AUX`, `NUL`, `COM1`-`COM9`, `LPT1`-`LPT9`, with or
//!   without an extension);
//! - at most `MAX_NAME_BYTES` bytes, the extension kept, so that a number suffix and a sidecar
//!   extension still fit within the 255-byte limit of common file systems.
//!
//! The result stays recognisable: only offending characters are replaced (by `_`), so an administrator
//! can trace a deposited file back to its source. Uniqueness is the deposit's job (`numbered`).

use sha2::{Digest, Sha256};

/// Room is left under 255 for `_NNNN` and a `.idx`/`.json` sidecar extension.
pub const MAX_NAME_BYTES: usize = 200;

/// Used when nothing usable is left of a name (empty, only dots, only forbidden characters).
pub const FALLBACK_NAME: &str = "document";

const RESERVED: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// Makes `raw` safe as a file name in the COLD folder. See the module comment for the rules.
pub fn safe_name(raw: &str) -> String {
    // Only the last path component counts: a sender who names an attachment `../../etc/passwd` or
    // `C:\Windows\x.dll` gets `passwd` and `x.dll`.
    let last = raw
        .rsplit(['/', '\\'])
        .find(|part| !part.trim().is_empty())
        .unwrap_or("");
    let mut name: String = last.chars().map(replace_forbidden).collect();
    // Leading dots and spaces would hide the file; trailing dots and spaces vanish on Windows.
    name = name
        .trim_start_matches(['.', ' '])
        .trim_end_matches(['.', ' '])
        .to_string();
    // Collapse the runs of '_' that replacements can produce, so `a<<>>b` reads `a_b`.
    name = collapse_underscores(&name);
    if name.is_empty() || name.chars().all(|c| c == '_') {
        name = FALLBACK_NAME.to_string();
    }
    if is_reserved(&name) {
        name.insert(0, '_');
    }
    truncate_keeping_extension(&name, MAX_NAME_BYTES)
}

fn replace_forbidden(c: char) -> char {
    match c {
        '<' | '>' | ':' | '"' | '/' | '\\' | '|' | '?' | '*' => '_',
        c if c.is_control() || is_deceptive(c) => '_',
        c => c,
    }
}

/// Characters that change how a name looks without being visible themselves: bidi embeddings,
/// overrides, isolates and marks reorder what a person sees; zero-width characters and the BOM make
/// two different names look the same.
pub fn is_deceptive(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
    )
}

fn collapse_underscores(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut previous_underscore = false;
    for c in name.chars() {
        if c == '_' && previous_underscore {
            continue;
        }
        previous_underscore = c == '_';
        out.push(c);
    }
    out
}

fn is_reserved(name: &str) -> bool {
    // Windows ignores everything from the first dot, and trailing spaces before it: `CON .txt` too.
    let base = name.split('.').next().unwrap_or("").trim_end();
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(base))
}

/// Shortens `name` to at most `max` bytes on a character boundary, keeping a short extension.
pub fn truncate_keeping_extension(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let (stem, ext) = match split_extension(name) {
        // An "extension" longer than 16 bytes is part of the name, not a type.
        (stem, Some(ext)) if ext.len() <= 16 => (stem, Some(ext)),
        _ => (name, None),
    };
    let room = max - ext.map_or(0, |e| e.len() + 1);
    let mut cut = room.min(stem.len());
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    let stem = stem[..cut].trim_end_matches(['.', ' ']);
    match ext {
        Some(ext) => format!("{stem}.{ext}"),
        None => stem.to_string(),
    }
}

/// `name` with a number before its extension: `scan.pdf`, 2 → `scan_2.pdf`. 1 returns `name`.
pub fn numbered(name: &str, n: u32) -> String {
    if n <= 1 {
        return name.to_string();
    }
    match split_extension(name) {
        (stem, Some(ext)) => format!("{stem}_{n}.{ext}"),
        (stem, None) => format!("{stem}_{n}"),
    }
}

/// `scan.pdf` → (`scan`, Some(`pdf`)); `.profile`, `archive.` and `README` have no extension.
pub fn split_extension(name: &str) -> (&str, Option<&str>) {
    match name.rfind('.') {
        Some(dot) if dot > 0 && dot + 1 < name.len() => (&name[..dot], Some(&name[dot + 1..])),
        _ => (name, None),
    }
}

/// Eight hex digits standing for `text` where a name must be short and plain: a launcher in
/// temporary names, a long UIDL or an envelope's key in generated file names.
pub fn short_tag(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes())[..4])
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// Longest launcher name: it names a folder and prefixes every message.
pub const MAX_LAUNCHER_NAME: usize = 100;

/// Whether `name` may name a launcher: its state folder is `STATE_DIR/NAME`, so letters, digits,
/// `.`, `_` and `-` only, not starting with a dot, at most `MAX_LAUNCHER_NAME` characters.
pub fn is_launcher_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_LAUNCHER_NAME
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Files that operating systems drop into folders on their own (`lower`: the name lower-cased):
/// thumbnail caches, folder settings, Finder metadata. Never documents.
pub fn is_clutter(lower: &str) -> bool {
    lower == "thumbs.db" || lower == "desktop.ini" || lower == ".ds_store"
}

/// Whether an archive member (`/`-separated path) is what archivers add beside the documents: the
/// folder clutter above, and macOS's `__MACOSX/` tree and AppleDouble `._name` resource forks.
pub fn is_archive_junk(path: &str) -> bool {
    let mut components = path.split('/').filter(|c| !c.is_empty());
    let Some(last) = path.rsplit('/').find(|c| !c.is_empty()) else {
        return false;
    };
    components.any(|c| c.eq_ignore_ascii_case("__MACOSX"))
        || last.starts_with("._")
        || is_clutter(&last.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_junk_is_recognised() {
        for path in [
            "__MACOSX/._facture.pdf",
            "dossier/__MACOSX/x.pdf",
            "._facture.pdf",
            "annexes/.DS_Store",
            "Thumbs.db",
            "scans/Desktop.ini",
        ] {
            assert!(is_archive_junk(path), "{path}");
        }
        for path in [
            "facture.pdf",
            "macosx/a.pdf",
            "a._b.pdf",
            "thumbs.db.pdf",
            "_x.pdf",
        ] {
            assert!(!is_archive_junk(path), "{path}");
        }
    }

    #[test]
    fn plain_names_are_unchanged() {
        for name in [
            "facture.pdf",
            "Relevé de compte 2024.PDF",
            "a.tar.gz",
            "scan_2.tif",
        ] {
            assert_eq!(safe_name(name), name);
        }
    }

    #[test]
    fn paths_are_reduced_to_their_last_component() {
        assert_eq!(safe_name("../../outside/decoy.pdf"), "decoy.pdf");
        assert_eq!(safe_name(r"C:\Windows\System32\evil.dll"), "evil.dll");
        assert_eq!(safe_name("dir/"), "dir");
        assert_eq!(safe_name(".."), FALLBACK_NAME);
        assert_eq!(safe_name("../"), FALLBACK_NAME);
        assert_eq!(safe_name("/"), FALLBACK_NAME);
    }

    #[test]
    fn windows_forbidden_characters_are_replaced() {
        assert_eq!(safe_name("a<b>c:d\"e|f?g*h.pdf"), "a_b_c_d_e_f_g_h.pdf");
        assert_eq!(safe_name("tab\there.pdf"), "tab_here.pdf");
        assert_eq!(safe_name("new\nline.pdf"), "new_line.pdf");
    }

    #[test]
    fn reserved_device_names_are_prefixed() {
        assert_eq!(safe_name("CON"), "_CON");
        assert_eq!(safe_name("con.txt"), "_con.txt");
        assert_eq!(safe_name("Lpt9.pdf"), "_Lpt9.pdf");
        assert_eq!(safe_name("console.txt"), "console.txt");
        assert_eq!(safe_name("COM10.txt"), "COM10.txt");
    }

    #[test]
    fn dots_and_spaces_at_the_ends_are_removed() {
        assert_eq!(safe_name(".hidden.pdf"), "hidden.pdf");
        assert_eq!(safe_name("name. . "), "name");
        assert_eq!(safe_name("  spaced.pdf"), "spaced.pdf");
    }

    #[test]
    fn bidi_overrides_cannot_disguise_an_extension() {
        let name = safe_name("invoice\u{202E}fdp.exe");
        assert_eq!(name, "invoice_fdp.exe");
    }

    #[test]
    fn long_names_keep_their_extension_and_utf8() {
        let long = format!("{}.pdf", "é".repeat(300));
        let safe = safe_name(&long);
        assert!(safe.len() <= MAX_NAME_BYTES, "{}", safe.len());
        assert!(safe.ends_with("é.pdf"));
    }

    #[test]
    fn numbering_keeps_the_extension() {
        assert_eq!(numbered("scan.pdf", 1), "scan.pdf");
        assert_eq!(numbered("scan.pdf", 2), "scan_2.pdf");
        assert_eq!(numbered("a.tar.gz", 3), "a.tar_3.gz");
        assert_eq!(numbered("README", 2), "README_2");
        assert_eq!(numbered(".hidden", 2), ".hidden_2");
    }

    #[test]
    fn short_tags_are_eight_hex_digits() {
        let tag = short_tag("factures");
        assert_eq!(tag.len(), 8);
        assert!(tag.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(tag, short_tag("factures2"));
        assert_eq!(hex(&[0, 0xab]), "00ab");
    }

    #[test]
    fn launcher_names() {
        for good in ["factures", "dir-scans-1f3a9c0e", "a.b_c"] {
            assert!(is_launcher_name(good), "{good}");
        }
        for bad in ["", ".hidden", "../etc", "a b", "é", &"x".repeat(101)] {
            assert!(!is_launcher_name(bad), "{bad}");
        }
    }
}
