//! strata's ownership marks as AWS tags, and deterministic identifiers.

use std::collections::BTreeMap;

use strata_sdk::{
    Address, OWNERSHIP_ADDRESS_KEY, OWNERSHIP_ENV_KEY, OWNERSHIP_MANAGED_BY_KEY, OWNERSHIP_MANAGED_BY_VALUE,
    OWNERSHIP_PROJECT_KEY, Ownership,
};

/// Who strata is acting for: the project and environment whose marks objects carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerMarks {
    pub project: String,
    /// `default` when no environment is selected.
    pub env: String,
}

impl OwnerMarks {
    pub fn new(project: impl Into<String>, env: impl Into<String>) -> Self {
        OwnerMarks { project: project.into(), env: env.into() }
    }

    /// The four ownership tags for one resource.
    pub fn tags_for(&self, address: &Address) -> BTreeMap<String, String> {
        BTreeMap::from([
            (OWNERSHIP_MANAGED_BY_KEY.to_string(), OWNERSHIP_MANAGED_BY_VALUE.to_string()),
            (OWNERSHIP_PROJECT_KEY.to_string(), self.project.clone()),
            (OWNERSHIP_ENV_KEY.to_string(), self.env.clone()),
            (OWNERSHIP_ADDRESS_KEY.to_string(), address.to_string()),
        ])
    }

    /// Whether remote tags carry our marks for this address.
    pub fn ownership(&self, address: &Address, tags: &BTreeMap<String, String>) -> Ownership {
        let want = self.tags_for(address);
        let mismatched: Vec<String> = want
            .iter()
            .filter(|(k, v)| tags.get(*k) != Some(*v))
            .map(|(k, v)| match tags.get(k) {
                Some(have) => format!("{k}={have} (expected {v})"),
                None => format!("{k} missing"),
            })
            .collect();
        if mismatched.is_empty() {
            Ownership::Ours
        } else {
            Ownership::Foreign { detail: format!("ownership tags do not match: {}", mismatched.join(", ")) }
        }
    }
}

pub use strata_sdk::is_ownership_key;

/// User tags: remote tags without the ownership marks.
pub fn user_tags(tags: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    tags.iter().filter(|(k, _)| !is_ownership_key(k)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// A stable 128-bit FNV-1a digest, hex encoded (not cryptographic: only for identifiers).
pub fn stable_digest(input: &str) -> String {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    let mut h = OFFSET;
    for b in input.as_bytes() {
        h ^= u128::from(*b);
        h = h.wrapping_mul(PRIME);
    }
    format!("{h:032x}")
}

/// The CallerReference used when the attrs give none: derived from project, env and address,
/// so a retried create after a crash reuses it. Long ones are hashed to stay under 128 chars.
pub fn derived_caller_reference(marks: &OwnerMarks, address: &Address) -> String {
    let raw = format!("strata:{}:{}:{}", marks.project, marks.env, address);
    limit_reference(&raw)
}

/// Keeps a caller reference within CloudFront's limits (hashing the overflow away).
pub fn limit_reference(raw: &str) -> String {
    if raw.len() <= 128 {
        raw.to_string()
    } else {
        let mut cut = 80;
        while !raw.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}~{}", &raw[..cut], stable_digest(raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_needs_all_four_marks() {
        let m = OwnerMarks::new("shop", "prod");
        let a = Address::parse("cdn.assets").unwrap();
        let mut t = m.tags_for(&a);
        assert_eq!(m.ownership(&a, &t), Ownership::Ours);
        t.insert("team".into(), "web".into());
        assert_eq!(user_tags(&t).len(), 1);
        t.insert(OWNERSHIP_ENV_KEY.into(), "staging".into());
        assert!(matches!(m.ownership(&a, &t), Ownership::Foreign { detail } if detail.contains("staging")));
    }

    #[test]
    fn caller_references_are_stable_and_short() {
        let m = OwnerMarks::new("shop", "prod");
        let a = Address::parse("cdn.assets").unwrap();
        assert_eq!(derived_caller_reference(&m, &a), "strata:shop:prod:cdn.assets");
        let long = "x".repeat(300);
        let r = limit_reference(&long);
        assert!(r.len() <= 128);
        assert_eq!(r, limit_reference(&long));
        assert_ne!(stable_digest("a"), stable_digest("b"));
    }
}
