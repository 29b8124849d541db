//! Request bodies, validated the way GHL's NestJS `ValidationPipe` does it: every problem becomes one
//! class-validator message in a 422, and properties a DTO does not declare are refused
//! (`property foo should not exist`), so a client sending fields outside the spec fails here first.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde_json::{Map, Value};

use crate::data::dates;
use crate::error::ApiError;

/// A JSON body; an empty body reads as `{}`. Invalid JSON is a 400, as in GHL.
pub(crate) struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| ApiError::BadRequest(format!("Could not read the request body: {e}")))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(Value::Object(Map::new())));
        }
        serde_json::from_slice(&bytes).map(Self).map_err(|e| ApiError::BadRequest(format!("Unexpected token in JSON at position {}", e.column())))
    }
}

/// A field of an update: absent (keep), `null` (clear) or a value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Patch<T> {
    Absent,
    Null,
    Set(T),
}

impl<T> Patch<T> {
    /// Applies the patch to an optional field.
    pub(crate) fn apply_to(self, target: &mut Option<T>) {
        match self {
            Self::Absent => {}
            Self::Null => *target = None,
            Self::Set(v) => *target = Some(v),
        }
    }

    pub(crate) fn into_option(self) -> Option<T> {
        match self {
            Self::Set(v) => Some(v),
            Self::Absent | Self::Null => None,
        }
    }
}

/// Walks the properties of a JSON object, collecting class-validator messages.
pub(crate) struct Fields<'a> {
    map: &'a Map<String, Value>,
    seen: Vec<&'static str>,
    errors: Vec<String>,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(body: &'a Value) -> Result<Self, ApiError> {
        match body {
            Value::Object(map) => Ok(Self { map, seen: Vec::new(), errors: Vec::new() }),
            _ => Err(ApiError::BadRequest("The request body must be a JSON object".to_owned())),
        }
    }

    fn get(&mut self, name: &'static str) -> Option<&'a Value> {
        self.seen.push(name);
        self.map.get(name)
    }

    pub(crate) fn error(&mut self, message: String) {
        self.errors.push(message);
    }

    /// An optional string that may be `null`.
    pub(crate) fn string(&mut self, name: &'static str) -> Patch<String> {
        match self.get(name) {
            None => Patch::Absent,
            Some(Value::Null) => Patch::Null,
            Some(Value::String(s)) => Patch::Set(s.clone()),
            Some(_) => {
                self.errors.push(format!("{name} must be a string"));
                Patch::Absent
            }
        }
    }

    /// A required, non-empty string.
    pub(crate) fn required_string(&mut self, name: &'static str) -> Option<String> {
        match self.get(name) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(Value::String(_)) => {
                self.errors.push(format!("{name} should not be empty"));
                None
            }
            None | Some(Value::Null) => {
                self.errors.push(format!("{name} should not be empty"));
                self.errors.push(format!("{name} must be a string"));
                None
            }
            Some(_) => {
                self.errors.push(format!("{name} must be a string"));
                None
            }
        }
    }

    pub(crate) fn email(&mut self, name: &'static str) -> Patch<String> {
        let value = self.string(name);
        if let Patch::Set(s) = &value {
            let valid =
                s.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.ends_with('.') && !s.contains(' '));
            if !valid {
                self.errors.push(format!("{name} must be an email"));
                return Patch::Absent;
            }
        }
        value
    }

    pub(crate) fn bool(&mut self, name: &'static str) -> Option<bool> {
        match self.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.errors.push(format!("{name} must be a boolean value"));
                None
            }
        }
    }

    pub(crate) fn required_bool(&mut self, name: &'static str) -> Option<bool> {
        match self.get(name) {
            Some(Value::Bool(b)) => Some(*b),
            None | Some(Value::Null) => {
                self.errors.push(format!("{name} should not be empty"));
                self.errors.push(format!("{name} must be a boolean value"));
                None
            }
            Some(_) => {
                self.errors.push(format!("{name} must be a boolean value"));
                None
            }
        }
    }

    /// An optional non-negative integer (`limit`, `skip`, `page`...), within `min..=max`.
    pub(crate) fn integer(&mut self, name: &'static str, min: u64, max: u64) -> Option<u64> {
        match self.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f >= min as f64 && f <= max as f64 => Some(f as u64),
                Some(f) if f < min as f64 => {
                    self.errors.push(format!("{name} must not be less than {min}"));
                    None
                }
                Some(f) if f > max as f64 => {
                    self.errors.push(format!("{name} must not be greater than {max}"));
                    None
                }
                _ => {
                    self.errors.push(format!("{name} must be an integer number"));
                    None
                }
            },
            Some(_) => {
                self.errors.push(format!("{name} must be a number conforming to the specified constraints"));
                None
            }
        }
    }

    pub(crate) fn string_array(&mut self, name: &'static str) -> Option<Vec<String>> {
        match self.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => {
                let strings: Option<Vec<String>> = items.iter().map(|v| v.as_str().map(str::to_owned)).collect();
                if strings.is_none() {
                    self.errors.push(format!("each value in {name} must be a string"));
                }
                strings
            }
            Some(_) => {
                self.errors.push(format!("{name} must be an array"));
                None
            }
        }
    }

    pub(crate) fn required_string_array(&mut self, name: &'static str) -> Option<Vec<String>> {
        if !self.map.contains_key(name) || self.map.get(name).is_some_and(Value::is_null) {
            self.seen.push(name);
            self.errors.push(format!("{name} must be an array"));
            return None;
        }
        self.string_array(name)
    }

    /// An ISO-8601 date string, as epoch milliseconds.
    pub(crate) fn iso_date(&mut self, name: &'static str, required: bool) -> Option<i64> {
        match self.get(name) {
            Some(Value::String(s)) => {
                let parsed = dates::parse_iso(s);
                if parsed.is_none() {
                    self.errors.push(format!("{name} must be a valid ISO 8601 date string"));
                }
                parsed
            }
            None | Some(Value::Null) if !required => None,
            None | Some(Value::Null) => {
                self.errors.push(format!("{name} should not be empty"));
                self.errors.push(format!("{name} must be a valid ISO 8601 date string"));
                None
            }
            Some(_) => {
                self.errors.push(format!("{name} must be a valid ISO 8601 date string"));
                None
            }
        }
    }

    /// An optional JSON object, accepted as is.
    pub(crate) fn object(&mut self, name: &'static str) -> Patch<Value> {
        match self.get(name) {
            None => Patch::Absent,
            Some(Value::Null) => Patch::Null,
            Some(v @ Value::Object(_)) => Patch::Set(v.clone()),
            Some(_) => {
                self.errors.push(format!("{name} must be an object"));
                Patch::Absent
            }
        }
    }

    /// Any JSON value, accepted as is (spec-typed `object` fields that GHL also takes as strings).
    pub(crate) fn any(&mut self, name: &'static str) -> Option<&'a Value> {
        self.get(name)
    }

    /// Ends validation: unknown properties and all collected messages become one 422.
    pub(crate) fn finish(mut self) -> Result<(), ApiError> {
        let unknown: Vec<String> = self.map.keys().filter(|k| !self.seen.contains(&k.as_str())).map(|k| format!("property {k} should not exist")).collect();
        self.errors.extend(unknown);
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Unprocessable(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_properties_and_type_errors_are_all_reported() {
        let body = json!({"title": 5, "extra": true});
        let mut f = Fields::new(&body).expect("object");
        let _ = f.required_string("title");
        let _ = f.required_bool("completed");
        match f.finish() {
            Err(ApiError::Unprocessable(messages)) => assert_eq!(
                messages,
                vec!["title must be a string", "completed should not be empty", "completed must be a boolean value", "property extra should not exist",]
            ),
            other => panic!("expected 422, got {other:?}"),
        }
    }

    #[test]
    fn null_clears_and_absent_keeps() {
        let body = json!({"email": null});
        let mut f = Fields::new(&body).expect("object");
        assert_eq!(f.email("email"), Patch::Null);
        assert_eq!(f.string("phone"), Patch::Absent);
        assert!(f.finish().is_ok());
    }
}
