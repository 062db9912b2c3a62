use std::fmt;

use serde::{Deserialize, Serialize};

/// The stable name of one resource, as users type it (`--target`, `state mv`) and as it is keyed
/// in state.
///
/// An address is a dot-separated path of segments. The first segment is the spec section the
/// resource came from (`mesh`, `cdn`, `resources`, ...), the rest name it within that section:
/// `cdn.assets`, `mesh.api.virtual-service`, `resources.edge-config`. Segments may contain any
/// character except `.` and whitespace, so Kubernetes names (`a-b`, `ns/name`) fit.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Address(String);

/// Why a string is not a valid [`Address`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The string is empty.
    #[error("an address cannot be empty")]
    Empty,
    /// A segment between dots is empty (`a..b`, `.a`, `a.`).
    #[error("address `{address}` has an empty segment")]
    EmptySegment { address: String },
    /// The address has a single segment; it needs a section and a name.
    #[error("address `{address}` needs at least two segments, like `cdn.assets`")]
    TooShort { address: String },
    /// A segment contains whitespace or a character that cannot appear in an address.
    #[error("address `{address}` contains the invalid character {ch:?}")]
    InvalidChar { address: String, ch: char },
}

impl Address {
    /// Parses and validates an address.
    pub fn parse(s: &str) -> Result<Self, AddressError> {
        if s.is_empty() {
            return Err(AddressError::Empty);
        }
        if let Some(ch) = s.chars().find(|c| c.is_whitespace() || c.is_control() || matches!(c, '$' | '{' | '}')) {
            return Err(AddressError::InvalidChar { address: s.to_string(), ch });
        }
        if s.split('.').any(str::is_empty) {
            return Err(AddressError::EmptySegment { address: s.to_string() });
        }
        if !s.contains('.') {
            return Err(AddressError::TooShort { address: s.to_string() });
        }
        Ok(Address(s.to_string()))
    }

    /// Builds an address from segments; each segment must be non-empty and contain no dot.
    pub fn from_segments<I, S>(segments: I) -> Result<Self, AddressError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let joined = segments.into_iter().map(|s| s.as_ref().to_string()).collect::<Vec<_>>();
        Self::parse(&joined.join("."))
    }

    /// The section this resource was lowered from: the first segment.
    pub fn section(&self) -> &str {
        self.0.split('.').next().unwrap_or_default()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Appends one segment (`cdn.assets` + `dns` = `cdn.assets.dns`).
    pub fn child(&self, segment: &str) -> Result<Self, AddressError> {
        Self::parse(&format!("{}.{segment}", self.0))
    }
}

impl TryFrom<String> for Address {
    type Error = AddressError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Address::parse(&value)
    }
}

impl From<Address> for String {
    fn from(a: Address) -> String {
        a.0
    }
}

impl std::str::FromStr for Address {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Address::parse(s)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_addresses() {
        let a = Address::parse("cdn.assets").unwrap();
        assert_eq!(a.section(), "cdn");
        assert_eq!(a.child("dns").unwrap().as_str(), "cdn.assets.dns");
        assert!(Address::parse("resources.apex/edge-config").is_ok());
    }

    #[test]
    fn rejects_invalid_addresses() {
        assert_eq!(Address::parse(""), Err(AddressError::Empty));
        assert!(matches!(Address::parse("cdn"), Err(AddressError::TooShort { .. })));
        assert!(matches!(Address::parse("cdn..x"), Err(AddressError::EmptySegment { .. })));
        assert!(matches!(Address::parse("cdn.a b"), Err(AddressError::InvalidChar { ch: ' ', .. })));
        assert!(matches!(Address::parse("cdn.${x}"), Err(AddressError::InvalidChar { .. })));
    }

    #[test]
    fn round_trips_through_json() {
        let a = Address::parse("mesh.api.virtual-service").unwrap();
        let s = serde_json::to_string(&a).unwrap();
        assert_eq!(s, "\"mesh.api.virtual-service\"");
        assert_eq!(serde_json::from_str::<Address>(&s).unwrap(), a);
        assert!(serde_json::from_str::<Address>("\"nodot\"").is_err());
    }
}
