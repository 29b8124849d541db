//! Rows to import: CSV (header row) or JSON lines read into [`Row`]s, columns mapped onto contact
//! fields, and every row validated before anything is sent.
//!
//! A bad row becomes a row with a reason (never a stopped job); only a file whose header names
//! a column we cannot map is refused as a whole, since silently dropping a column of every row is
//! worse than asking for `--map COLUMN=ignore`.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::highlevel::models::{ContactWrite, CustomFieldWrite};

/// Most tags on one contact and the longest tag (as the GraphQL mutations allow).
const MAX_TAGS: usize = 100;
const MAX_TAG_CHARS: usize = 255;
/// Longest value of any one field: GHL's fields are short; a runaway cell is a broken file.
const MAX_VALUE_CHARS: usize = 10_000;

/// The input's format.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl InputFormat {
    /// From the file's extension: `.jsonl`/`.ndjson` are JSON lines, anything else CSV.
    pub fn from_path(path: &std::path::Path) -> Self {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("jsonl" | "ndjson") => Self::Jsonl,
            _ => Self::Csv,
        }
    }
}

/// One row of the input: its number (1 = the first data row), its key (email, else phone, as
/// written) and the contact to upsert, or why it cannot be.
#[derive(Clone, Debug)]
pub struct Row {
    pub number: u64,
    pub key: String,
    pub write: Result<ContactWrite, String>,
}

/// A contact field a column can feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    FirstName,
    LastName,
    Name,
    Email,
    Phone,
    CompanyName,
    Address1,
    City,
    State,
    PostalCode,
    Country,
    Website,
    Timezone,
    DateOfBirth,
    Source,
    AssignedTo,
    Dnd,
    Tags,
    /// `customField.<key>`.
    Custom(String),
    /// A column left out on purpose (`--map COLUMN=ignore`).
    Ignore,
}

const NAMED: [(&str, Field); 18] = [
    ("firstName", Field::FirstName),
    ("lastName", Field::LastName),
    ("name", Field::Name),
    ("email", Field::Email),
    ("phone", Field::Phone),
    ("companyName", Field::CompanyName),
    ("address1", Field::Address1),
    ("city", Field::City),
    ("state", Field::State),
    ("postalCode", Field::PostalCode),
    ("country", Field::Country),
    ("website", Field::Website),
    ("timezone", Field::Timezone),
    ("dateOfBirth", Field::DateOfBirth),
    ("source", Field::Source),
    ("assignedTo", Field::AssignedTo),
    ("dnd", Field::Dnd),
    ("tags", Field::Tags),
];

/// Lowercase letters and digits only, so `First Name`, `first_name` and `firstName` agree.
fn folded(name: &str) -> String {
    name.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

impl Field {
    /// The field a column or `--map` target names, if any.
    pub fn parse(name: &str) -> Option<Self> {
        let name = name.trim();
        if let Some((prefix, key)) = name.split_once('.') {
            if folded(prefix) == "customfield" && !key.trim().is_empty() {
                return Some(Self::Custom(key.trim().to_owned()));
            }
            return None;
        }
        if matches!(name, "-" | "ignore") {
            return Some(Self::Ignore);
        }
        let wanted = folded(name);
        NAMED.iter().find(|(known, _)| folded(known) == wanted).map(|(_, field)| field.clone())
    }
}

/// `--map COLUMN=field` pairs, checked.
#[derive(Clone, Debug, Default)]
pub struct ColumnMap(Vec<(String, Field)>);

impl ColumnMap {
    pub fn parse(pairs: &[String]) -> Result<Self, SourceError> {
        let mut map = Vec::new();
        for pair in pairs {
            let (column, field) = pair.split_once('=').ok_or_else(|| SourceError::BadMap(pair.clone()))?;
            let field = Field::parse(field).ok_or_else(|| SourceError::BadMap(pair.clone()))?;
            map.push((column.trim().to_owned(), field));
        }
        Ok(Self(map))
    }

    /// What `column` feeds: an explicit mapping first, then a field of the same name.
    fn field_of(&self, column: &str) -> Option<Field> {
        self.0.iter().find(|(c, _)| c == column.trim()).map(|(_, f)| f.clone()).or_else(|| Field::parse(column))
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SourceError {
    #[error("--map takes COLUMN=field with a contact field (e.g. email, firstName, tags, customField.<key>) or `ignore`; got {0:?}")]
    BadMap(String),
    #[error("the CSV has no header row")]
    NoHeader,
    #[error(
        "the CSV header has columns that match no contact field: {}; map them with --map COLUMN=field or leave them out with --map COLUMN=ignore",
        .0.join(", ")
    )]
    UnknownColumns(Vec<String>),
    #[error("the CSV header names {0} twice")]
    DuplicateField(String),
    #[error("the CSV cannot be read: {0}")]
    Unreadable(String),
}

/// Reads every row of `input`.
pub fn read(input: &[u8], format: InputFormat, map: &ColumnMap) -> Result<Vec<Row>, SourceError> {
    match format {
        InputFormat::Csv => read_csv(input, map),
        InputFormat::Jsonl => Ok(read_jsonl(input, map)),
    }
}

fn read_csv(input: &[u8], map: &ColumnMap) -> Result<Vec<Row>, SourceError> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(input);
    let header = reader.headers().map_err(|e| SourceError::Unreadable(e.to_string()))?.clone();
    if header.is_empty() || header.iter().all(str::is_empty) {
        return Err(SourceError::NoHeader);
    }
    let mut fields = Vec::with_capacity(header.len());
    let mut unknown = Vec::new();
    let mut seen = BTreeSet::new();
    for column in &header {
        match map.field_of(column) {
            Some(Field::Ignore) => fields.push(Field::Ignore),
            Some(field) => {
                if !seen.insert(format!("{field:?}")) {
                    return Err(SourceError::DuplicateField(column.to_owned()));
                }
                fields.push(field);
            }
            None => unknown.push(format!("{column:?}")),
        }
    }
    if !unknown.is_empty() {
        return Err(SourceError::UnknownColumns(unknown));
    }
    let mut rows = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let number = index as u64 + 1;
        let row = match record {
            Err(error) => Row { number, key: String::new(), write: Err(format!("unreadable CSV row: {error}")) },
            Ok(record) if record.len() != fields.len() => {
                Row { number, key: String::new(), write: Err(format!("has {} values where the header has {} columns", record.len(), fields.len())) }
            }
            Ok(record) => {
                let values = fields.iter().cloned().zip(record.iter().map(|v| Value::String(v.to_owned())));
                build_row(number, values)
            }
        };
        rows.push(row);
    }
    Ok(rows)
}

fn read_jsonl(input: &[u8], map: &ColumnMap) -> Vec<Row> {
    let text = String::from_utf8_lossy(input);
    let lines = text.lines().filter(|line| !line.trim().is_empty());
    lines
        .enumerate()
        .map(|(index, line)| {
            let number = index as u64 + 1;
            let object = match serde_json::from_str::<Value>(line) {
                Ok(Value::Object(object)) => object,
                _ => return Row { number, key: String::new(), write: Err("not a JSON object".to_owned()) },
            };
            let mut values = Vec::new();
            let mut unknown = Vec::new();
            for (name, value) in object {
                match map.field_of(&name) {
                    Some(Field::Ignore) => {}
                    Some(field) => values.push((field, value)),
                    None => unknown.push(name),
                }
            }
            if !unknown.is_empty() {
                let key = values.iter().find(|(f, _)| *f == Field::Email).and_then(|(_, v)| v.as_str()).unwrap_or_default().to_owned();
                return Row { number, key, write: Err(format!("unknown field(s): {}", unknown.join(", "))) };
            }
            build_row(number, values.into_iter())
        })
        .collect()
}

/// A row from (field, value) pairs: empty values are left out, then the contact is validated.
fn build_row(number: u64, values: impl Iterator<Item = (Field, Value)>) -> Row {
    let mut write = ContactWrite::default();
    let mut problems = Vec::new();
    for (field, value) in values {
        if let Err(problem) = set(&mut write, &field, value) {
            problems.push(problem);
        }
    }
    let key = write.email.clone().or_else(|| write.phone.clone()).unwrap_or_default();
    if problems.is_empty() {
        if let Err(problem) = validate(&write) {
            problems.push(problem);
        }
    }
    match problems.is_empty() {
        true => Row { number, key, write: Ok(write) },
        false => Row { number, key, write: Err(problems.join("; ")) },
    }
}

fn text(value: Value) -> Result<Option<String>, String> {
    let text = match value {
        Value::Null => return Ok(None),
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return Err("must be text".into()),
    };
    if text.chars().count() > MAX_VALUE_CHARS {
        return Err(format!("is longer than {MAX_VALUE_CHARS} characters"));
    }
    Ok((!text.is_empty()).then_some(text))
}

fn set(write: &mut ContactWrite, field: &Field, value: Value) -> Result<(), String> {
    let name = field_name(field);
    let named = |problem: String| format!("{name} {problem}");
    if *field == Field::Tags {
        let tags: Vec<String> = match value {
            Value::Array(items) => items.into_iter().filter_map(|v| v.as_str().map(|s| s.trim().to_owned())).collect(),
            other => text(other).map_err(named)?.map(|s| s.split(';').map(|t| t.trim().to_owned()).collect()).unwrap_or_default(),
        };
        let tags: Vec<String> = tags.into_iter().filter(|t| !t.is_empty()).collect();
        if tags.len() > MAX_TAGS || tags.iter().any(|t| t.chars().count() > MAX_TAG_CHARS) {
            return Err(format!("tags: at most {MAX_TAGS} tags of at most {MAX_TAG_CHARS} characters"));
        }
        if !tags.is_empty() {
            write.tags = Some(tags);
        }
        return Ok(());
    }
    let Some(value) = text(value).map_err(named)? else { return Ok(()) };
    let slot = match field {
        Field::FirstName => &mut write.first_name,
        Field::LastName => &mut write.last_name,
        Field::Name => &mut write.name,
        Field::Email => &mut write.email,
        Field::Phone => &mut write.phone,
        Field::CompanyName => &mut write.company_name,
        Field::Address1 => &mut write.address1,
        Field::City => &mut write.city,
        Field::State => &mut write.state,
        Field::PostalCode => &mut write.postal_code,
        Field::Country => &mut write.country,
        Field::Website => &mut write.website,
        Field::Timezone => &mut write.timezone,
        Field::DateOfBirth => &mut write.date_of_birth,
        Field::Source => &mut write.source,
        Field::AssignedTo => &mut write.assigned_to,
        Field::Dnd => {
            write.dnd = Some(match value.to_ascii_lowercase().as_str() {
                "true" | "yes" | "y" | "1" => true,
                "false" | "no" | "n" | "0" => false,
                _ => return Err("dnd must be true or false".into()),
            });
            return Ok(());
        }
        Field::Custom(key) => {
            write.custom_fields.get_or_insert_with(Vec::new).push(CustomFieldWrite { id: None, key: Some(key.clone()), field_value: value });
            return Ok(());
        }
        Field::Tags | Field::Ignore => return Ok(()),
    };
    *slot = Some(value);
    Ok(())
}

fn field_name(field: &Field) -> String {
    match field {
        Field::Custom(key) => format!("customField.{key}"),
        other => NAMED.iter().find(|(_, f)| f == other).map_or("a column", |(name, _)| name).to_owned(),
    }
}

/// What GHL would refuse, or what cannot be matched: a row needs an email or a phone (upsert
/// matches on them), and those must be well-formed. Shared by the command and the GraphQL API.
pub fn validate(write: &ContactWrite) -> Result<(), String> {
    if write.email.is_none() && write.phone.is_none() {
        return Err("needs an email or a phone (upsert matches contacts on them)".into());
    }
    if let Some(email) = &write.email {
        if !is_email(email) {
            return Err(format!("email {email:?} is not an email address"));
        }
    }
    if let Some(phone) = &write.phone {
        if phone_digits(phone).is_none() {
            return Err(format!("phone {phone:?} is not a phone number (7 to 15 digits, e.g. +14155550123)"));
        }
    }
    if let Some(date) = &write.date_of_birth {
        if chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_err() {
            return Err(format!("dateOfBirth {date:?} is not a date (YYYY-MM-DD)"));
        }
    }
    Ok(())
}

fn is_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else { return false };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The digits of a phone number when it has 7 to 15 of them and nothing but separators besides.
pub fn phone_digits(phone: &str) -> Option<String> {
    let allowed = |c: char| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')' | '+');
    if !phone.chars().all(allowed) || phone.chars().skip(1).any(|c| c == '+') {
        return None;
    }
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    (7..=15).contains(&digits.len()).then_some(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &str) -> Result<Vec<Row>, SourceError> {
        read(text.as_bytes(), InputFormat::Csv, &ColumnMap::default())
    }

    #[test]
    fn header_names_map_themselves_in_any_spelling_and_tags_split_on_semicolons() {
        let rows = csv("First Name,email,phone,tags,customField.plan\nAda,ada@example.com,+1 415 555 0100,vip; new ;,gold\n").unwrap();
        let write = rows[0].write.clone().unwrap();
        assert_eq!(write.first_name.as_deref(), Some("Ada"));
        assert_eq!(write.tags, Some(vec!["vip".to_owned(), "new".to_owned()]));
        assert_eq!(write.custom_fields.unwrap()[0].key.as_deref(), Some("plan"));
        assert_eq!(rows[0].key, "ada@example.com");
    }

    #[test]
    fn unknown_columns_refuse_the_file_unless_mapped_or_ignored() {
        assert!(matches!(csv("email,favourite colour\na@b.co,red\n"), Err(SourceError::UnknownColumns(c)) if c == ["\"favourite colour\""]));
        let map = ColumnMap::parse(&["favourite colour=ignore".to_owned(), "mail=email".to_owned()]).unwrap();
        let rows = read(b"mail,favourite colour\na@b.co,red\n", InputFormat::Csv, &map).unwrap();
        assert_eq!(rows[0].write.as_ref().unwrap().email.as_deref(), Some("a@b.co"));
        assert!(ColumnMap::parse(&["x=nonsense".to_owned()]).is_err());
    }

    #[test]
    fn bad_rows_carry_a_reason_and_good_rows_around_them_stay_good() {
        let rows =
            csv("email,phone,dateOfBirth\nnot-an-email,,\n,12,\n,,\nok@example.com,,1990-02-30\nfine@example.com,(415) 555-0100,1990-02-03\na@b.co\n").unwrap();
        let reasons: Vec<String> = rows.iter().map(|r| r.write.as_ref().err().cloned().unwrap_or_default()).collect();
        assert!(reasons[0].contains("not an email"), "{reasons:?}");
        assert!(reasons[1].contains("not a phone"), "{reasons:?}");
        assert!(reasons[2].contains("needs an email or a phone"), "{reasons:?}");
        assert!(reasons[3].contains("dateOfBirth"), "{reasons:?}");
        assert_eq!(reasons[4], "");
        assert!(reasons[5].contains("values where the header has 3"), "{reasons:?}");
    }

    #[test]
    fn json_lines_take_the_same_names_and_fail_unknown_keys_per_row() {
        let input = b"{\"email\":\"a@b.co\",\"tags\":[\"x\"],\"dnd\":true}\n\n{\"email\":\"c@d.co\",\"shoe\":42}\n[1]\n";
        let rows = read(input, InputFormat::Jsonl, &ColumnMap::default()).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].write.as_ref().unwrap().dnd, Some(true));
        assert!(rows[1].write.as_ref().unwrap_err().contains("shoe"));
        assert_eq!(rows[1].key, "c@d.co");
        assert!(rows[2].write.is_err());
    }
}
