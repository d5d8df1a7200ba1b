//! Undoing a part's transfer encoding (base64, quoted-printable, uuencode) into memory or, for a
//! large part, straight into a temporary file, and judging whether what came out is whole.
//!
//! Decoding is as lenient as real mail needs and no more: white space anywhere in base64 (relays
//! add trailing spaces), missing `=` padding (the bytes are all there), soft line breaks and stray
//! `=` in quoted-printable. What cannot be undone is *damage*: base64 with characters outside its
//! alphabet, or a length that leaves a lone character (bytes were lost).
//!
//! A part that decoded without damage can still be cut short: the mail ended inside it (its
//! multipart's closing delimiter never came), or its base64 lacked padding. Such a part is
//! *suspect*, and its content must then prove itself whole by its own format (`complete`): a PDF
//! ends with `%%EOF`, a PNG with `IEND`, a JPEG with `FFD9`, a ZIP-based file (ZIP, DOCX, XLSX,
//! ODT…) opens and every entry passes its CRC.

use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};

use anyhow::{Context, Result};

use crate::extract::archive::Data;

/// Where decoded parts go.
#[derive(Debug, Clone)]
pub struct Spool {
    /// Parts whose encoded form is larger than this are decoded into a temporary file.
    pub memory_part: usize,
    /// Where those files go (the system's temporary folder when `None`).
    pub temp_dir: Option<std::path::PathBuf>,
}

impl Default for Spool {
    fn default() -> Spool {
        Spool {
            memory_part: 8 << 20,
            temp_dir: None,
        }
    }
}

/// Memory or a temporary file, chosen before writing by the size of what will be written.
enum Sink {
    Memory(Vec<u8>),
    File(BufWriter<tempfile::NamedTempFile>),
}

impl Sink {
    fn new(spool: &Spool, expected: usize) -> Result<Sink> {
        if expected <= spool.memory_part {
            return Ok(Sink::Memory(Vec::with_capacity(expected)));
        }
        let file = match &spool.temp_dir {
            Some(dir) => tempfile::NamedTempFile::new_in(dir),
            None => tempfile::NamedTempFile::new(),
        }
        .context(
            "cannot create a temporary file for a large attachment (is the temporary folder full?)",
        )?;
        Ok(Sink::File(BufWriter::with_capacity(256 << 10, file)))
    }

    fn finish(self) -> Result<Data> {
        match self {
            Sink::Memory(bytes) => Ok(Data::Bytes(bytes)),
            Sink::File(writer) => {
                let file = writer
                    .into_inner()
                    .map_err(|err| err.into_error())
                    .context("cannot write a temporary file for a large attachment")?;
                Ok(Data::Temp(file.into_temp_path()))
            }
        }
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Memory(bytes) => {
                bytes.extend_from_slice(buf);
                Ok(buf.len())
            }
            Sink::File(writer) => writer.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Memory(_) => Ok(()),
            Sink::File(writer) => writer.flush(),
        }
    }
}

/// A part's transfer encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    /// 7bit, 8bit, binary, or none given.
    Identity,
    Base64,
    QuotedPrintable,
    Uuencode,
}

impl Transfer {
    pub fn of(field: Option<&[u8]>) -> Transfer {
        let value = field
            .map(|v| String::from_utf8_lossy(v).trim().to_ascii_lowercase())
            .unwrap_or_default();
        match value.as_str() {
            "base64" => Transfer::Base64,
            "quoted-printable" => Transfer::QuotedPrintable,
            "x-uuencode" | "uuencode" | "x-uue" => Transfer::Uuencode,
            _ => Transfer::Identity,
        }
    }
}

/// What decoding gave.
#[derive(Debug)]
pub struct Decoded {
    pub data: Data,
    /// Why the content could not be decoded whole, if it could not.
    pub damage: Option<String>,
    /// The content may be cut short although decoding found nothing wrong (missing padding).
    pub suspect: bool,
}

/// Decodes `body` as `transfer` says.
pub fn decode(body: &[u8], transfer: Transfer, spool: &Spool) -> Result<Decoded> {
    let mut sink = Sink::new(spool, body.len())?;
    let (damage, suspect) = match transfer {
        Transfer::Identity => {
            sink.write_all(body)?;
            (None, false)
        }
        Transfer::Base64 => match base64(body, &mut sink)? {
            Base64End::Whole => (None, false),
            Base64End::Unpadded => (None, true),
            Base64End::Damaged(why) => (Some(why), false),
        },
        Transfer::QuotedPrintable => {
            quoted_printable(body, &mut sink)?;
            (None, false)
        }
        Transfer::Uuencode => match uudecode_first(body, &mut sink)? {
            true => (None, false),
            false => (
                Some("its uuencoded block has no begin line or no end line".to_string()),
                false,
            ),
        },
    };
    Ok(Decoded {
        data: sink.finish()?,
        damage,
        suspect,
    })
}

/// Copies `body` as it is (an attached mail's bytes).
pub fn copy(body: &[u8], spool: &Spool) -> Result<Data> {
    let mut sink = Sink::new(spool, body.len())?;
    sink.write_all(body)?;
    sink.finish()
}

enum Base64End {
    Whole,
    /// Complete quanta but for the last one, which lacked its `=` padding.
    Unpadded,
    Damaged(String),
}

const INVALID: u8 = 0xff;
const SPACE: u8 = 0xfe;
const PAD: u8 = 0xfd;

const fn base64_table() -> [u8; 256] {
    let mut table = [INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i: u8 = 0;
    while i < 64 {
        table[alphabet[i as usize] as usize] = i;
        i += 1;
    }
    table[b' ' as usize] = SPACE;
    table[b'\t' as usize] = SPACE;
    table[b'\r' as usize] = SPACE;
    table[b'\n' as usize] = SPACE;
    table[0x0b] = SPACE;
    table[0x0c] = SPACE;
    table[b'=' as usize] = PAD;
    table
}

static BASE64: [u8; 256] = base64_table();

fn base64(body: &[u8], out: &mut impl Write) -> io::Result<Base64End> {
    let mut buffer: Vec<u8> = Vec::with_capacity(64 << 10);
    let mut quad = [0u8; 4];
    let mut have = 0usize;
    let mut invalid: Option<u8> = None;
    for &byte in body {
        let value = BASE64[byte as usize];
        if value < 64 {
            quad[have] = value;
            have += 1;
            if have == 4 {
                buffer.extend_from_slice(&[
                    (quad[0] << 2) | (quad[1] >> 4),
                    (quad[1] << 4) | (quad[2] >> 2),
                    (quad[2] << 6) | quad[3],
                ]);
                have = 0;
                if buffer.len() >= (64 << 10) - 3 {
                    out.write_all(&buffer)?;
                    buffer.clear();
                }
            }
            continue;
        }
        match value {
            SPACE => {}
            PAD => {
                // `xx==` or `xxx=`: the quantum ends here. Base64 may go on after it (two
                // encodings glued together), as Python's decoder allows.
                match have {
                    2 => buffer.push((quad[0] << 2) | (quad[1] >> 4)),
                    3 => buffer.extend_from_slice(&[
                        (quad[0] << 2) | (quad[1] >> 4),
                        (quad[1] << 4) | (quad[2] >> 2),
                    ]),
                    _ => {}
                }
                have = 0;
            }
            _ => {
                invalid.get_or_insert(byte);
            }
        }
    }
    let end = match have {
        0 => Base64End::Whole,
        1 => Base64End::Damaged(
            "its base64 ends in the middle of a byte (the mail was cut off or altered)".into(),
        ),
        2 => {
            buffer.push((quad[0] << 2) | (quad[1] >> 4));
            Base64End::Unpadded
        }
        _ => {
            buffer.extend_from_slice(&[
                (quad[0] << 2) | (quad[1] >> 4),
                (quad[1] << 4) | (quad[2] >> 2),
            ]);
            Base64End::Unpadded
        }
    };
    out.write_all(&buffer)?;
    if let Some(byte) = invalid {
        return Ok(Base64End::Damaged(format!(
            "its base64 holds a character that base64 has not (byte {byte:#04x}): the mail was \
             altered on its way"
        )));
    }
    Ok(end)
}

/// Quoted-printable, leniently: `=XX` is a byte, `=` at the end of a line joins it to the next,
/// any other `=` is itself; white space at the end of a line was added in transit and goes. Line
/// ends stay as they were.
fn quoted_printable(body: &[u8], out: &mut impl Write) -> io::Result<()> {
    let mut buffer = Vec::with_capacity(body.len().min(64 << 10));
    for (start, end) in super::mime::lines(body) {
        let line = &body[start..end];
        let content = super::mime::trim_eol(line);
        let eol = &line[content.len()..];
        let content = trim_end_space(content);
        let (content, soft) = match content.strip_suffix(b"=") {
            Some(rest) => (rest, true),
            None => (content, false),
        };
        let mut i = 0;
        while i < content.len() {
            let byte = content[i];
            if byte == b'=' {
                if let Some(value) = super::header::hex_pair(content.get(i + 1..i + 3)) {
                    buffer.push(value);
                    i += 3;
                    continue;
                }
            }
            buffer.push(byte);
            i += 1;
        }
        if !soft {
            buffer.extend_from_slice(eol);
        }
        if buffer.len() >= 64 << 10 {
            out.write_all(&buffer)?;
            buffer.clear();
        }
    }
    out.write_all(&buffer)
}

fn trim_end_space(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |p| p + 1);
    &bytes[..end]
}

/// A uuencoded block found in a text: its name, its mode and its content.
#[derive(Debug)]
pub struct UuBlock {
    pub name: Vec<u8>,
    pub data: Data,
    /// The block's `end` line was there.
    pub complete: bool,
}

/// `begin 644 name`, with the mode and the name (which runs to the end of the line).
fn begin_line(line: &[u8]) -> Option<&[u8]> {
    let rest = line
        .strip_prefix(b"begin-base64 ")
        .or_else(|| line.strip_prefix(b"begin "))?;
    let rest = rest.strip_prefix(b" ").unwrap_or(rest);
    let rest = {
        let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
        &rest[start..]
    };
    let mode_len = rest
        .iter()
        .take_while(|b| (b'0'..=b'7').contains(b))
        .count();
    if !(3..=4).contains(&mode_len) || rest.get(mode_len) != Some(&b' ') {
        return None;
    }
    let name = super::mime::trim(&rest[mode_len..]);
    (!name.is_empty()).then_some(name)
}

/// Every `begin … end` block of a plain-text body (old Eudora, Pegasus and Pine mail).
pub fn uu_blocks(body: &[u8], spool: &Spool) -> Result<Vec<UuBlock>> {
    let mut blocks = Vec::new();
    let mut lines = super::mime::lines(body).peekable();
    while let Some((start, end)) = lines.next() {
        let line = super::mime::trim_eol(&body[start..end]);
        let Some(name) = begin_line(line) else {
            continue;
        };
        let mut sink = Sink::new(spool, body.len().saturating_sub(end))?;
        let mut complete = false;
        for (start, end) in lines.by_ref() {
            let line = super::mime::trim_eol(&body[start..end]);
            if trim_end_space(line) == b"end" {
                complete = true;
                break;
            }
            uu_line(line, &mut sink)?;
        }
        blocks.push(UuBlock {
            name: name.to_vec(),
            data: sink.finish()?,
            complete,
        });
    }
    Ok(blocks)
}

/// The first block of an `x-uuencode` part; whether it was whole.
fn uudecode_first(body: &[u8], out: &mut impl Write) -> io::Result<bool> {
    let mut lines = super::mime::lines(body);
    for (start, end) in lines.by_ref() {
        if begin_line(super::mime::trim_eol(&body[start..end])).is_some() {
            break;
        }
    }
    for (start, end) in lines {
        let line = super::mime::trim_eol(&body[start..end]);
        if trim_end_space(line) == b"end" {
            return Ok(true);
        }
        uu_line(line, out)?;
    }
    Ok(false)
}

/// One uuencoded line: a length character, then four characters per three bytes. Space and
/// backtick both mean zero; a line shorter than its length says is padded with zeros, and one
/// longer is cut at its length (as Python's old `uu` module tolerated).
fn uu_line(line: &[u8], out: &mut impl Write) -> io::Result<()> {
    let Some((&first, rest)) = line.split_first() else {
        return Ok(());
    };
    let count = usize::from(first.wrapping_sub(b' ') & 63);
    let value = |i: usize| rest.get(i).map_or(0, |&c| c.wrapping_sub(b' ') & 63);
    let mut bytes = Vec::with_capacity(count + 3);
    let mut i = 0;
    while bytes.len() < count {
        let (a, b, c, d) = (value(i), value(i + 1), value(i + 2), value(i + 3));
        bytes.extend_from_slice(&[(a << 2) | (b >> 4), (b << 4) | (c >> 2), (c << 6) | d]);
        i += 4;
    }
    bytes.truncate(count);
    out.write_all(&bytes)
}

/// Whether `data` is whole by its own format: `None` when the format is not one lanceur can
/// judge.
pub fn complete(data: &Data) -> Result<Option<bool>> {
    let mut reader = DataReader::open(data)?;
    let len = reader.len()?;
    let mut head = [0u8; 8];
    let got = read_at(&mut reader, 0, &mut head)?;
    let head = &head[..got];
    let tail_len = usize::try_from(len.min(1024)).unwrap_or(1024);
    let mut tail = vec![0u8; tail_len];
    read_at(&mut reader, len - tail_len as u64, &mut tail)?;
    if head.starts_with(b"%PDF-") {
        return Ok(Some(tail.windows(5).any(|w| w == b"%%EOF")));
    }
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(Some(tail.ends_with(b"IEND\xaeB`\x82")));
    }
    if head.starts_with(b"\xff\xd8") {
        let trimmed = {
            let end = tail
                .iter()
                .rposition(|b| !matches!(b, b'\r' | b'\n' | 0))
                .map_or(0, |p| p + 1);
            &tail[..end]
        };
        return Ok(Some(trimmed.ends_with(b"\xff\xd9")));
    }
    if head.starts_with(b"PK\x03\x04") {
        reader.seek(SeekFrom::Start(0))?;
        return Ok(Some(zip_whole(reader)));
    }
    Ok(None)
}

fn zip_whole<R: Read + Seek>(reader: R) -> bool {
    let Ok(mut archive) = zip::ZipArchive::new(reader) else {
        return false;
    };
    for index in 0..archive.len() {
        let Ok(mut file) = archive.by_index(index) else {
            return false;
        };
        // Reading to the end checks the entry's CRC.
        if io::copy(&mut file, &mut io::sink()).is_err() {
            return false;
        }
    }
    true
}

fn read_at(reader: &mut DataReader, at: u64, buf: &mut [u8]) -> Result<usize> {
    reader.seek(SeekFrom::Start(at))?;
    let mut got = 0;
    while got < buf.len() {
        let n = reader.read(&mut buf[got..])?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(got)
}

/// Reads a `Data` wherever it is.
pub enum DataReader<'a> {
    Memory(io::Cursor<&'a [u8]>),
    File(std::fs::File),
}

impl<'a> DataReader<'a> {
    pub fn open(data: &'a Data) -> Result<DataReader<'a>> {
        Ok(match data {
            Data::Bytes(bytes) => DataReader::Memory(io::Cursor::new(bytes.as_slice())),
            Data::Temp(path) => {
                DataReader::File(std::fs::File::open(path).context("cannot read a temporary file")?)
            }
        })
    }

    fn len(&mut self) -> io::Result<u64> {
        match self {
            DataReader::Memory(cursor) => Ok(cursor.get_ref().len() as u64),
            DataReader::File(file) => Ok(file.metadata()?.len()),
        }
    }
}

impl Read for DataReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            DataReader::Memory(cursor) => cursor.read(buf),
            DataReader::File(file) => file.read(buf),
        }
    }
}

impl Seek for DataReader<'_> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        match self {
            DataReader::Memory(cursor) => cursor.seek(pos),
            DataReader::File(file) => file.seek(pos),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(data: Data) -> Vec<u8> {
        match data {
            Data::Bytes(b) => b,
            Data::Temp(p) => std::fs::read(p).unwrap(),
        }
    }

    fn run(body: &[u8], transfer: Transfer) -> Decoded {
        decode(body, transfer, &Spool::default()).unwrap()
    }

    #[test]
    fn base64_forgives_space_and_padding_not_damage() {
        let d = run(b"JVBE Ri0x  \r\nLjQK\r\n", Transfer::Base64);
        assert_eq!((d.damage.is_none(), d.suspect), (true, false));
        assert_eq!(bytes(d.data), b"%PDF-1.4\n");
        let d = run(b"QUJD\r\nRA\r\n", Transfer::Base64);
        assert_eq!((d.damage.is_none(), d.suspect), (true, true));
        assert_eq!(bytes(d.data), b"ABCD");
        assert!(run(b"QUJDR\r\n", Transfer::Base64).damage.is_some());
        assert!(run(b"QU!!JD\r\n", Transfer::Base64).damage.is_some());
    }

    #[test]
    fn large_parts_go_to_a_temporary_file() {
        let spool = Spool {
            memory_part: 4,
            temp_dir: None,
        };
        let d = decode(b"QUJDRA==", Transfer::Base64, &spool).unwrap();
        assert!(matches!(d.data, Data::Temp(_)));
        assert_eq!(bytes(d.data), b"ABCD");
    }

    #[test]
    fn quoted_printable_and_uuencode() {
        let d = run(
            b"caf=E9 =\r\nsuite  \r\n= fin\r\n",
            Transfer::QuotedPrintable,
        );
        assert_eq!(bytes(d.data), b"caf\xe9 suite\r\n= fin\r\n");
        let d = run(b"begin 644 a.txt\n#86)C\n`\nend\n", Transfer::Uuencode);
        assert!(d.damage.is_none());
        assert_eq!(bytes(d.data), b"abc");
        let blocks = uu_blocks(
            b"Bonjour\r\nbegin 600 x y.pdf\r\n#86)C\r\n \r\nend\r\nfin\r\n",
            &Spool::default(),
        )
        .unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].name, b"x y.pdf");
        assert!(blocks[0].complete);
    }

    #[test]
    fn formats_tell_whether_they_are_whole() {
        let pdf = Data::Bytes(b"%PDF-1.4\n...\n%%EOF\n".to_vec());
        assert_eq!(complete(&pdf).unwrap(), Some(true));
        let cut = Data::Bytes(b"%PDF-1.4\n...".to_vec());
        assert_eq!(complete(&cut).unwrap(), Some(false));
        assert_eq!(complete(&Data::Bytes(b"plain".to_vec())).unwrap(), None);
        assert_eq!(
            complete(&Data::Bytes(b"PK\x03\x04 not a zip".to_vec())).unwrap(),
            Some(false)
        );
    }
}
