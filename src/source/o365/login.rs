//! What `lanceur o365 login` checks once signed in: that the folder can be read with the new
//! tokens, so that a missing permission shows now rather than at the first run.

use anyhow::{Context, Result};
use ureq::Agent;

use super::folder::resolve_folder;
use super::graph::{encode, Graph};
use super::{root, whole_run};
use crate::oauth::Tokens;
use crate::settings::o365::AccountConfig;
use crate::settings::oauth::LoginConfig;

/// Reads one mail of the folder; returns the mailbox and folder, for the login's last line.
pub fn check_login(config: &LoginConfig, account: &AccountConfig, agent: Agent) -> Result<String> {
    let mut tokens = Tokens::open(&config.oauth, &config.state_dir)?;
    tokens.mark_fresh();
    let mut graph = Graph::new(agent, &account.graph_url, tokens);
    let root = root(&graph, &account.mailbox);
    let folder = resolve_folder(&mut graph, &root, account)?;
    let probe = format!(
        "{root}/mailFolders/{}/messages?$select=id&$top=1",
        encode(&folder)
    );
    let reached = format!("{}:{}", account.mailbox.display(), account.folder);
    graph
        .get_json::<serde_json::Value>(&probe)
        .map_err(|err| whole_run(err, account))
        .with_context(|| format!("signed in, but cannot read {reached}"))?;
    Ok(reached)
}
