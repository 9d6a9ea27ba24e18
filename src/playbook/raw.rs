//! The playbook file as written, before validation.
//!
//! A step is a loose map (`key -> value`, both with positions) rather than a struct: one of its
//! keys is a module name, so serde's `deny_unknown_fields` cannot tell a misspelled keyword from
//! a module; `super::load` sorts the keys and words the errors. The file itself is either a map
//! (`vars`, `steps`, `handlers`) or, for files pulled in by `include`, a bare list of steps.

use std::fmt;

use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// One `- ...` item of `steps:` or `handlers:`.
pub(super) type RawStep = IndexMap<Spanned<String>, Spanned<serde_json::Value>>;

pub(super) type RawSteps = Vec<Spanned<RawStep>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPlaybook {
    #[serde(default)]
    pub vars: Option<Spanned<IndexMap<String, serde_json::Value>>>,
    #[serde(default)]
    pub steps: Option<Spanned<RawSteps>>,
    #[serde(default)]
    pub handlers: Option<Spanned<RawSteps>>,
    #[serde(default)]
    pub timeout: Option<Spanned<serde_json::Value>>,
    /// Every step's and handler's `become`, unless it says otherwise.
    #[serde(default, rename = "become")]
    pub r#become: Option<Spanned<serde_json::Value>>,
    #[serde(default)]
    pub become_user: Option<Spanned<serde_json::Value>>,
}

/// A whole file: a map with `steps:`, a bare list of steps, or nothing at all.
#[derive(Debug)]
pub(super) enum RawFile {
    Playbook(Box<RawPlaybook>),
    Steps(RawSteps),
    Empty,
}

impl<'de> Deserialize<'de> for RawFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FileVisitor;

        impl<'de> Visitor<'de> for FileVisitor {
            type Value = RawFile;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a map with `steps:` (and optional `vars:`, `handlers:`) or a list of steps",
                )
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawFile, A::Error> {
                RawPlaybook::deserialize(MapAccessDeserializer::new(map))
                    .map(|playbook| RawFile::Playbook(Box::new(playbook)))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<RawFile, A::Error> {
                RawSteps::deserialize(SeqAccessDeserializer::new(seq)).map(RawFile::Steps)
            }

            fn visit_unit<E: de::Error>(self) -> Result<RawFile, E> {
                Ok(RawFile::Empty)
            }

            fn visit_none<E: de::Error>(self) -> Result<RawFile, E> {
                Ok(RawFile::Empty)
            }
        }

        deserializer.deserialize_any(FileVisitor)
    }
}
