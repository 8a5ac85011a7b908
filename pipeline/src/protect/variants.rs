//! The name-variant and nickname table (`config/name_variants.toml`).

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use crate::error::{Error, Result};

/// The table shipped with braid.
pub const BUILTIN: &str = include_str!("../../../config/name_variants.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    version: String,
    #[serde(default)]
    variants: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    nicknames: BTreeMap<String, Vec<String>>,
}

/// Lookup from a folded name to the groups it belongs to.
#[derive(Debug, Default)]
pub struct NameVariants {
    pub version: String,
    variant: HashMap<String, Vec<String>>,
    nickname: HashMap<String, Vec<String>>,
}

impl NameVariants {
    /// Load the table at `path`, or the built-in one.
    pub fn load(path: Option<&str>) -> Result<NameVariants> {
        let (text, origin) = match path {
            Some(p) => (
                std::fs::read_to_string(crate::config::resolve(p))
                    .map_err(|e| Error::config(p, format!("cannot read name variants: {e}")))?,
                p.to_string(),
            ),
            None => (BUILTIN.to_string(), "config/name_variants.toml (built in)".to_string()),
        };
        Self::parse(&text, &origin)
    }

    pub fn builtin() -> &'static NameVariants {
        static T: std::sync::OnceLock<NameVariants> = std::sync::OnceLock::new();
        T.get_or_init(|| Self::parse(BUILTIN, "builtin").expect("built-in name table parses"))
    }

    pub fn parse(text: &str, origin: &str) -> Result<NameVariants> {
        let f: File = toml::from_str(text).map_err(|e| Error::config(origin, e.to_string()))?;
        let mut out = NameVariants { version: f.version, ..Default::default() };
        for (table, target) in [(&f.variants, &mut out.variant), (&f.nicknames, &mut out.nickname)] {
            for (label, names) in table {
                let members = std::iter::once(label).filter(|l| !l.contains(' ')).chain(names.iter());
                for n in members {
                    let folded = super::normalize::fold(n);
                    let groups = target.entry(folded).or_default();
                    if !groups.contains(label) {
                        groups.push(label.clone());
                    }
                }
            }
        }
        Ok(out)
    }

    /// Groups of spellings of the same name that `name` belongs to.
    pub fn variant_groups(&self, name: &str) -> &[String] {
        self.variant.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Nickname and cognate groups that `name` belongs to.
    pub fn nickname_groups(&self, name: &str) -> &[String] {
        self.nickname.get(name).map(Vec::as_slice).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn muhammad_spellings_are_one_name() {
        let t = NameVariants::builtin();
        let g = t.variant_groups("muhammad");
        for v in ["mohammed", "mohamed", "mohamad", "maxamed"] {
            assert!(t.variant_groups(v).iter().any(|x| g.contains(x)), "{v}");
        }
    }

    #[test]
    fn nicknames_cover_english_spanish_and_cognates() {
        let t = NameVariants::builtin();
        let shares = |a: &str, b: &str| t.nickname_groups(a).iter().any(|g| t.nickname_groups(b).contains(g));
        assert!(shares("william", "bill"));
        assert!(shares("francisco", "paco"));
        assert!(shares("guadalupe", "lupe"));
        assert!(shares("yusuf", "joseph"));
        assert!(!shares("william", "paco"));
    }
}
