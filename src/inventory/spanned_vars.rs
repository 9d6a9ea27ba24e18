//! Vars as written, every value with its place in the file.
//!
//! The model keeps vars as plain JSON values (what templates and modules read); the settings
//! tandem's own commands read from them (`settings`) must point at the exact line and column of
//! a bad value, so the loader first reads vars into this tree, checks the settings on it, then
//! turns it into JSON. Numbers keep what YAML said (a NaN or an infinity is still there to be
//! refused with its place, where a JSON value could not hold it).

use std::fmt;
use std::path::Path;

use indexmap::IndexMap;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::error::InventoryError;
use super::{Vars, pos};
use crate::source_file::one_line;

/// One level's vars (global, a cluster's, a node's), in file order.
pub type SpannedVars = IndexMap<String, Spanned<YamlValue>>;

/// Any YAML value, with the place of every nested value.
#[derive(Debug, Clone, PartialEq)]
pub enum YamlValue {
    Null,
    Bool(bool),
    Int(i64),
    /// Above `i64::MAX`.
    UInt(u64),
    /// As YAML wrote it: NaN and infinities included.
    Float(f64),
    String(String),
    Seq(Vec<Spanned<YamlValue>>),
    Map(IndexMap<String, Spanned<YamlValue>>),
}

impl YamlValue {
    /// How the value reads in a message: short, one line.
    pub fn shown(&self) -> String {
        let text = match self {
            YamlValue::Null => "null".to_string(),
            YamlValue::Bool(b) => b.to_string(),
            YamlValue::Int(i) => i.to_string(),
            YamlValue::UInt(u) => u.to_string(),
            YamlValue::Float(f) => shown_float(*f),
            YamlValue::String(s) => format!("'{}'", one_line(s)),
            YamlValue::Seq(_) => "a list".to_string(),
            YamlValue::Map(_) => "a mapping".to_string(),
        };
        const MAX: usize = 60;
        if text.chars().count() > MAX {
            let cut: String = text.chars().take(MAX).collect();
            format!("{cut}...")
        } else {
            text
        }
    }

    /// The JSON value templates and modules see. A NaN or an infinity has no JSON form: it is
    /// refused with its place (serde_json would have turned it into null).
    pub fn to_json(
        spanned: &Spanned<YamlValue>,
        path: &Path,
    ) -> Result<serde_json::Value, InventoryError> {
        use serde_json::Value as J;
        Ok(match &spanned.value {
            YamlValue::Null => J::Null,
            YamlValue::Bool(b) => J::Bool(*b),
            YamlValue::Int(i) => J::from(*i),
            YamlValue::UInt(u) => J::from(*u),
            YamlValue::Float(f) => match serde_json::Number::from_f64(*f) {
                Some(n) => J::Number(n),
                None => {
                    return Err(InventoryError::invalid(
                        path,
                        pos(&spanned.referenced),
                        format!(
                            "value {} is not a finite number: give a number (or quote it to make it \
                             text)",
                            shown_float(*f)
                        ),
                    ));
                }
            },
            YamlValue::String(s) => J::String(s.clone()),
            YamlValue::Seq(items) => J::Array(
                items
                    .iter()
                    .map(|item| YamlValue::to_json(item, path))
                    .collect::<Result<_, _>>()?,
            ),
            YamlValue::Map(map) => J::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), YamlValue::to_json(v, path)?)))
                    .collect::<Result<_, InventoryError>>()?,
            ),
        })
    }
}

fn shown_float(f: f64) -> String {
    if f.is_nan() {
        ".nan".to_string()
    } else if f.is_infinite() {
        if f > 0.0 { ".inf" } else { "-.inf" }.to_string()
    } else {
        f.to_string()
    }
}

/// One level's vars as the model keeps them.
pub fn to_vars(vars: &SpannedVars, path: &Path) -> Result<Vars, InventoryError> {
    vars.iter()
        .map(|(k, v)| Ok((k.clone(), YamlValue::to_json(v, path)?)))
        .collect()
}

/// The line each var of one level is written on.
pub fn lines(vars: &SpannedVars) -> super::VarLines {
    vars.iter()
        .map(|(k, v)| (k.clone(), v.referenced.line() as usize))
        .collect()
}

impl<'de> Deserialize<'de> for YamlValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = YamlValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<YamlValue, E> {
        Ok(YamlValue::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<YamlValue, E> {
        Ok(YamlValue::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<YamlValue, D::Error> {
        YamlValue::deserialize(d)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<YamlValue, E> {
        Ok(YamlValue::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<YamlValue, E> {
        Ok(YamlValue::Int(v))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<YamlValue, E> {
        Ok(match (i64::try_from(v), u64::try_from(v)) {
            (Ok(i), _) => YamlValue::Int(i),
            (_, Ok(u)) => YamlValue::UInt(u),
            // Beyond any integer a setting takes: kept as the (huge) number it is.
            _ => YamlValue::Float(v as f64),
        })
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<YamlValue, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => YamlValue::Int(i),
            Err(_) => YamlValue::UInt(v),
        })
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<YamlValue, E> {
        Ok(match u64::try_from(v) {
            Ok(u) => return self.visit_u64(u),
            Err(_) => YamlValue::Float(v as f64),
        })
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<YamlValue, E> {
        Ok(YamlValue::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<YamlValue, E> {
        Ok(YamlValue::String(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<YamlValue, E> {
        Ok(YamlValue::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<YamlValue, A::Error> {
        let nesting = Nesting::enter();
        let mut items = Vec::new();
        loop {
            let item = if nesting.spanned() {
                seq.next_element::<Spanned<YamlValue>>()?
            } else {
                seq.next_element::<YamlValue>()?.map(unplaced)
            };
            match item {
                Some(item) => items.push(item),
                None => return Ok(YamlValue::Seq(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<YamlValue, A::Error> {
        let nesting = Nesting::enter();
        let mut out = IndexMap::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = if nesting.spanned() {
                map.next_value::<Spanned<YamlValue>>()?
            } else {
                unplaced(map.next_value::<YamlValue>()?)
            };
            out.insert(key, value);
        }
        Ok(YamlValue::Map(out))
    }
}

/// Values nested deeper than this inside a var carry no place of their own: no setting lives
/// there, and a span per level costs stack (the parser's depth budget, 64, must be reached
/// without overflowing a 2 MiB thread stack).
const SPANNED_DEPTH: usize = 2;

thread_local! {
    /// How deep the value being read is inside the var (lists and mappings entered).
    static DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// One level of nesting, left when dropped (on errors too).
struct Nesting {
    depth: usize,
}

impl Nesting {
    fn enter() -> Nesting {
        let depth = DEPTH.with(|d| {
            d.set(d.get() + 1);
            d.get()
        });
        Nesting { depth }
    }

    fn spanned(&self) -> bool {
        self.depth <= SPANNED_DEPTH
    }
}

impl Drop for Nesting {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

fn unplaced(value: YamlValue) -> Spanned<YamlValue> {
    Spanned::new(
        value,
        serde_saphyr::Location::UNKNOWN,
        serde_saphyr::Location::UNKNOWN,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> SpannedVars {
        crate::source_file::parse(text).unwrap()
    }

    #[test]
    fn every_value_keeps_its_place_and_its_number() {
        let vars = parse("a: 1\nb: {within: 1e20}\nc: [x, -2.5]\nd: 18446744073709551615\n");
        assert_eq!(vars["a"].value, YamlValue::Int(1));
        assert_eq!(
            (vars["a"].referenced.line(), vars["a"].referenced.column()),
            (1, 4)
        );
        let YamlValue::Map(b) = &vars["b"].value else {
            panic!("{:?}", vars["b"])
        };
        assert_eq!(b["within"].value, YamlValue::Float(1e20));
        assert_eq!(b["within"].referenced.line(), 2);
        assert_eq!(b["within"].referenced.column(), 13);
        let YamlValue::Seq(c) = &vars["c"].value else {
            panic!()
        };
        assert_eq!(c[1].value, YamlValue::Float(-2.5));
        assert_eq!(vars["d"].value, YamlValue::UInt(u64::MAX));
    }

    #[test]
    fn yaml_nan_and_infinities_are_refused_by_the_parser_with_their_place() {
        let err = crate::source_file::parse::<SpannedVars>("a: 1\nb: [.nan]\n").unwrap_err();
        let err = InventoryError::from_yaml(Path::new("inv.yml"), &err);
        assert!(err.to_string().starts_with("inv.yml:2:5: "), "{err}");
    }

    #[test]
    fn json_form_keeps_values_and_refuses_a_non_finite_number() {
        let vars = parse("ok: [1, two, {x: true}]\n");
        let path = Path::new("inv.yml");
        assert_eq!(
            YamlValue::to_json(&vars["ok"], path).unwrap(),
            serde_json::json!([1, "two", {"x": true}])
        );
        let mut nan = vars["ok"].clone();
        nan.value = YamlValue::Float(f64::NAN);
        let err = YamlValue::to_json(&nan, path).unwrap_err();
        assert_eq!(
            err.to_string(),
            "inv.yml:1:5: value .nan is not a finite number: give a number (or quote it to make \
             it text)"
        );
    }
}
