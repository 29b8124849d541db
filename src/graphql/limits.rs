//! Operation limits, checked before anything runs: query size, aliases, root fields and
//! directives here; depth, complexity (lists weighted by `first` or a default size) and parser
//! recursion by async-graphql. Every refusal carries code `OPERATION_LIMIT` and costs no GHL call.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextValidation};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ErrorExtensionValues, ServerError, ServerResult, ValidationResult, Variables};

/// The code of every refusal by a limit.
pub const OPERATION_LIMIT: &str = "OPERATION_LIMIT";

/// Limits a single operation must stay within (all configurable; defaults in `config`).
#[derive(Clone, Debug)]
pub struct OperationLimits {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_aliases: usize,
    pub max_root_fields: usize,
    pub max_directives: usize,
    pub max_query_bytes: usize,
    pub max_recursion: usize,
}

impl Default for OperationLimits {
    fn default() -> Self {
        Self {
            max_depth: 12,
            max_complexity: 10_000,
            max_aliases: 100,
            max_root_fields: 50,
            max_directives: 50,
            max_query_bytes: 32 * 1024,
            max_recursion: 64,
        }
    }
}

/// Installs the checks async-graphql does not do itself.
pub struct LimitChecks(pub Arc<OperationLimits>);

impl ExtensionFactory for LimitChecks {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(LimitCheck(self.0.clone()))
    }
}

struct LimitCheck(Arc<OperationLimits>);

fn refusal(message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", OPERATION_LIMIT);
    error.extensions = Some(extensions);
    error
}

/// Counts of what a document asks for.
#[derive(Default, Debug, PartialEq, Eq)]
struct Shape {
    aliases: usize,
    directives: usize,
    max_root_fields: usize,
}

fn count_selections(set: &SelectionSet, shape: &mut Shape) {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => {
                shape.aliases += usize::from(field.node.alias.is_some());
                shape.directives += field.node.directives.len();
                count_selections(&field.node.selection_set.node, shape);
            }
            Selection::FragmentSpread(spread) => shape.directives += spread.node.directives.len(),
            Selection::InlineFragment(inline) => {
                shape.directives += inline.node.directives.len();
                count_selections(&inline.node.selection_set.node, shape);
            }
        }
    }
}

fn shape_of(document: &ExecutableDocument) -> Shape {
    let mut shape = Shape::default();
    for (_, operation) in document.operations.iter() {
        shape.directives += operation.node.directives.len();
        shape.max_root_fields = shape.max_root_fields.max(operation.node.selection_set.node.items.len());
        count_selections(&operation.node.selection_set.node, &mut shape);
    }
    for fragment in document.fragments.values() {
        shape.directives += fragment.node.directives.len();
        count_selections(&fragment.node.selection_set.node, &mut shape);
    }
    shape
}

#[async_graphql::async_trait::async_trait]
impl Extension for LimitCheck {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let limits = &self.0;
        if query.len() > limits.max_query_bytes {
            return Err(refusal(format!("the operation is {} bytes; the limit is {}", query.len(), limits.max_query_bytes)));
        }
        let document = next.run(ctx, query, variables).await.map_err(|error| {
            if error.message.contains("recursion") || error.message.contains("too deep") {
                refusal(format!("the operation nests deeper than {} levels", limits.max_recursion))
            } else if error.message.starts_with("The number of directives") {
                refusal(format!("a field carries more than {} directives", limits.max_directives))
            } else {
                error
            }
        })?;
        let shape = shape_of(&document);
        if shape.aliases > limits.max_aliases {
            return Err(refusal(format!("the operation uses {} aliases; the limit is {}", shape.aliases, limits.max_aliases)));
        }
        if shape.max_root_fields > limits.max_root_fields {
            return Err(refusal(format!("the operation selects {} root fields; the limit is {}", shape.max_root_fields, limits.max_root_fields)));
        }
        if shape.directives > limits.max_directives {
            return Err(refusal(format!("the operation uses {} directives; the limit is {}", shape.directives, limits.max_directives)));
        }
        Ok(document)
    }

    async fn validation(&self, ctx: &ExtensionContext<'_>, next: NextValidation<'_>) -> Result<ValidationResult, Vec<ServerError>> {
        let limits = &self.0;
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|error| match error.message.as_str() {
                    "Query is too complex." => refusal(format!("the operation is too complex (limit {}); ask for fewer items per list", limits.max_complexity)),
                    "Query is nested too deep." => refusal(format!("the operation nests deeper than {} levels", limits.max_depth)),
                    _ => error,
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_counts_aliases_directives_and_root_fields_in_fragments_too() {
        let doc = async_graphql::parser::parse_query(
            "query Q @a { x: contact(id: 1) { id @skip(if: true) ...F } y: contact(id: 2) { ... on Contact @b { z: id } } }
             fragment F on Contact @c { w: name }",
        )
        .unwrap();
        assert_eq!(shape_of(&doc), Shape { aliases: 4, directives: 4, max_root_fields: 2 });
    }
}
