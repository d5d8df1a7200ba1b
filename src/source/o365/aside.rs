//! What the Office 365 source does with mails it does not deposit. An unmatched mail is left as it
//! is, or marked read (`--unmatched seen`), never moved or deleted. A mail set aside (it failed
//! `--set-aside-after` runs in a row) is kept whole (`$value`) under the state folder, then moved
//! to `--set-aside-to`, or else marked with the Outlook category `LanceurSetAside`, which Outlook
//! shows and searches and which survives moves (Graph's `categories`). `restore` undoes either for
//! `lanceur retry`; the immutable id, the journal key, did not change.
//!
//! A PATCH of `categories` replaces the whole collection, so the mail's own categories are read
//! just before (someone may have added one since the listing) and kept.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::json;

use super::graph::{encode, Method};
use super::{for_item, O365Source};
use crate::exit::Failure;
use crate::item::{Aside, Item, ItemError, ItemKey};

/// The category of a mail set aside where it is.
pub const CATEGORY: &str = "LanceurSetAside";

#[derive(Deserialize)]
struct Categories {
    #[serde(default)]
    categories: Vec<String>,
}

impl O365Source {
    /// `--unmatched seen` marks an unmatched mail read; otherwise it is left untouched.
    pub(super) fn mark_unmatched(&mut self, items: &[&Item]) -> Vec<Result<(), ItemError>> {
        items
            .iter()
            .map(|item| {
                if !self.config.unmatched_read {
                    return Ok(());
                }
                let url = self.message_url(&self.messages[item.slot].id);
                self.graph
                    .call(Method::Patch, &url, Some(&json!({ "isRead": true })))
                    .context("cannot mark it read")
                    .map_err(for_item)
            })
            .collect()
    }

    /// Keeps the whole mail under `keep`, then moves it to `--set-aside-to` or gives it the
    /// category.
    pub(super) fn set_mail_aside(&mut self, item: &Item, keep: &Path) -> Result<Aside, ItemError> {
        let id = self.messages[item.slot].id.clone();
        let url = format!("{}/$value", self.message_url(&id));
        match self.graph.download(&url, keep) {
            Ok((path, _)) => {
                path.persist(keep.join("message.eml"))
                    .map_err(|err| ItemError::stop(Failure::Cold, anyhow::anyhow!(err.error)))?;
            }
            Err(err) => match for_item(err) {
                ItemError::Stop(failure, err) => return Err(ItemError::Stop(failure, err)),
                other => log::warn!("cannot keep a copy of {}: {other}", item.label),
            },
        }
        let Some(destination) = self.set_aside_to.clone() else {
            self.change_categories(&id, |categories| {
                if !categories.iter().any(|c| c == CATEGORY) {
                    categories.push(CATEGORY.to_string());
                }
            })
            .with_context(|| format!("cannot give it the category {CATEGORY}"))
            .map_err(for_item)?;
            return Ok(Aside {
                how: format!("marked with the Outlook category {CATEGORY}"),
                place: None,
            });
        };
        self.graph
            .call(
                Method::Post,
                &format!("{}/move", self.message_url(&id)),
                Some(&json!({ "destinationId": destination })),
            )
            .context("cannot move it to --set-aside-to")
            .map_err(for_item)?;
        Ok(Aside {
            how: format!(
                "moved to {}",
                self.config.set_aside_to.as_deref().unwrap_or_default()
            ),
            place: Some(destination),
        })
    }

    /// Moves a mail set aside back into the folder this launcher reads (`place` is where it went),
    /// or takes the category off.
    pub(super) fn restore_mail(&mut self, key: &ItemKey, place: Option<&str>) -> Result<()> {
        let id = key.0.strip_prefix("o365:").unwrap_or(&key.0);
        if place.is_none() {
            return self
                .change_categories(id, |categories| categories.retain(|c| c != CATEGORY))
                .with_context(|| format!("cannot take the category {CATEGORY} off"));
        }
        let url = format!("{}/move", self.message_url(id));
        let folder = self.folder.clone();
        self.graph
            .call(
                Method::Post,
                &url,
                Some(&json!({ "destinationId": folder })),
            )
            .context("cannot move it back")
    }

    /// Reads a mail's categories, lets `change` edit them, and writes them back if they changed.
    fn change_categories(&mut self, id: &str, change: impl FnOnce(&mut Vec<String>)) -> Result<()> {
        let url = self.message_url(id);
        let current: Categories = self
            .graph
            .get_json(&format!("{url}?$select={}", encode("categories")))?;
        let mut categories = current.categories.clone();
        change(&mut categories);
        if categories == current.categories {
            return Ok(());
        }
        self.graph.call(
            Method::Patch,
            &url,
            Some(&json!({ "categories": categories })),
        )
    }
}
