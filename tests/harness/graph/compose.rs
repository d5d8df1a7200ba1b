//! The mails tests add to the fake's mailboxes: a subject, attachments of each kind, the raw MIME,
//! read or not, categories.

use super::Kind;

/// An attachment to add: kind, name, content type, inline, bytes.
pub(super) type Part = (Kind, String, Option<String>, bool, Vec<u8>);

/// A message to add, built by tests.
pub struct Mail {
    pub(super) subject: String,
    pub(super) from: (String, String),
    pub(super) read: bool,
    pub(super) attachments: Vec<Part>,
    pub(super) mime: Option<Vec<u8>>,
    pub(super) categories: Vec<String>,
    pub(super) size: Option<usize>,
}

impl Mail {
    pub fn new(subject: &str) -> Mail {
        Mail {
            subject: subject.to_string(),
            from: ("Adele Vance".into(), "AdeleV@contoso.com".into()),
            read: false,
            attachments: Vec::new(),
            mime: None,
            categories: Vec::new(),
            size: None,
        }
    }

    /// Sets PR_MESSAGE_SIZE, as a long body or many recipients would make it.
    pub fn size(mut self, bytes: usize) -> Mail {
        self.size = Some(bytes);
        self
    }

    pub fn category(mut self, name: &str) -> Mail {
        self.categories.push(name.into());
        self
    }

    pub fn file(mut self, name: &str, content_type: &str, bytes: &[u8]) -> Mail {
        self.attachments.push((
            Kind::File,
            name.into(),
            Some(content_type.into()),
            false,
            bytes.to_vec(),
        ));
        self
    }

    pub fn inline(mut self, name: &str, content_type: &str, bytes: &[u8]) -> Mail {
        self.attachments.push((
            Kind::File,
            name.into(),
            Some(content_type.into()),
            true,
            bytes.to_vec(),
        ));
        self
    }

    pub fn item(mut self, name: &str, mime: &[u8]) -> Mail {
        self.attachments
            .push((Kind::Item, name.into(), None, false, mime.to_vec()));
        self
    }

    pub fn reference(mut self, name: &str) -> Mail {
        self.attachments.push((
            Kind::Reference,
            name.into(),
            Some("application/vnd.openxmlformats-officedocument.wordprocessingml.document".into()),
            true,
            Vec::new(),
        ));
        self
    }

    pub fn read(mut self) -> Mail {
        self.read = true;
        self
    }

    pub fn mime(mut self, mime: &[u8]) -> Mail {
        self.mime = Some(mime.to_vec());
        self
    }
}
