//! Bounded reading of untrusted ZIP and tar(.gz) archives into named pieces of content.
//!
//! Archives come from outside, so nothing in them is trusted:
//!
//! - **Names.** An entry named `../x`, `/etc/x`, `C:\x` or `a/../../x` is refused, and so is the
//!   whole archive: it was made to escape whatever folder it would be unpacked into ("zip slip").
//!   Nothing here ever writes a file under an entry's name anyway (pieces go to memory or to
//!   anonymous temporary files), so the refusal is about telling the administrator, not hiding it.
//! - **Links.** Symbolic and hard links, device files and fifos are refused: an archive of
//!   documents has no use for them, and a link is the other classic way out of a folder.
//! - **Size.** What an archive expands to is counted as it is read, never taken from its headers
//!   (which can lie), against a `Budget` that a caller may share across nested archives (a ZIP
//!   inside an XML inside a ZIP): past `Limits::max_bytes` or `Limits::max_entries` the archive is
//!   refused as a possible zip bomb, and reading stops there.
//! - **Memory.** A piece up to `Limits::memory_piece` stays in memory; a larger one streams to a
//!   temporary file, removed when the piece is dropped.
//!
//! Directory entries carry no content and are left out, and so is what archivers add beside the
//! documents (`__MACOSX/`, AppleDouble `._*`, `.DS_Store`, `Thumbs.db`, `desktop.ini`: the folder
//! sources' clutter rule, `names::is_archive_junk`), logged, never deposited. Duplicate names are refused: which of two
//! `acte.pdf` is the acte is not a question to answer by guessing.

use std::collections::HashSet;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};

use crate::names::is_archive_junk;

/// Bounds on what one archive, or one envelope of nested archives, may expand to.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Most pieces (files) in all.
    pub max_entries: usize,
    /// Most bytes once expanded, in all.
    pub max_bytes: u64,
    /// Largest piece kept in memory; larger ones go to a temporary file.
    pub memory_piece: u64,
    /// Where temporary files go (the system's temporary folder when `None`).
    pub temp_dir: Option<PathBuf>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_entries: 10_000,
            max_bytes: 2 << 30,
            memory_piece: 8 << 20,
            temp_dir: None,
        }
    }
}

/// What is left of the `Limits` while an envelope is being read.
#[derive(Debug)]
pub struct Budget {
    limits: Limits,
    entries: usize,
    bytes: u64,
}

impl Budget {
    pub fn new(limits: Limits) -> Budget {
        Budget {
            limits,
            entries: 0,
            bytes: 0,
        }
    }

    fn remaining_bytes(&self) -> u64 {
        self.limits.max_bytes.saturating_sub(self.bytes)
    }

    /// Counts one more piece, failing past `max_entries`.
    pub fn take_entry(&mut self) -> Result<()> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            bail!(
                "holds more than {} files (the bound set by --max-entries); refused as a possible \
                 zip bomb",
                self.limits.max_entries
            );
        }
        Ok(())
    }

    fn too_big(&self) -> anyhow::Error {
        anyhow!(
            "expands to more than {} bytes (the bound set by --max-expanded-size); refused as a \
             possible zip bomb",
            self.limits.max_bytes
        )
    }

    /// Reads `reader` to its end into a `Data`, counting its bytes against the budget.
    pub fn read(&mut self, reader: &mut dyn Read) -> Result<Data> {
        let remaining = self.remaining_bytes();
        // One byte past the bound tells "exactly at the bound" from "over it".
        let mut limited = reader.take(remaining.saturating_add(1));
        let mut head = Vec::new();
        (&mut limited)
            .take(self.limits.memory_piece.saturating_add(1))
            .read_to_end(&mut head)?;
        let data = if head.len() as u64 <= self.limits.memory_piece {
            Data::Bytes(head)
        } else {
            let mut temp = match &self.limits.temp_dir {
                Some(dir) => tempfile::NamedTempFile::new_in(dir),
                None => tempfile::NamedTempFile::new(),
            }
            .context("cannot create a temporary file (is the temporary folder full?)")?;
            temp.write_all(&head)
                .context("cannot write a temporary file")?;
            drop(head);
            copy(&mut limited, temp.as_file_mut())?;
            temp.as_file_mut()
                .flush()
                .context("cannot write a temporary file")?;
            Data::Temp(temp.into_temp_path())
        };
        let len = data.len()?;
        if len > remaining {
            return Err(self.too_big());
        }
        self.bytes += len;
        Ok(data)
    }

    /// Fails at once if a piece announcing `declared` bytes cannot fit, before reading anything.
    fn check_declared(&self, declared: u64) -> Result<()> {
        if declared > self.remaining_bytes() {
            return Err(self.too_big());
        }
        Ok(())
    }
}

/// A piece's content, in memory or in a temporary file removed on drop.
#[derive(Debug)]
pub enum Data {
    Bytes(Vec<u8>),
    Temp(tempfile::TempPath),
}

impl Data {
    pub fn len(&self) -> Result<u64> {
        match self {
            Data::Bytes(bytes) => Ok(bytes.len() as u64),
            Data::Temp(path) => Ok(std::fs::metadata(path)
                .context("cannot read a temporary file")?
                .len()),
        }
    }

    /// The content as bytes, reading a temporary file if need be, when it is at most `max` bytes.
    pub fn to_vec(&self, max: u64) -> Result<Vec<u8>> {
        if self.len()? > max {
            bail!("is larger than {max} bytes");
        }
        match self {
            Data::Bytes(bytes) => Ok(bytes.clone()),
            Data::Temp(path) => std::fs::read(path).context("cannot read a temporary file"),
        }
    }
}

/// One file of an archive.
#[derive(Debug)]
pub struct Piece {
    /// Its path inside the archive, checked and `/`-separated (`annexes/plan.pdf`).
    pub path: String,
    pub data: Data,
}

impl Piece {
    /// The last component of `path`: the file's own name.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// Reads every file of a ZIP archive.
pub fn read_zip<R: Read + Seek>(mut reader: R, budget: &mut Budget) -> Result<Vec<Piece>> {
    // The zip crate reads the whole central directory into memory before it says how many entries
    // there are: check the count the archive declares first, so a flood costs nothing.
    if let Some(declared) = declared_entries(&mut reader) {
        if declared > budget.limits.max_entries as u64 {
            bail!(
                "declares {declared} entries, more than {} (the bound set by --max-entries); \
                 refused as a possible zip bomb",
                budget.limits.max_entries
            );
        }
    }
    reader.seek(SeekFrom::Start(0))?;
    let mut archive = zip::ZipArchive::new(reader).context("not a readable ZIP archive")?;
    // The central directory says how many entries there are: refuse a flood before reading any.
    if archive.len() > budget.limits.max_entries {
        bail!(
            "holds {} entries, more than {} (the bound set by --max-entries); refused as a \
             possible zip bomb",
            archive.len(),
            budget.limits.max_entries
        );
    }
    let mut pieces = Vec::new();
    let mut seen = HashSet::new();
    for index in 0..archive.len() {
        let mut file = archive
            .by_index(index)
            .with_context(|| format!("cannot read entry {} of the ZIP archive", index + 1))?;
        let raw = String::from_utf8_lossy(file.name_raw()).into_owned();
        let name = file.name().map(|n| n.into_owned()).unwrap_or(raw);
        let name = cp850_if_drawn(file.name_raw(), name);
        let path = checked_path(&name).with_context(|| format!("entry {name:?}"))?;
        if is_archive_junk(&path) {
            log::info!("left out {path:?}: system clutter the archiver added, not a document");
            continue;
        }
        if file.is_symlink() {
            bail!("entry {name:?} is a symbolic link; archives of documents hold none, refused");
        }
        if file.is_dir() {
            continue;
        }
        if file.encrypted() {
            bail!("entry {name:?} is encrypted; lanceur cannot read it");
        }
        budget.take_entry()?;
        budget
            .check_declared(file.size())
            .with_context(|| format!("entry {name:?}"))?;
        if !seen.insert(path.clone()) {
            bail!("entry {name:?} appears twice in the archive; refused as ambiguous");
        }
        let data = budget
            .read(&mut file)
            .with_context(|| format!("cannot expand entry {name:?}"))?;
        pieces.push(Piece { path, data });
    }
    Ok(pieces)
}

/// A ZIP name without the UTF-8 flag is CP437 by the format's rule, and the zip crate reads it so;
/// Windows Explorer writes the OEM code page instead, CP850 on a French Windows, where `À` (0xB7)
/// reads `╖` in CP437. A name that is not UTF-8 and comes out with box-drawing characters, which
/// no one puts in a file name, is read again as CP850.
fn cp850_if_drawn(raw: &[u8], name: String) -> String {
    if std::str::from_utf8(raw).is_ok()
        || !name.chars().any(|c| ('\u{2500}'..='\u{25ff}').contains(&c))
    {
        return name;
    }
    raw.iter()
        .map(|&b| match b {
            0..=0x7f => char::from(b),
            _ => CP850_HIGH
                .chars()
                .nth(usize::from(b - 0x80))
                .unwrap_or('\u{fffd}'),
        })
        .collect()
}

/// Bytes 0x80 to 0xFF of code page 850.
const CP850_HIGH: &str = "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜø£Ø×ƒáíóúñÑªº¿®¬½¼¡«»░▒▓│┤ÁÂÀ©╣║╗╝¢¥┐└┴┬├─┼ãÃ╚╔╩╦╠═╬¤ðÐÊËÈıÍÎÏ┘┌█▄¦Ì▀ÓßÔÒõÕµþÞÚÛÙýÝ¯´\u{ad}±‗¾¶§÷¸°¨·¹³²■\u{a0}";

/// The entry count a ZIP's end of central directory record declares (its ZIP64 form included), or
/// `None` when it cannot be found; the zip crate then has the last word.
fn declared_entries<R: Read + Seek>(reader: &mut R) -> Option<u64> {
    const EOCD: [u8; 4] = [0x50, 0x4b, 0x05, 0x06];
    const ZIP64_LOCATOR: [u8; 4] = [0x50, 0x4b, 0x06, 0x07];
    const ZIP64_EOCD: [u8; 4] = [0x50, 0x4b, 0x06, 0x06];
    let len = reader.seek(SeekFrom::End(0)).ok()?;
    // The record is 22 bytes plus a comment of at most 65535, plus room for the ZIP64 locator.
    let tail_len = len.min(22 + 65_535 + 20);
    reader.seek(SeekFrom::Start(len - tail_len)).ok()?;
    let mut tail = vec![0u8; usize::try_from(tail_len).ok()?];
    reader.read_exact(&mut tail).ok()?;
    let at = (0..=tail.len().checked_sub(22)?)
        .rev()
        .find(|&i| tail[i..i + 4] == EOCD)?;
    let total = u16::from_le_bytes([tail[at + 10], tail[at + 11]]);
    if total != 0xFFFF {
        return Some(u64::from(total));
    }
    let locator = tail.get(at.checked_sub(20)?..at)?;
    if locator[..4] != ZIP64_LOCATOR {
        return None;
    }
    let offset = u64::from_le_bytes(locator[8..16].try_into().ok()?);
    reader.seek(SeekFrom::Start(offset)).ok()?;
    let mut record = [0u8; 40];
    reader.read_exact(&mut record).ok()?;
    if record[..4] != ZIP64_EOCD {
        return None;
    }
    Some(u64::from_le_bytes(record[32..40].try_into().ok()?))
}

/// Reads every file of a gzip-compressed tar archive (`.tar.gz`, `.tgz`).
pub fn read_tar_gz<R: Read>(reader: R, budget: &mut Budget) -> Result<Vec<Piece>> {
    read_tar(flate2::read::MultiGzDecoder::new(reader), budget)
}

/// Reads every file of a tar archive.
pub fn read_tar<R: Read>(reader: R, budget: &mut Budget) -> Result<Vec<Piece>> {
    // The tar reader itself buffers some headers (long names, pax records) whose size the archive
    // states; bounding the whole stream bounds those too, whatever they claim.
    let slack = 2048 * (budget.limits.max_entries as u64 + 16) + (64 << 10);
    let bounded = Bounded {
        inner: reader,
        left: budget.limits.max_bytes.saturating_add(slack),
    };
    let mut archive = tar::Archive::new(bounded);
    let mut pieces = Vec::new();
    let mut seen = HashSet::new();
    let entries = archive.entries().context("not a readable tar archive")?;
    for (index, entry) in entries.enumerate() {
        let mut entry =
            entry.with_context(|| format!("cannot read entry {} of the tar archive", index + 1))?;
        let raw = entry.path_bytes();
        let name = match std::str::from_utf8(&raw) {
            Ok(text) => text.to_string(),
            // Old tar writers store names in the local code page; Latin-1 is the usual one here.
            Err(_) => encoding_rs::WINDOWS_1252.decode(&raw).0.into_owned(),
        };
        let path = checked_path(&name).with_context(|| format!("entry {name:?}"))?;
        if is_archive_junk(&path) {
            log::info!("left out {path:?}: system clutter the archiver added, not a document");
            continue;
        }
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        if kind.is_symlink() || kind.is_hard_link() {
            bail!("entry {name:?} is a link; archives of documents hold none, refused");
        }
        if !(kind.is_file() || kind.is_contiguous()) {
            bail!("entry {name:?} is not a regular file ({kind:?}); refused");
        }
        budget.take_entry()?;
        budget
            .check_declared(entry.size())
            .with_context(|| format!("entry {name:?}"))?;
        if !seen.insert(path.clone()) {
            bail!("entry {name:?} appears twice in the archive; refused as ambiguous");
        }
        let data = budget
            .read(&mut entry)
            .with_context(|| format!("cannot expand entry {name:?}"))?;
        pieces.push(Piece { path, data });
    }
    Ok(pieces)
}

/// An entry's name made into a relative `/`-separated path, or an error if it tries to leave the
/// folder it would be unpacked into. Backslashes count as separators, since Windows tools write
/// them and Windows would follow them.
pub fn checked_path(raw: &str) -> Result<String> {
    if raw.contains('\0') {
        bail!("the name holds a NUL character; refused");
    }
    if raw.starts_with(['/', '\\']) {
        bail!("the name is an absolute path; refused (it would write outside its folder)");
    }
    let bytes = raw.as_bytes();
    if bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic() {
        bail!("the name starts with a drive letter; refused (it would write outside its folder)");
    }
    let mut parts = Vec::new();
    for part in raw.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => bail!("the name holds \"..\"; refused (it would write outside its folder)"),
            part => parts.push(part),
        }
    }
    if parts.is_empty() {
        bail!("the name is empty");
    }
    Ok(parts.join("/"))
}

/// A reader that fails once more than `left` bytes have been read through it.
struct Bounded<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self.left.checked_sub(n as u64).ok_or_else(|| {
            io::Error::other("the archive expands beyond its bound; refused as a possible zip bomb")
        })?;
        Ok(n)
    }
}

fn copy(reader: &mut dyn Read, writer: &mut std::fs::File) -> Result<()> {
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err.into()),
        };
        writer
            .write_all(&buffer[..n])
            .context("cannot write a temporary file (is the temporary folder full?)")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, content) in entries {
            writer.start_file(*name, options).unwrap();
            writer.write_all(content).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    fn small(max_bytes: u64, max_entries: usize) -> Budget {
        Budget::new(Limits {
            max_entries,
            max_bytes,
            memory_piece: 16,
            temp_dir: None,
        })
    }

    #[test]
    fn names_that_escape_are_refused() {
        for bad in [
            "../x",
            "a/../../x",
            "/decoy/x.pdf",
            "\\x",
            "..\\x",
            "C:\\x",
            "c:x",
            "",
            "./",
            "a\0b",
        ] {
            assert!(checked_path(bad).is_err(), "{bad:?}");
        }
        assert_eq!(checked_path("a/./b//c.pdf").unwrap(), "a/b/c.pdf");
        assert_eq!(checked_path("a\\b.pdf").unwrap(), "a/b.pdf");
        assert_eq!(checked_path("..a.pdf").unwrap(), "..a.pdf");
    }

    #[test]
    fn zip_pieces_small_in_memory_large_in_temp_files() {
        let big = vec![7u8; 1000];
        let bytes = zip_of(&[("dir/a.txt", b"hello"), ("b.bin", &big)]);
        let pieces = read_zip(Cursor::new(bytes), &mut small(10_000, 10)).unwrap();
        assert_eq!(pieces.len(), 2);
        assert_eq!(pieces[0].path, "dir/a.txt");
        assert_eq!(pieces[0].name(), "a.txt");
        assert!(matches!(&pieces[0].data, Data::Bytes(b) if b == b"hello"));
        assert!(matches!(pieces[1].data, Data::Temp(_)));
        assert_eq!(pieces[1].data.to_vec(u64::MAX).unwrap(), big);
    }

    #[test]
    fn zip_over_the_byte_bound_is_refused() {
        let bytes = zip_of(&[("a", &[0u8; 600]), ("b", &[0u8; 600])]);
        let err = read_zip(Cursor::new(bytes), &mut small(1000, 10)).unwrap_err();
        assert!(format!("{err:#}").contains("zip bomb"), "{err:#}");
    }

    #[test]
    fn zip_over_the_entry_bound_is_refused() {
        let bytes = zip_of(&[("a", b"1"), ("b", b"2"), ("c", b"3")]);
        let err = read_zip(Cursor::new(bytes), &mut small(1000, 2)).unwrap_err();
        assert!(format!("{err:#}").contains("--max-entries"), "{err:#}");
    }

    #[test]
    fn declared_entry_count_is_read_before_the_central_directory() {
        let names: Vec<String> = (0..300).map(|i| format!("f{i}")).collect();
        let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        let bytes = zip_of(&entries);
        assert_eq!(declared_entries(&mut Cursor::new(&bytes)), Some(300));
        let err = read_zip(Cursor::new(bytes), &mut small(1000, 10)).unwrap_err();
        assert!(
            format!("{err:#}").contains("declares 300 entries"),
            "{err:#}"
        );
        assert_eq!(declared_entries(&mut Cursor::new(b"not a zip")), None);
    }

    #[test]
    fn a_budget_is_shared_across_archives() {
        let mut budget = small(1000, 10);
        let bytes = zip_of(&[("a", &[0u8; 600])]);
        read_zip(Cursor::new(bytes.clone()), &mut budget).unwrap();
        assert!(read_zip(Cursor::new(bytes), &mut budget).is_err());
    }

    #[test]
    fn tar_links_are_refused() {
        // The link aims at a decoy of the test's own, never at a real system file.
        let dir = tempfile::tempdir().unwrap();
        let decoy = dir.path().join("decoy.txt");
        std::fs::write(&decoy, b"decoy").unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        builder.append_link(&mut header, "evil", &decoy).unwrap();
        let bytes = builder.into_inner().unwrap();
        let err = read_tar(Cursor::new(bytes), &mut small(1000, 10)).unwrap_err();
        assert!(format!("{err:#}").contains("is a link"), "{err:#}");
        assert_eq!(
            std::fs::read(&decoy).unwrap(),
            b"decoy",
            "the decoy was touched"
        );
    }

    #[test]
    fn tar_files_are_read() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(3);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, "x/y.pdf", &b"pdf"[..])
            .unwrap();
        let bytes = builder.into_inner().unwrap();
        let pieces = read_tar(Cursor::new(bytes), &mut small(1000, 10)).unwrap();
        assert_eq!(pieces.len(), 1);
        assert_eq!(pieces[0].path, "x/y.pdf");
    }
}
