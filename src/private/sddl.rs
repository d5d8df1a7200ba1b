//! Reading a Windows security descriptor in its text form (SDDL), as Windows writes it:
//! `O:<owner>D:<flags>(<ace>)(<ace>)…`, each ACE `type;flags;rights;object;inherited object;SID`.
//!
//! The text is what the system hands out for any descriptor, including a null ACL
//! (`D:NO_ACCESS_CONTROL`, everyone may do anything), which the binary accessors of
//! `windows-permissions` cannot return; and reading it is plain code, tested on every platform.
//!
//! An "allow" entry (`A`, or the object and callback forms `OA`, `XA`, `ZA`) that applies to the
//! object itself (no `IO`, inherit only) and grants reading its data (`FILE_READ_DATA`, also
//! written `CC`, or `GR`, `GA`, `FR`, `FA`, or a hexadecimal mask holding one of them) to a SID
//! other than the trusted ones makes the object readable by others. Deny entries are not weighed:
//! a file they protect may be called readable by others, never the reverse. A right that cannot
//! be read counts as reading.

/// SIDs trusted whatever the file: SYSTEM, the Administrators, OWNER RIGHTS, in both spellings.
const TRUSTED: [&str; 6] = ["SY", "S-1-5-18", "BA", "S-1-5-32-544", "OW", "S-1-3-4"];

const FILE_READ_DATA: u32 = 0x1;
const GENERIC_ALL: u32 = 0x1000_0000;
const GENERIC_READ: u32 = 0x8000_0000;

/// Whether the descriptor `sddl` lets anyone read but its owner, `me` (a SID, `S-1-…`) and the
/// trusted SIDs.
pub fn lets_others_read(sddl: &str, me: &str) -> bool {
    let owner = part(sddl, "O:").unwrap_or_default();
    let Some(dacl) = part(sddl, "D:") else {
        // No ACL in the descriptor: nothing restricts access.
        return true;
    };
    let (flags, aces) = dacl.split_once('(').unwrap_or((dacl, ""));
    if flags.contains("NO_ACCESS_CONTROL") {
        return true;
    }
    aces.split(['(', ')'])
        .filter(|ace| !ace.is_empty())
        .any(|ace| grants_others_reading(ace, owner, me))
}

fn grants_others_reading(ace: &str, owner: &str, me: &str) -> bool {
    let fields: Vec<&str> = ace.split(';').collect();
    let [kind, flags, rights, _, _, sid, ..] = fields.as_slice() else {
        return false;
    };
    let allows = matches!(*kind, "A" | "OA" | "XA" | "ZA");
    let inherit_only = two_letter_codes(flags).any(|flag| flag == "IO");
    let trusted = *sid == me || *sid == owner || TRUSTED.contains(sid);
    allows && !inherit_only && !trusted && reads(rights)
}

/// The text after `tag` (`O:`, `D:`) up to the next part of the descriptor.
fn part<'a>(sddl: &'a str, tag: &str) -> Option<&'a str> {
    let start = find_tag(sddl, tag)? + tag.len();
    let rest = &sddl[start..];
    let end = ["O:", "G:", "D:", "S:"]
        .iter()
        .filter_map(|next| find_tag(rest, next))
        .min()
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// Where `tag` starts a part: outside any ACE's parentheses.
fn find_tag(sddl: &str, tag: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (at, c) in sddl.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 && sddl[at..].starts_with(tag) => return Some(at),
            _ => {}
        }
    }
    None
}

/// Whether `rights` (a hexadecimal mask or two-letter codes) include reading the data.
fn reads(rights: &str) -> bool {
    let reading = FILE_READ_DATA | GENERIC_READ | GENERIC_ALL;
    if let Some(hex) = rights
        .strip_prefix("0x")
        .or_else(|| rights.strip_prefix("0X"))
    {
        return u32::from_str_radix(hex, 16).map_or(true, |mask| mask & reading != 0);
    }
    two_letter_codes(rights).any(|code| match code {
        // FILE_READ_DATA is the directory service's "create child" bit, and is written so.
        "CC" | "GR" | "GA" | "FR" | "FA" | "KR" | "KA" => true,
        "DC" | "LC" | "SW" | "RP" | "WP" | "DT" | "LO" | "CR" | "SD" | "RC" | "WD" | "WO"
        | "GW" | "GX" | "FW" | "FX" | "KW" | "KX" | "NR" | "NW" | "NX" => false,
        // Unknown: say it may read.
        _ => true,
    })
}

fn two_letter_codes(text: &str) -> impl Iterator<Item = &str> {
    (0..text.len() / 2).filter_map(move |i| text.get(2 * i..2 * i + 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "S-1-5-21-1-2-3-1001";

    fn others(sddl: &str) -> bool {
        lets_others_read(sddl, ME)
    }

    #[test]
    fn the_owner_this_account_and_system_are_not_others() {
        assert!(!others(&format!(
            "O:{ME}D:P(A;;FA;;;{ME})(A;;FA;;;SY)(A;;FA;;;BA)"
        )));
        assert!(!others(
            "O:S-1-5-21-9-1002D:P(A;;FA;;;S-1-5-21-9-1002)(A;;FA;;;OW)"
        ));
        assert!(!others("O:BAD:P(A;OICI;FA;;;BA)(A;OICI;FA;;;SY)"));
        // What Wine derives from mode 0600, and Windows' profile folders.
        assert!(!others(&format!("O:{ME}D:(A;;FA;;;SY)(A;;FA;;;{ME})")));
        assert!(!others(&format!(
            "O:{ME}D:(A;OICIID;FA;;;SY)(A;OICIID;FA;;;BA)(A;OICIID;FA;;;{ME})"
        )));
    }

    #[test]
    fn everyone_users_and_other_accounts_are_others() {
        // Wine's view of mode 0644; C:\ProgramData's Users entry; authenticated users.
        assert!(others(&format!(
            "O:{ME}D:(A;;FA;;;SY)(A;;FA;;;{ME})(A;;0x1200a9;;;WD)"
        )));
        assert!(others(&format!(
            "O:{ME}D:AI(A;ID;FA;;;{ME})(A;OICIID;0x1200a9;;;BU)"
        )));
        assert!(others(&format!("O:{ME}D:(A;;GR;;;AU)")));
        assert!(others(&format!("O:{ME}D:(A;;CC;;;S-1-5-21-1-2-3-1003)")));
        assert!(others(&format!("O:{ME}D:(A;;FA;;;S-1-5-21-1-2-3-1003)")));
        assert!(others(&format!("O:{ME}D:(OA;;GA;;;WD)")));
    }

    #[test]
    fn writing_passing_on_and_denying_are_not_reading() {
        assert!(!others(&format!("O:{ME}D:P(A;;FA;;;{ME})(A;;FW;;;WD)")));
        assert!(!others(&format!(
            "O:{ME}D:P(A;;FA;;;{ME})(A;;0x120116;;;WD)"
        )));
        assert!(!others(&format!(
            "O:{ME}D:P(A;;FA;;;{ME})(A;OICIIO;FA;;;WD)"
        )));
        assert!(!others(&format!("O:{ME}D:P(A;;FA;;;{ME})(D;;FA;;;WD)")));
        assert!(!others(&format!("O:{ME}D:P(A;;FA;;;{ME})(AU;SA;FA;;;WD)")));
    }

    #[test]
    fn a_null_or_missing_acl_lets_everyone_in_and_an_empty_one_nobody() {
        assert!(others(&format!("O:{ME}D:NO_ACCESS_CONTROL")));
        assert!(others(&format!("O:{ME}")));
        assert!(!others(&format!("O:{ME}D:P")));
        assert!(!others(&format!(
            "O:{ME}G:BAD:P(A;;FA;;;{ME})S:(AU;SA;FA;;;WD)"
        )));
        // A right nobody knows may read.
        assert!(others(&format!("O:{ME}D:(A;;ZZ;;;WD)")));
        assert!(others(&format!("O:{ME}D:(A;;0xnot;;;WD)")));
    }
}
