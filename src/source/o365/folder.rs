//! Finding a folder: a well-known name (`inbox`, `archive`…) is used as it is; a path of display
//! names (`Inbox/Factures`) is resolved one level at a time, each name looked up among the children
//! of the previous folder (`childFolders?$filter=displayName eq '…'`), the first one among the
//! top-level folders unless it is a well-known name.

use anyhow::{anyhow, Context, Result};
use serde::Deserialize;

use super::graph::{encode, odata_string, Graph};
use super::whole_run;
use crate::exit::Failure;
use crate::settings::o365::AccountConfig;

/// Folder names Graph knows in every language.
const WELL_KNOWN: [&str; 16] = [
    "inbox",
    "archive",
    "drafts",
    "sentitems",
    "deleteditems",
    "junkemail",
    "outbox",
    "msgfolderroot",
    "clutter",
    "conversationhistory",
    "scheduled",
    "searchfolders",
    "syncissues",
    "conflicts",
    "localfailures",
    "serverfailures",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Folder {
    id: String,
    #[serde(default)]
    display_name: String,
}

pub fn resolve_folder(graph: &mut Graph, root: &str, account: &AccountConfig) -> Result<String> {
    resolve(graph, root, account, &account.folder)
}

/// A folder's path segment: a well-known name as is, a path of display names resolved one level
/// at a time to the last folder's id.
pub fn resolve(
    graph: &mut Graph,
    root: &str,
    account: &AccountConfig,
    path: &str,
) -> Result<String> {
    let mut parent: Option<String> = None;
    for (depth, part) in path.split('/').map(str::trim).enumerate() {
        let lower = part.to_ascii_lowercase();
        if depth == 0 && WELL_KNOWN.contains(&lower.as_str()) {
            parent = Some(lower);
            continue;
        }
        let filter = encode(&format!("displayName eq {}", odata_string(part)));
        let url = match &parent {
            None => format!("{root}/mailFolders?$filter={filter}"),
            Some(id) => format!(
                "{root}/mailFolders/{}/childFolders?$filter={filter}",
                encode(id)
            ),
        };
        let folders: Vec<Folder> = graph
            .get_all(&url)
            .map_err(|err| whole_run(err, account))
            .with_context(|| format!("cannot look for folder {path:?}"))?;
        let found = folders
            .into_iter()
            .find(|f| f.display_name.to_lowercase() == part.to_lowercase())
            .ok_or_else(|| {
                anyhow!(
                    "no folder {part:?} in {} (looking for {path:?}); check the name, or give a \
                     well-known one such as inbox",
                    parent.as_deref().unwrap_or("the top of the mailbox")
                )
            })
            .context(Failure::Source)?;
        parent = Some(found.id);
    }
    parent
        .ok_or_else(|| anyhow!("empty folder path"))
        .context(Failure::Usage)
}
