//! `lanceur adullact`: a folder of Libriciel/Adullact envelopes.

use std::path::PathBuf;
use std::time::Duration;

use crate::extract::archive::Limits;

#[derive(Debug, Clone)]
pub struct AdullactConfig {
    /// Absolute.
    pub folder: PathBuf,
    /// The type `--type` demands; `None` recognises each envelope's.
    pub kind: Option<Kind>,
    pub min_age: Duration,
    /// How long a file that cannot be taken as it stands may stay unchanged before each run
    /// reports it (`--grace-period`).
    pub grace_period: Duration,
    pub archive: Option<PathBuf>,
    /// Where envelopes that cannot be decoded are moved; `None` leaves them in place.
    pub failed: Option<PathBuf>,
    /// The completion marker of folder envelopes.
    pub marker: String,
    pub limits: Limits,
}

/// The three types of envelope the seed names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Actes (collectivity ⇔ prefecture).
    ActeNature,
    /// PES V2 (collectivity ⇔ treasury).
    Helios,
    /// Chorus Pro invoices (collectivity ⇔ supplier).
    ChorusFact,
}

impl Kind {
    /// The seed's name of the type, as `ENVELOPE_TYPE` writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ActeNature => "acte_nature",
            Kind::Helios => "helios",
            Kind::ChorusFact => "chorus_fact",
        }
    }
}
