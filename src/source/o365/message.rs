//! A mail as Graph lists it: the fields lanceur selects, its size from PR_MESSAGE_SIZE, and how it
//! is named in messages and sidecars.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Message {
    pub(super) id: String,
    #[serde(default)]
    pub(super) subject: Option<String>,
    #[serde(default)]
    pub(super) received_date_time: Option<String>,
    #[serde(default)]
    pub(super) internet_message_id: Option<String>,
    #[serde(default)]
    pub(super) from: Option<Recipient>,
    #[serde(default)]
    pub(super) to_recipients: Option<Vec<Recipient>>,
    #[serde(default)]
    pub(super) is_read: Option<bool>,
    /// `Integer 0x0E08`, PR_MESSAGE_SIZE, when the listing asks for it.
    #[serde(default)]
    single_value_extended_properties: Vec<ExtendedProperty>,
}

#[derive(Debug, Clone, Deserialize)]
struct ExtendedProperty {
    #[serde(default)]
    id: String,
    #[serde(default)]
    value: Option<String>,
}

impl Message {
    /// The mail's size in bytes, from PR_MESSAGE_SIZE (`Integer 0x0E08`, which Graph may spell
    /// `Integer 0xe08`); 0 when Graph did not give it.
    pub(super) fn size(&self) -> u64 {
        self.single_value_extended_properties
            .iter()
            .find(|p| {
                p.id.to_ascii_lowercase()
                    .strip_prefix("integer 0x")
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    == Some(0x0E08)
            })
            .and_then(|p| p.value.as_deref()?.trim().parse().ok())
            .unwrap_or(0)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Recipient {
    pub(super) email_address: Option<EmailAddress>,
}

#[derive(Debug, Clone, Deserialize)]
pub(super) struct EmailAddress {
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) address: Option<String>,
}

/// `mail «Invoice 42» from adele@contoso.com, 2018-02-13T03:53:55Z`
pub(super) fn describe(message: &Message) -> String {
    let subject: String = message
        .subject
        .as_deref()
        .unwrap_or("")
        .chars()
        .take(80)
        .collect();
    let from = message
        .from
        .as_ref()
        .and_then(|r| r.email_address.as_ref())
        .and_then(|e| e.address.clone())
        .unwrap_or_default();
    format!(
        "mail «{subject}» from {from}, {}",
        message.received_date_time.as_deref().unwrap_or("undated")
    )
}

/// `Adele Vance <AdeleV@contoso.com>`, or the address alone.
pub(super) fn person(recipient: &Recipient) -> String {
    let Some(email) = &recipient.email_address else {
        return String::new();
    };
    let address = email.address.as_deref().unwrap_or("");
    match email.name.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() && name != address => format!("{name} <{address}>"),
        _ => address.to_string(),
    }
}

/// The whole mail's file name: its subject, or `message` when it has none.
pub(super) fn eml_stem(message: &Message) -> String {
    let subject: String = message
        .subject
        .as_deref()
        .unwrap_or("")
        .trim()
        .chars()
        .take(100)
        .collect();
    if subject.is_empty() {
        "message".to_string()
    } else {
        subject
    }
}
