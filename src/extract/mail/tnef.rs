//! Outlook's `winmail.dat` (TNEF, [MS-OXTNEF]): the files inside, under their real names.
//!
//! TNEF is a flat stream of attributes (level, id, length, value, checksum). Each attached file
//! starts with `attAttachRendData`; its bytes are `attAttachData`, its 8.3 name `attAttachTitle`
//! (`PROCS-~1.PDF`), and its real name is among the MAPI properties of `attAttachment`:
//! `PR_ATTACH_LONG_FILENAME`, else `PR_DISPLAY_NAME`, in the OEM code page (`attOemCodepage`) or
//! in UTF-16.
//!
//! Written here rather than taken from the `tnef` crate: that crate (one release, 2019) returns
//! only the 8.3 titles, leaves the MAPI properties to its caller — the larger half of the work —
//! and refuses attribute ids it does not know, which real Exchange output has. This reader only
//! slices its input: lengths are checked against what is there, so a hostile file can make it
//! fail, never allocate more than the file's own size. Checksums are not enforced (Outlook's
//! readers do not either).

use anyhow::{bail, Result};

/// One file found in a TNEF stream.
#[derive(Debug)]
pub struct File<'a> {
    pub name: Option<String>,
    pub data: &'a [u8],
}

const SIGNATURE: u32 = 0x223E_9F78;
const ATT_OEM_CODEPAGE: u32 = 0x0006_9007;
const ATT_ATTACH_REND_DATA: u32 = 0x0006_9002;
const ATT_ATTACH_TITLE: u32 = 0x0001_8010;
const ATT_ATTACH_DATA: u32 = 0x0006_800F;
const ATT_ATTACHMENT: u32 = 0x0006_9005;

const PR_ATTACH_LONG_FILENAME: u16 = 0x3707;
const PR_DISPLAY_NAME: u16 = 0x3001;

pub fn is_tnef(data: &[u8]) -> bool {
    data.get(..4) == Some(&SIGNATURE.to_le_bytes()[..])
}

struct Attachment<'a> {
    title: Option<String>,
    data: Option<&'a [u8]>,
    long_name: Option<String>,
}

/// The files of a TNEF stream, in order. An attachment without data (an embedded message, an OLE
/// object) is left out.
pub fn files(data: &[u8]) -> Result<Vec<File<'_>>> {
    if !is_tnef(data) {
        bail!("not a TNEF stream (no signature)");
    }
    let mut at = 6;
    let mut codepage = encoding_rs::WINDOWS_1252;
    let mut attachments: Vec<Attachment<'_>> = Vec::new();
    while at + 9 <= data.len() {
        let id = u32_at(data, at + 1)?;
        let length = usize::try_from(u32_at(data, at + 5)?).unwrap_or(usize::MAX);
        let start = at + 9;
        let Some(value) = start
            .checked_add(length)
            .and_then(|end| data.get(start..end))
        else {
            bail!("the TNEF stream is cut off (an attribute runs past its end)");
        };
        at = start + length + 2;
        match id {
            ATT_OEM_CODEPAGE if value.len() >= 4 => {
                codepage = codepage_encoding(u32_at(value, 0)?);
            }
            ATT_ATTACH_REND_DATA => attachments.push(Attachment {
                title: None,
                data: None,
                long_name: None,
            }),
            ATT_ATTACH_TITLE => {
                if let Some(current) = attachments.last_mut() {
                    current.title = Some(text8(value, codepage));
                }
            }
            ATT_ATTACH_DATA => {
                if let Some(current) = attachments.last_mut() {
                    current.data = Some(value);
                }
            }
            ATT_ATTACHMENT => {
                if let Some(current) = attachments.last_mut() {
                    current.long_name = long_name(value, codepage);
                }
            }
            _ => {}
        }
    }
    Ok(attachments
        .into_iter()
        .filter_map(|a| {
            let data = a.data?;
            let name = a.long_name.or(a.title).filter(|n| !n.trim().is_empty());
            Some(File { name, data })
        })
        .collect())
}

fn u32_at(data: &[u8], at: usize) -> Result<u32> {
    match data.get(at..at + 4) {
        Some(b) => Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        None => bail!("the TNEF stream is cut off"),
    }
}

fn codepage_encoding(codepage: u32) -> &'static encoding_rs::Encoding {
    let label = match codepage {
        65001 => "utf-8".to_string(),
        932 => "shift_jis".to_string(),
        936 => "gbk".to_string(),
        949 => "euc-kr".to_string(),
        950 => "big5".to_string(),
        874 => "windows-874".to_string(),
        1250..=1258 => format!("windows-{codepage}"),
        20866 => "koi8-r".to_string(),
        28591..=28599 => format!("iso-8859-{}", codepage - 28590),
        _ => "windows-1252".to_string(),
    };
    encoding_rs::Encoding::for_label(label.as_bytes()).unwrap_or(encoding_rs::WINDOWS_1252)
}

fn text8(value: &[u8], codepage: &'static encoding_rs::Encoding) -> String {
    let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
    codepage
        .decode_without_bom_handling(&value[..end])
        .0
        .into_owned()
}

fn text16(value: &[u8]) -> String {
    let units: Vec<u16> = value
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        .take_while(|&unit| unit != 0)
        .collect();
    String::from_utf16_lossy(&units)
}

/// The file's real name from the MAPI properties of `attAttachment`: the long file name, else the
/// display name. Reading stops quietly at anything it does not understand.
fn long_name(value: &[u8], codepage: &'static encoding_rs::Encoding) -> Option<String> {
    let mut props = Props { value, at: 0 };
    let count = props.u32()?;
    let mut long = None;
    let mut display = None;
    for _ in 0..count {
        let kind = props.u16()?;
        let id = props.u16()?;
        if id >= 0x8000 {
            // A named property: a GUID, then an id or a name.
            props.skip(16)?;
            let named_kind = props.u32()?;
            if named_kind == 0 {
                props.skip(4)?;
            } else {
                let length = props.u32()?;
                props.skip_padded(length)?;
            }
        }
        let multi = kind & 0x1000 != 0;
        let base = kind & 0x0FFF;
        let fixed = match base {
            0x0002 | 0x0003 | 0x0004 | 0x000A | 0x000B => Some(4),
            0x0005 | 0x0006 | 0x0007 | 0x0014 | 0x0040 => Some(8),
            0x0048 => Some(16),
            _ => None,
        };
        if let (Some(size), false) = (fixed, multi) {
            props.skip(size)?;
            continue;
        }
        let values = props.u32()?;
        for _ in 0..values {
            if let Some(size) = fixed {
                props.skip(size)?;
                continue;
            }
            let length = props.u32()?;
            let bytes = props.take_padded(length)?;
            let text = match base {
                0x001E => Some(text8(bytes, codepage)),
                0x001F => Some(text16(bytes)),
                _ => None,
            };
            match id {
                PR_ATTACH_LONG_FILENAME if long.is_none() => long = text,
                PR_DISPLAY_NAME if display.is_none() => display = text,
                _ => {}
            }
        }
    }
    long.or(display).filter(|n| !n.trim().is_empty())
}

struct Props<'a> {
    value: &'a [u8],
    at: usize,
}

impl<'a> Props<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let bytes = self.value.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(bytes)
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }

    fn take_padded(&mut self, n: u32) -> Option<&'a [u8]> {
        let n = usize::try_from(n).ok()?;
        let bytes = self.take(n)?;
        self.skip((4 - n % 4) % 4)?;
        Some(bytes)
    }

    fn skip_padded(&mut self, n: u32) -> Option<()> {
        self.take_padded(n).map(|_| ())
    }

    fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attribute(level: u8, id: u32, value: &[u8]) -> Vec<u8> {
        let mut out = vec![level];
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&u32::try_from(value.len()).unwrap().to_le_bytes());
        out.extend_from_slice(value);
        let sum = value
            .iter()
            .fold(0u16, |s, &b| s.wrapping_add(u16::from(b)));
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    #[test]
    fn long_names_come_from_the_mapi_properties() {
        let mut stream = SIGNATURE.to_le_bytes().to_vec();
        stream.extend_from_slice(&[0x01, 0x00]);
        stream.extend(attribute(
            1,
            ATT_OEM_CODEPAGE,
            &[0xe4, 0x04, 0, 0, 0, 0, 0, 0],
        ));
        stream.extend(attribute(2, ATT_ATTACH_REND_DATA, &[0; 14]));
        stream.extend(attribute(2, ATT_ATTACH_TITLE, b"PROCS-~1.PDF\0"));
        stream.extend(attribute(2, ATT_ATTACH_DATA, b"%PDF-1.4 data"));
        let name = b"Proc\xe8s-verbal.pdf\0";
        let mut props = 2u32.to_le_bytes().to_vec();
        props.extend_from_slice(&0x0003u16.to_le_bytes());
        props.extend_from_slice(&0x0E21u16.to_le_bytes());
        props.extend_from_slice(&7u32.to_le_bytes());
        props.extend_from_slice(&0x001Eu16.to_le_bytes());
        props.extend_from_slice(&PR_ATTACH_LONG_FILENAME.to_le_bytes());
        props.extend_from_slice(&1u32.to_le_bytes());
        props.extend_from_slice(&u32::try_from(name.len()).unwrap().to_le_bytes());
        props.extend_from_slice(name);
        props.extend_from_slice(&[0; 2]);
        stream.extend(attribute(2, ATT_ATTACHMENT, &props));
        let files = files(&stream).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].name.as_deref(), Some("Procès-verbal.pdf"));
        assert_eq!(files[0].data, b"%PDF-1.4 data");
        // Cut short: an error, not a panic or a huge allocation.
        let mut cut = stream.clone();
        cut.truncate(stream.len() - 30);
        cut.extend_from_slice(&[2, 0x0f, 0x80, 6, 0, 0xff, 0xff, 0xff, 0x7f]);
        assert!(super::files(&cut).is_err());
        assert!(super::files(b"not tnef").is_err());
    }
}
