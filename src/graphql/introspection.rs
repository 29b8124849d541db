//! What counts as introspection, and the refusal when it is off. async-graphql's own switch
//! answers `__schema` with `null` and no error, so a client cannot tell "off" from "broken";
//! this gate refuses such an operation with code `INTROSPECTION_DISABLED` instead. The limits
//! leave introspection out of depth, alias and complexity counts (see `limits`).

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::ServerResult;

use crate::error::ErrorCode;

/// The root fields that read the schema itself.
pub fn is_introspection_field(name: &str) -> bool {
    matches!(name, "__schema" | "__type")
}

/// `__Type`, `__Field` and the other types only introspection returns.
pub fn is_introspection_type(name: &str) -> bool {
    name.starts_with("__")
}

/// The first introspection field `set` selects, nested sets included.
fn find_in(set: &SelectionSet) -> Option<&str> {
    set.items.iter().find_map(|item| match &item.node {
        Selection::Field(field) if is_introspection_field(&field.node.name.node) => Some(field.node.name.node.as_str()),
        Selection::Field(field) => find_in(&field.node.selection_set.node),
        Selection::FragmentSpread(_) => None,
        Selection::InlineFragment(inline) => find_in(&inline.node.selection_set.node),
    })
}

/// The first introspection field anywhere in `document`, as written (every fragment is searched,
/// so no spread needs following; recursion follows braces, bounded by the nesting pre-scan).
fn introspection_in(document: &ExecutableDocument) -> Option<&str> {
    let operations = document.operations.iter().map(|(_, op)| &op.node.selection_set.node);
    let fragments = document.fragments.values().map(|f| &f.node.selection_set.node);
    operations.chain(fragments).find_map(find_in)
}

/// Marks a request whose caller may read `_service { sdl }` while introspection is off: one
/// with an API key that reaches every location (the router's), or any caller when no keys are
/// configured. Tenants' location-scoped keys may not.
pub struct SchemaReader;

/// `_service` at the root of an operation: the federation SDL, the whole schema with its docs.
fn sdl_in(document: &ExecutableDocument) -> Option<&'static str> {
    let at_root = |set: &SelectionSet| set.items.iter().any(|item| matches!(&item.node, Selection::Field(field) if field.node.name.node == "_service"));
    let fragments_too = document.fragments.values().any(|f| at_root(&f.node.selection_set.node));
    (document.operations.iter().any(|(_, op)| at_root(&op.node.selection_set.node)) || fragments_too).then_some("_service")
}

/// Refuses an operation that selects `__schema` or `__type` (and `_service`, unless the caller
/// `reads_sdl`: is a [`SchemaReader`]); `hooks` runs it on each parsed document when
/// introspection is off.
pub(super) fn refuse_introspection(document: &ExecutableDocument, reads_sdl: bool) -> ServerResult<()> {
    let found = introspection_in(document).or_else(|| (!reads_sdl).then(|| sdl_in(document)).flatten());
    match found {
        // Apollo Server's code for the same case (its `validationErrorCode`).
        Some(field) => Err(ErrorCode::IntrospectionDisabled.server_error(format!("introspection is disabled on this server; the operation selects `{field}`"))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Option<String> {
        introspection_in(&async_graphql::parser::parse_query(text).expect("parses")).map(str::to_owned)
    }

    #[test]
    fn introspection_is_found_in_operations_inline_fragments_and_fragments() {
        assert_eq!(found("{ __schema { types { name } } }").as_deref(), Some("__schema"));
        assert_eq!(found("{ ... on Query { t: __type(name: \"Contact\") { name } } }").as_deref(), Some("__type"));
        assert_eq!(found("{ ...F } fragment F on Query { __schema { queryType { name } } }").as_deref(), Some("__schema"));
    }

    #[test]
    fn typename_and_ordinary_fields_are_not_introspection() {
        assert_eq!(found("{ __typename contact(id: \"a\") { __typename id } }"), None);
    }
}
