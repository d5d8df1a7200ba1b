//! Finding the envelopes in the source folder, without taking one that is still being written.
//!
//! - A **folder** is an envelope once its completion marker (`fichier_termine.txt`, which Pastell's
//!   depot connector writes last) is in it, and nothing in it changed for `--min-age`.
//! - A **ZIP** or **tar.gz** file is an envelope by itself.
//! - **Loose files** are grouped: a file that names others (a Pastell metadata file, an ACTES
//!   form or S²LOW envelope, a PES and the PDF of the same name) forms an envelope with the files it
//!   names, and with the other heads that name the same files (an acte, its acknowledgement and its
//!   PDF are one envelope). A group waits while a file it requires is missing or young. A file no
//!   head names is left alone: it may be the first part of an envelope whose head comes last.
//! - An interrupted acknowledgement of loose files (a hidden `.lanceur-ack-*` folder holding a
//!   manifest, see `mod.rs`) is listed under the key it was deposited with, so the cycle finishes
//!   acknowledging it instead of depositing its files again.
//!
//! The usual rules of folders apply to every file (`folder.rs`): in-progress names, hidden files,
//! `--min-age`; `fetch` checks size and time again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use super::bundle::{self, Class};
use super::{actes, helios, pastell, xml, Envelope, Shape, STAGING_PREFIX};
use crate::exit::Failure;
use crate::item::Skipped;
use crate::settings::AdullactConfig;
use crate::source::folder::{self, passed_over_by_name, Grace, Snapshot};

pub fn scan(config: &AdullactConfig, now: SystemTime) -> Result<(Vec<Envelope>, Vec<Skipped>)> {
    let root = &config.folder;
    let grace = Grace(config.grace_period);
    let entries = fs::read_dir(root)
        .with_context(|| format!("cannot list {}", root.display()))
        .context(Failure::Source)?;
    let mut envelopes = Vec::new();
    let mut skipped = Vec::new();
    let mut loose: BTreeMap<String, Snapshot> = BTreeMap::new();
    let mut young: BTreeSet<String> = BTreeSet::new();
    let mut staging = Vec::new();
    for entry in entries {
        let entry = entry
            .with_context(|| format!("cannot list {}", root.display()))
            .context(Failure::Source)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_dir() && name.starts_with(STAGING_PREFIX) {
            staging.push(path);
            continue;
        }
        if let Some(reason) = passed_over_by_name(&name) {
            if !kind.is_dir() {
                skipped.push(Skipped::routine(&name, reason));
            }
            continue;
        }
        if kind.is_dir() {
            let is_ours = [&config.archive, &config.failed]
                .into_iter()
                .flatten()
                .any(|f| folder::is_same_folder(f, &path));
            if !is_ours {
                match folder_envelope(config, &path, &name, now) {
                    Ok(envelope) => envelopes.push(envelope),
                    Err(skip) => skipped.push(skip),
                }
            }
            continue;
        }
        if !kind.is_file() {
            let reason = match folder::link_reason(&kind) {
                Some(link) => format!("{link}; envelopes are files and folders"),
                None => "not a regular file (a special file); envelopes are files and folders"
                    .to_string(),
            };
            let changed = fs::symlink_metadata(&path)
                .and_then(|m| m.modified())
                .unwrap_or(now);
            skipped.push(grace.waiting(now, &name, &reason, changed));
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if folder::is_hidden_by_attribute(&meta) {
            skipped.push(Skipped::routine(&name, "hidden file"));
            continue;
        }
        let snapshot = Snapshot::new(path, name.clone(), &meta);
        if let Some(reason) = folder::too_young(now, snapshot.modified, config.min_age) {
            skipped.push(Skipped::routine(&name, reason));
            young.insert(name);
            continue;
        }
        if is_archive_name(&name) {
            let tar = !name.to_lowercase().ends_with(".zip");
            envelopes.push(single(
                root,
                Shape::Archive {
                    file: snapshot,
                    tar,
                },
                &name,
            ));
        } else {
            loose.insert(name, snapshot);
        }
    }
    for path in staging {
        if let Some(envelope) = pending_acknowledgement(&path, &mut loose) {
            envelopes.push(envelope);
        }
    }
    group_loose(
        root,
        loose,
        &young,
        (grace, now),
        &mut envelopes,
        &mut skipped,
    );
    // Oldest first; the name breaks ties so the order is the same on every run.
    envelopes.sort_by(|a, b| a.newest.cmp(&b.newest).then_with(|| a.name.cmp(&b.name)));
    Ok((envelopes, skipped))
}

pub fn is_archive_name(name: &str) -> bool {
    let lower = name.to_lowercase();
    lower.ends_with(".zip") || lower.ends_with(".tar.gz") || lower.ends_with(".tgz")
}

/// An envelope whose files are `files` (one, or those of a folder), keyed by the envelope's path,
/// total size and newest modification.
fn envelope_of(root: &Path, shape: Shape, name: &str, files: &[&Snapshot]) -> Envelope {
    let size = files.iter().map(|f| f.size).sum();
    let newest = files.iter().map(|f| f.modified).max().unwrap_or(UNIX_EPOCH);
    let key = format!(
        "adullact:{}:{}:{}",
        root.join(name).to_string_lossy(),
        size,
        crate::clock::unix_nanos(newest)
    );
    Envelope {
        shape,
        name: name.to_string(),
        key,
        size,
        newest,
    }
}

fn single(root: &Path, shape: Shape, name: &str) -> Envelope {
    let Shape::Archive { file, .. } = &shape else {
        unreachable!("single is for archives")
    };
    let file = file.clone();
    envelope_of(root, shape, name, &[&file])
}

/// A folder envelope, or why it is not one yet.
fn folder_envelope(
    config: &AdullactConfig,
    path: &Path,
    name: &str,
    now: SystemTime,
) -> Result<Envelope, Skipped> {
    let grace = Grace(config.grace_period);
    let label = format!("{name}/");
    let folder_changed = fs::metadata(path).and_then(|m| m.modified()).unwrap_or(now);
    let entries = match fs::read_dir(path) {
        Ok(entries) => entries,
        Err(err) => {
            let reason = format!("cannot list it ({err})");
            return Err(grace.waiting(now, &label, &reason, folder_changed));
        }
    };
    let mut files = Vec::new();
    let mut marker = None;
    let mut odd = Vec::new();
    let mut newest = folder_changed;
    for entry in entries.flatten() {
        let inner = entry.file_name().to_string_lossy().into_owned();
        let relative = format!("{name}/{inner}");
        let Ok(meta) = entry.metadata() else { continue };
        let kind = entry.file_type().map(|k| k.is_file()).unwrap_or(false) && meta.is_file();
        if !kind {
            odd.push(inner);
            continue;
        }
        let snapshot = Snapshot::new(entry.path(), relative, &meta);
        newest = newest.max(snapshot.modified);
        if inner.eq_ignore_ascii_case(&config.marker) {
            marker = Some(snapshot);
            continue;
        }
        match passed_over_by_name(&inner) {
            Some(reason) if reason.starts_with("temporary") => {
                let reason = format!("{inner} is still being written");
                return Err(grace.waiting(now, &label, &reason, snapshot.modified));
            }
            // Hidden files and system clutter are not documents; they go with the folder.
            Some(_) => continue,
            None => files.push(snapshot),
        }
    }
    let Some(marker) = marker else {
        let reason = format!(
            "no completion marker {} yet (Pastell's depot connector writes it last, when \"create \
             a completion file\" is on; or give --marker)",
            config.marker
        );
        return Err(grace.waiting(now, &label, &reason, newest));
    };
    files.sort_by(|a, b| a.relative.cmp(&b.relative));
    let all: Vec<&Snapshot> = files.iter().chain([&marker]).collect();
    let newest = all.iter().map(|f| f.modified).max().unwrap_or(UNIX_EPOCH);
    if let Some(reason) = folder::too_young(now, newest, config.min_age) {
        return Err(Skipped::routine(label, reason));
    }
    let mut envelope = envelope_of(
        &config.folder,
        Shape::Folder {
            folder: path.to_path_buf(),
            files: Vec::new(),
            marker: marker.clone(),
            odd,
        },
        name,
        &all,
    );
    drop(all);
    if let Shape::Folder { files: slot, .. } = &mut envelope.shape {
        *slot = files;
    }
    Ok(envelope)
}

/// What a head file names: files it requires, and files that join it only when present.
#[derive(Default)]
struct Claims {
    required: Vec<String>,
    optional: Vec<String>,
}

/// The files a loose head names; `None` when the file is not a head.
fn claims_of(snapshot: &Snapshot, names: &BTreeSet<String>) -> Option<Claims> {
    let name = snapshot.relative.as_str();
    let head = read_head(&snapshot.path)?;
    let class = bundle::classify(name, &head);
    let file = bundle::File {
        path: name.to_string(),
        body: bundle::Body::Disk {
            path: snapshot.path.clone(),
        },
    };
    match class {
        Class::Flux | Class::Yaml | Class::Json => match pastell::read(&file, &class, names) {
            Ok(Some(metadata)) => Some(Claims {
                required: metadata.named_files(),
                optional: Vec::new(),
            }),
            Ok(None) => None,
            // A broken metadata file is still an envelope: fetching it reports why.
            Err(_) => Some(Claims::default()),
        },
        Class::Actes(_) => match fs::File::open(&snapshot.path)
            .map_err(anyhow::Error::from)
            .and_then(|f| actes::named_files(std::io::BufReader::new(f)))
        {
            Ok((required, optional)) => Some(Claims { required, optional }),
            Err(_) => Some(Claims::default()),
        },
        Class::Pes(_) => Some(Claims {
            required: Vec::new(),
            optional: helios::visual_of(name).into_iter().collect(),
        }),
        Class::Chorus(_) | Class::Invoice(_) => Some(Claims::default()),
        Class::Other => None,
    }
}

fn read_head(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::new();
    fs::File::open(path)
        .and_then(|f| f.take(4096).read_to_end(&mut head))
        .ok()?;
    Some(head)
}

/// Why a loose file that no envelope file names is not taken: what it is, as far as lanceur can
/// tell.
fn unnamed(snapshot: &Snapshot) -> String {
    let head = match fs::File::open(&snapshot.path) {
        Ok(_) => read_head(&snapshot.path).unwrap_or_default(),
        Err(err) => return format!("cannot be read ({err}); left in place"),
    };
    match xml::sniff_root(&head) {
        Some(root) => format!(
            "an XML file whose root element {root} lanceur does not know (it knows ACTES, PES V2, \
             Chorus Pro, CII and UBL invoices, Pastell metadata), and that no envelope file names"
        ),
        None => "not named by any envelope file (metadata, ACTES, PES or Chorus XML); left until \
                 one names it (plain files are for lanceur dir)"
            .to_string(),
    }
}

/// Groups loose files around the heads that name them (connected components of "names").
fn group_loose(
    root: &Path,
    loose: BTreeMap<String, Snapshot>,
    young: &BTreeSet<String>,
    (grace, now): (Grace, SystemTime),
    envelopes: &mut Vec<Envelope>,
    skipped: &mut Vec<Skipped>,
) {
    let names: BTreeSet<String> = loose.keys().cloned().collect();
    let index: HashMap<&str, usize> = loose
        .keys()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let snapshots: Vec<&Snapshot> = loose.values().collect();
    let mut parent: Vec<usize> = (0..snapshots.len()).collect();
    fn find(parent: &mut [usize], i: usize) -> usize {
        let mut i = i;
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut heads = BTreeSet::new();
    let mut waits: HashMap<usize, Vec<String>> = HashMap::new();
    for (i, snapshot) in snapshots.iter().enumerate() {
        let Some(claims) = claims_of(snapshot, &names) else {
            continue;
        };
        heads.insert(i);
        for (claimed, required) in claims
            .required
            .iter()
            .map(|c| (c, true))
            .chain(claims.optional.iter().map(|c| (c, false)))
        {
            match index.get(claimed.as_str()) {
                Some(&j) => {
                    let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                    parent[a] = b;
                }
                None if required => {
                    let state = if young.contains(claimed) {
                        "still being written"
                    } else {
                        "not there yet"
                    };
                    waits
                        .entry(i)
                        .or_default()
                        .push(format!("{claimed} ({state})"));
                }
                None => {}
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..snapshots.len() {
        let r = find(&mut parent, i);
        groups.entry(r).or_default().push(i);
    }
    for members in groups.into_values() {
        let Some(&head) = members.iter().find(|m| heads.contains(m)) else {
            for m in members {
                let snapshot = snapshots[m];
                let reason = unnamed(snapshot);
                skipped.push(grace.waiting(now, &snapshot.relative, &reason, snapshot.modified));
            }
            continue;
        };
        let missing: Vec<String> = members
            .iter()
            .flat_map(|m| waits.get(m).cloned().unwrap_or_default())
            .collect();
        if !missing.is_empty() {
            let newest = members
                .iter()
                .map(|&m| snapshots[m].modified)
                .max()
                .unwrap_or(UNIX_EPOCH);
            let reason = format!("waits for the files it names: {}", missing.join(", "));
            skipped.push(grace.waiting(now, &snapshots[head].relative, &reason, newest));
            continue;
        }
        // Heads first, so the envelope is named after the file that describes it.
        let mut ordered: Vec<usize> = members
            .iter()
            .copied()
            .filter(|m| heads.contains(m))
            .collect();
        ordered.extend(members.iter().copied().filter(|m| !heads.contains(m)));
        let files: Vec<Snapshot> = ordered.iter().map(|&m| snapshots[m].clone()).collect();
        let name = files[0].relative.clone();
        let refs: Vec<&Snapshot> = files.iter().collect();
        let mut envelope = envelope_of(
            root,
            Shape::Loose {
                files: Vec::new(),
                staging: None,
            },
            &name,
            &refs,
        );
        envelope.shape = Shape::Loose {
            files,
            staging: None,
        };
        envelopes.push(envelope);
    }
}

/// The envelope of an interrupted acknowledgement of loose files, under its original key. Its
/// members still at the top level are taken out of `loose`, so they do not form a new envelope.
fn pending_acknowledgement(
    staging: &Path,
    loose: &mut BTreeMap<String, Snapshot>,
) -> Option<Envelope> {
    let manifest = super::Manifest::read(staging)?;
    let mut files = Vec::new();
    for member in &manifest.members {
        let inside = staging.join(member);
        if let Ok(meta) = fs::metadata(&inside) {
            files.push(Snapshot::new(inside, member.clone(), &meta));
        } else if let Some(snapshot) = loose.remove(member) {
            files.push(snapshot);
        }
    }
    if files.is_empty() {
        return None;
    }
    let size = files.iter().map(|f| f.size).sum();
    let newest = files.iter().map(|f| f.modified).max().unwrap_or(UNIX_EPOCH);
    Some(Envelope {
        name: manifest.members[0].clone(),
        shape: Shape::Loose {
            files,
            staging: Some(staging.to_path_buf()),
        },
        key: manifest.key,
        size,
        newest,
    })
}

/// Every `.lanceur-ack-*` folder of the source folder.
pub fn staging_folders(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(root) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(STAGING_PREFIX))
        .filter(|e| e.file_type().is_ok_and(|k| k.is_dir()))
        .map(|e| e.path())
        .collect()
}
