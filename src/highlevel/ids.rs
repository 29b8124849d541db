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

    /// What every accepted id must satisfy: the URL built from it is `/contacts/<one segment>`,
    /// the segment holds no `/`, `..` or encoded slash, and it decodes back to the input.
    fn assert_stays_under_the_contact(raw: &str) -> Result<(), proptest::test_runner::TestCaseError> {
        use proptest::prop_assert;
        let Ok(id) = PathId::parse(raw, "id") else { return Ok(()) };
        let segment = id.segment();
        let url = format!("/contacts/{segment}");
        let segments: Vec<&str> = url.split('/').skip(1).collect();
        prop_assert!(segments == ["contacts", segment.as_str()], "{url}");
        prop_assert!(!segment.is_empty() && !segment.contains('/') && !segment.contains('\\'), "{url}");
        prop_assert!(!url.contains(".."), "{url}");
        prop_assert!(!segment.to_ascii_lowercase().contains("%2f") && !segment.to_ascii_lowercase().contains("%5c"), "{url}");
        let decoded = percent_encoding::percent_decode_str(&segment).decode_utf8();
        prop_assert!(decoded.as_deref() == Ok(raw), "{url} does not decode to {raw:?}");
        Ok(())
    }

    proptest::proptest! {
        #[test]
        fn any_string_either_fails_to_parse_or_stays_one_path_segment(raw in proptest::prelude::any::<String>()) {
            assert_stays_under_the_contact(&raw)?;
        }

        /// Random strings rarely hit the dangerous shapes; this alphabet is made of them.
        #[test]
        fn traversal_shaped_strings_never_leave_the_contacts_path(raw in "([./%\\\\?#&=;: \u{0}\t\n]|2[Ff]|5[Cc]|\\.\\.|[A-Za-z0-9_-]|é|\u{202e}){0,40}") {
            assert_stays_under_the_contact(&raw)?;
        }
    }
}
