//! Ids that are safe to put in an upstream URL path.
//!
//! Every id from a caller passes through [`PathId::parse`] before it reaches a URL, so no input can
//! step outside the contact's own path (`/`, `..`, `%2F`, whitespace, control characters are refused).

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::error::{GhlError, GhlErrorKind};

/// Longest id we accept; GHL ids are 20–24 characters, recurring event ids about 40.
const MAX_LEN: usize = 128;

/// Everything but unreserved URL characters gets percent-encoded.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_');

/// An id validated for use as one URL path segment.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PathId(String);

impl PathId {
    /// Accepts ids made of ASCII letters, digits, `-` and `_` (what GHL issues).
    pub fn parse(raw: &str, field: &'static str) -> Result<Self, GhlError> {
        let reason = if raw.is_empty() {
            Some("must not be empty")
        } else if raw.len() > MAX_LEN {
            Some("is too long")
        } else if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            Some("may only contain letters, digits, '-' and '_'")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(GhlError::new(GhlErrorKind::InvalidId { field, reason })),
            None => Ok(Self(raw.to_owned())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id encoded as a URL path segment (a no-op for valid ids; kept as defence in depth).
    pub fn segment(&self) -> String {
        utf8_percent_encode(&self.0, PATH_SEGMENT).to_string()
    }
}

impl std::fmt::Display for PathId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ghl_style_ids_are_accepted() {
        for id in ["yd0jdjOavGk2o6Nh5Ndb", "ocQHyuzHvysMo5N5VsXc_1729821600000_1800", "a-b"] {
            assert_eq!(PathId::parse(id, "id").map(|p| p.segment()).ok().as_deref(), Some(id));
        }
    }

    #[test]
    fn ids_that_could_escape_the_path_are_refused() {
        for id in ["", "../x", "a/b", "%2F", "..%2f", "a b", "a\0b", "a\nb", ".", "..", "é", "a?b", "a#b"] {
            assert!(PathId::parse(id, "id").is_err(), "accepted {id:?}");
        }
        assert!(PathId::parse(&"a".repeat(MAX_LEN + 1), "id").is_err());
    }
}
