//! async-graphql's validation results, kept with each operation text (`limits` keeps the parsed
//! document per text), so a repeated operation is not validated again: validation was a fifth of
//! a single-contact query's instructions (README, Benchmarks).
//!
//! Why this is exact: once a document has passed, its outcome depends only on the operation
//! chosen and on the variables. A variable's value is checked against the argument it fills, and
//! list complexity reads `first`. A string in a variable declared `String` or `ID` (in lists or
//! not) is valid wherever it fits whatever its text, and no complexity function reads one, so
//! those strings are compared by kind only: `contact(id: $id)` validates once for every id.
//! Every other value (numbers, booleans, enums, custom scalars, input objects) is compared whole.
//! Only successes are kept: an invalid request is validated again and gets the same errors.

use std::sync::RwLock;

use async_graphql::parser::types::{BaseType, ExecutableDocument, OperationDefinition, Type};
use async_graphql::{Name, ValidationResult, Value, Variables};

/// Different variables (or operation names) validated per text; the oldest goes first.
const MAX_VARIANTS: usize = 8;
/// Variants weighing more than this (in bytes, roughly) are not kept: they rarely repeat.
const MAX_VARIANT_WEIGHT: usize = 1024;

/// The validation successes of one operation text.
#[derive(Default)]
pub(super) struct ValidatedVariants(RwLock<Vec<(Variant, ValidationResult)>>);

/// What a text's validation outcome depends on.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Variant {
    operation: Option<String>,
    variables: Variables,
}

impl ValidatedVariants {
    pub(super) fn get(&self, variant: &Variant) -> Option<ValidationResult> {
        let kept = self.0.read().unwrap_or_else(|p| p.into_inner());
        kept.iter().find(|(known, _)| known == variant).map(|(_, result)| *result)
    }

    pub(super) fn remember(&self, variant: &Variant, result: ValidationResult) {
        let mut kept = self.0.write().unwrap_or_else(|p| p.into_inner());
        if kept.iter().any(|(known, _)| known == variant) {
            return;
        }
        if kept.len() >= MAX_VARIANTS {
            kept.remove(0);
        }
        kept.push((variant.clone(), result));
    }
}

impl Variant {
    /// The variant of a request on `document`, or `None` when it is not worth keeping (or the
    /// operation is ambiguous, which validation refuses anyway).
    pub(super) fn of(document: &ExecutableDocument, operation: Option<&str>, variables: &Variables) -> Option<Self> {
        let chosen = chosen_operation(document, operation)?;
        let mut shaped = variables.clone();
        let mut weight = 0;
        for (name, value) in shaped.iter_mut() {
            if declared_as_text(chosen, name) {
                blank_strings(value);
            }
            weight += name.len() + weigh(value, MAX_VARIANT_WEIGHT);
            if weight > MAX_VARIANT_WEIGHT {
                return None;
            }
        }
        Some(Self { operation: operation.map(str::to_owned), variables: shaped })
    }
}

fn chosen_operation<'d>(document: &'d ExecutableDocument, operation: Option<&str>) -> Option<&'d OperationDefinition> {
    let mut operations = document.operations.iter();
    match operation {
        Some(name) => operations.find(|(op, _)| op.is_some_and(|op| op.as_str() == name)).map(|(_, op)| &op.node),
        None => match (operations.next(), operations.next()) {
            (Some((_, only)), None) => Some(&only.node),
            _ => None,
        },
    }
}

/// The variable is declared with `String` or `ID` at its base (`[ID!]!` too).
fn declared_as_text(operation: &OperationDefinition, name: &Name) -> bool {
    fn base_is_text(ty: &Type) -> bool {
        match &ty.base {
            BaseType::Named(named) => matches!(named.as_str(), "String" | "ID"),
            BaseType::List(inner) => base_is_text(inner),
        }
    }
    operation
        .variable_definitions
        .iter()
        .find(|definition| definition.node.name.node == *name)
        .is_some_and(|definition| base_is_text(&definition.node.var_type.node))
}

fn blank_strings(value: &mut Value) {
    match value {
        Value::String(text) => text.clear(),
        Value::List(items) => items.iter_mut().for_each(blank_strings),
        _ => {}
    }
}

/// About how many bytes `value` holds, counting no further than `limit`.
fn weigh(value: &Value, limit: usize) -> usize {
    match value {
        Value::String(text) => 8 + text.len(),
        Value::Binary(bytes) => 8 + bytes.len(),
        Value::Enum(name) => 8 + name.len(),
        Value::List(items) => items.iter().try_fold(8, |sum, item| weigh_on(sum, item, limit)).unwrap_or(limit + 1),
        Value::Object(fields) => fields.iter().try_fold(8, |sum, (name, item)| weigh_on(sum + name.len(), item, limit)).unwrap_or(limit + 1),
        Value::Null | Value::Number(_) | Value::Boolean(_) => 8,
    }
}

fn weigh_on(sum: usize, item: &Value, limit: usize) -> Option<usize> {
    let sum = sum + weigh(item, limit);
    (sum <= limit).then_some(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(query: &str, operation: Option<&str>, variables: serde_json::Value) -> Option<Variant> {
        let document = async_graphql::parser::parse_query(query).unwrap();
        Variant::of(&document, operation, &Variables::from_json(variables))
    }

    #[test]
    fn strings_of_text_variables_count_by_kind_and_everything_else_whole() {
        let query = "query Q($id: ID!, $ids: [String!], $first: Int, $tag: Tag, $when: DateTime) { x }";
        let of = |variables| variant(query, None, variables).unwrap();
        let base = of(serde_json::json!({"id": "a", "ids": ["b", "c"], "first": 5, "tag": "T", "when": "2026-01-01"}));
        assert_eq!(base, of(serde_json::json!({"id": "z", "ids": ["y", "x"], "first": 5, "tag": "T", "when": "2026-01-01"})));
        for differs in [
            serde_json::json!({"id": 7, "ids": ["b", "c"], "first": 5, "tag": "T", "when": "2026-01-01"}),
            serde_json::json!({"id": null, "ids": ["b", "c"], "first": 5, "tag": "T", "when": "2026-01-01"}),
            serde_json::json!({"id": "a", "ids": ["b"], "first": 5, "tag": "T", "when": "2026-01-01"}),
            serde_json::json!({"id": "a", "ids": ["b", "c"], "first": 6, "tag": "T", "when": "2026-01-01"}),
            serde_json::json!({"id": "a", "ids": ["b", "c"], "first": 5, "tag": "U", "when": "2026-01-01"}),
            serde_json::json!({"id": "a", "ids": ["b", "c"], "first": 5, "tag": "T", "when": "tomorrow"}),
            serde_json::json!({"id": "a", "ids": ["b", "c"], "first": 5, "tag": "T", "when": "2026-01-01", "extra": 1}),
        ] {
            assert_ne!(base, of(differs.clone()), "{differs}");
        }
    }

    #[test]
    fn the_chosen_operation_declares_the_types() {
        let query = "query A($v: ID) { x } query B($v: Int) { x }";
        let a = |v| variant(query, Some("A"), serde_json::json!({ "v": v })).unwrap();
        let b = |v| variant(query, Some("B"), serde_json::json!({ "v": v })).unwrap();
        assert_eq!(a("1"), a("2"));
        assert_ne!(b("1"), b("2"));
        assert_ne!(a("1"), b("1"), "the operation name is part of the variant");
        assert!(variant(query, None, serde_json::json!({})).is_none(), "ambiguous: not kept");
        assert!(variant(query, Some("C"), serde_json::json!({})).is_none(), "unknown: not kept");
    }

    #[test]
    fn heavy_variables_are_not_kept() {
        let big = "x".repeat(2 * MAX_VARIANT_WEIGHT);
        assert!(variant("query($t: Tag) { x }", None, serde_json::json!({ "t": big })).is_none());
    }

    #[test]
    fn variants_are_bounded_and_found() {
        let kept = ValidatedVariants::default();
        let result = |complexity| ValidationResult { cache_control: Default::default(), complexity, depth: 1 };
        let of = |n: i32| variant("query($n: Int) { x }", None, serde_json::json!({ "n": n })).unwrap();
        for n in 0..(MAX_VARIANTS as i32 + 2) {
            kept.remember(&of(n), result(n as usize));
        }
        assert!(kept.get(&of(0)).is_none() && kept.get(&of(1)).is_none(), "the oldest went first");
        assert_eq!(kept.get(&of(MAX_VARIANTS as i32 + 1)).map(|r| r.complexity), Some(MAX_VARIANTS + 1));
        assert_eq!(kept.0.read().unwrap().len(), MAX_VARIANTS);
    }
}
