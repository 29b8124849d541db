//! Operation limits, checked before anything runs: query size, bracket nesting, fields with
//! fragments inlined, depth, aliases, root fields and directives here; complexity (lists weighted
//! by `first` or a default size, computed by async-graphql) after validation; selection recursion
//! by async-graphql. Introspection (`__schema` / `__type`) counts toward no depth, alias or
//! complexity limit, so GraphiQL and codegen can always read the schema; it stays bounded by the
//! size, nesting and expanded-field limits. Every refusal carries code `OPERATION_LIMIT` and
//! costs no GHL call.
//!
//! What depends on the text alone (the parse and its counts) is kept per query text in a small
//! bounded cache, as Apollo Router keeps its query plans: clients send the same few operations
//! again and again, and the parse was the largest single cost of a cached query. Each text also
//! keeps async-graphql's validation results (`validated`).

use std::any::TypeId;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Request, ServerError, ServerResult, ValidationResult};

use super::expansion::{expand, FieldTally};
use super::introspection::{is_introspection_field, is_introspection_type};
use super::nesting::{parse_within, ParseError};
use super::validated::{ValidatedVariants, Variant};
use crate::error::ErrorCode;

/// Limits a single operation must stay within (flags; their defaults are in `config`).
#[derive(Clone, Debug)]
pub struct OperationLimits {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_aliases: usize,
    pub max_root_fields: usize,
    pub max_directives: usize,
    pub max_query_bytes: usize,
    /// Also the most `{`, `[` and `(` open at once, checked before parsing.
    pub max_recursion: usize,
    /// Most fields an operation selects with its fragments inlined (a batch: all its operations).
    pub max_expanded_fields: usize,
    /// Most `_entities` representations in one operation.
    pub max_entities: usize,
}

/// The checks async-graphql does not do itself, shared by every operation (`hooks` runs them).
pub(super) struct LimitChecks {
    limits: Arc<OperationLimits>,
    parsed: Arc<ParsedOperations>,
}

impl LimitChecks {
    pub(super) fn new(limits: OperationLimits) -> Self {
        Self { limits: Arc::new(limits), parsed: Arc::new(ParsedOperations::new()) }
    }

    /// The checks of one operation (async-graphql creates its extensions per request).
    pub(super) fn per_operation(&self) -> LimitCheck {
        LimitCheck { limits: self.limits.clone(), parsed: self.parsed.clone(), introspection_cost: AtomicUsize::new(0), variant: OnceLock::new() }
    }
}

/// Operation texts that passed the text-only checks, with their document and counts.
struct ParsedOperations(moka::sync::Cache<String, Arc<Analyzed>>);

/// A document within the text-only limits, and the counts the per-request checks need.
struct Analyzed {
    document: ExecutableDocument,
    fields: usize,
    introspection: usize,
    validated: ValidatedVariants,
}

/// Texts longer than this are parsed every time (rare, and they would crowd out the rest).
const MAX_KEPT_QUERY_BYTES: usize = 16 * 1024;

impl ParsedOperations {
    fn new() -> Self {
        // Weighed by text length (a document takes a few times its text): about 8 MiB in all.
        let cache = moka::sync::Cache::builder().max_capacity(2 * 1024 * 1024).weigher(|text: &String, _: &Arc<Analyzed>| text.len() as u32 + 64).build();
        Self(cache)
    }
}

/// One per operation.
pub(super) struct LimitCheck {
    limits: Arc<OperationLimits>,
    parsed: Arc<ParsedOperations>,
    /// The introspection share of async-graphql's complexity, measured in `prepare_request` and
    /// left out in `validation`.
    introspection_cost: AtomicUsize,
    /// The kept text this operation runs, and its variant, when its validation can be kept.
    variant: OnceLock<(Arc<Analyzed>, Variant)>,
}

/// The refusal by a limit (code `OPERATION_LIMIT`).
fn refusal(message: String) -> ServerError {
    ErrorCode::OperationLimit.server_error(message)
}

/// Counts of what a document asks for.
#[derive(Default, Debug, PartialEq, Eq)]
struct Shape {
    aliases: usize,
    directives: usize,
    max_root_fields: usize,
}

/// Counts as written; aliases inside introspection (below `__schema` / `__type`, or on an
/// introspection type) are not counted.
fn count_selections(set: &SelectionSet, introspective: bool, shape: &mut Shape) {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => {
                shape.aliases += usize::from(field.node.alias.is_some() && !introspective);
                shape.directives += field.node.directives.len();
                let inner = introspective || is_introspection_field(&field.node.name.node);
                count_selections(&field.node.selection_set.node, inner, shape);
            }
            Selection::FragmentSpread(spread) => shape.directives += spread.node.directives.len(),
            Selection::InlineFragment(inline) => {
                shape.directives += inline.node.directives.len();
                let on_introspection = inline.node.type_condition.as_ref().is_some_and(|c| is_introspection_type(&c.node.on.node));
                count_selections(&inline.node.selection_set.node, introspective || on_introspection, shape);
            }
        }
    }
}

fn shape_of(document: &ExecutableDocument) -> Shape {
    let mut shape = Shape::default();
    for (_, operation) in document.operations.iter() {
        shape.directives += operation.node.directives.len();
        shape.max_root_fields = shape.max_root_fields.max(operation.node.selection_set.node.items.len());
        count_selections(&operation.node.selection_set.node, false, &mut shape);
    }
    for fragment in document.fragments.values() {
        shape.directives += fragment.node.directives.len();
        let introspective = is_introspection_type(&fragment.node.type_condition.node.on.node);
        count_selections(&fragment.node.selection_set.node, introspective, &mut shape);
    }
    shape
}

impl LimitCheck {
    /// Scans, parses and counts `request` once; async-graphql then runs on this document.
    fn check(&self, request: &Request) -> Result<ExecutableDocument, ServerError> {
        let limits = &self.limits;
        let query = &request.query;
        if query.len() > limits.max_query_bytes {
            return Err(refusal(format!("the operation is {} bytes; the limit is {}", query.len(), limits.max_query_bytes)));
        }
        let kept = query.len() <= MAX_KEPT_QUERY_BYTES;
        let analyzed = match self.parsed.0.get(query.as_str()) {
            Some(found) => found,
            None => {
                let analyzed = Arc::new(self.analyze(query)?);
                if kept {
                    self.parsed.0.insert(query.clone(), analyzed.clone());
                }
                analyzed
            }
        };
        let Analyzed { document, fields, introspection, .. } = &*analyzed;
        let (fields, max) = (*fields, limits.max_expanded_fields);
        let references = entity_references(document, request);
        if references > limits.max_entities {
            return Err(refusal(format!("the operation resolves {references} entity references; the limit is {}", limits.max_entities)));
        }
        // Each reference resolves the whole `_entities` selection again.
        let entity_cost = references.saturating_mul(fields);
        if entity_cost > limits.max_complexity {
            return Err(refusal(format!("the operation is too complex (limit {}): {references} entity references × {fields} fields", limits.max_complexity)));
        }
        self.introspection_cost.store(*introspection, Ordering::Relaxed);
        // Last, so an operation refused for anything else spends nothing of its batch's budget.
        if let Some(tally) = tally_of(request) {
            tally
                .spend(fields, max)
                .map_err(|spent| refusal(format!("the batch selects more than {max} fields in all: {spent} before this operation's {fields}")))?;
        }
        let document = document.clone();
        if let Some(variant) = kept.then(|| Variant::of(&document, request.operation_name.as_deref(), &request.variables)).flatten() {
            let _ = self.variant.set((analyzed, variant));
        }
        Ok(document)
    }

    /// The checks that depend on the text alone: nesting, syntax, shape, fragments, depth.
    fn analyze(&self, query: &str) -> Result<Analyzed, ServerError> {
        let limits = &self.limits;
        let document = parse_within(query, limits.max_recursion).map_err(|error| match error {
            ParseError::TooDeep { .. } => refusal(error.to_string()),
            ParseError::Syntax(async_graphql::parser::Error::RecursionLimitExceeded) => {
                refusal(format!("the operation nests deeper than {} levels", limits.max_recursion))
            }
            ParseError::Syntax(syntax) => ErrorCode::GraphqlParseFailed.fill_in(ServerError::from(syntax)),
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
        let expansion = expand(&document).map_err(|cycle| refusal(format!("fragment `{}` spreads itself, directly or through other fragments", cycle.0)))?;
        let (fields, max) = (expansion.fields, limits.max_expanded_fields);
        if fields > max {
            return Err(refusal(format!("the operation selects {fields} fields once its fragments are inlined; the limit is {max}")));
        }
        if expansion.depth > limits.max_depth {
            return Err(refusal(format!("the operation nests deeper than {} levels", limits.max_depth)));
        }
        Ok(Analyzed { document, fields, introspection: expansion.introspection, validated: ValidatedVariants::default() })
    }
}

/// How many representations the operation's `_entities` root fields name, literal or in variables.
fn entity_references(document: &ExecutableDocument, request: &Request) -> usize {
    let count = |list: Result<async_graphql::Value, ()>| match list {
        Ok(async_graphql::Value::List(items)) => items.len(),
        _ => 0,
    };
    document
        .operations
        .iter()
        .flat_map(|(_, operation)| operation.node.selection_set.node.items.iter())
        .filter_map(|item| match &item.node {
            Selection::Field(field) if field.node.name.node == "_entities" => field
                .node
                .get_argument("representations")
                .map(|value| count(value.node.clone().into_const_with(|name| request.variables.get(name.as_str()).cloned().ok_or(())))),
            _ => None,
        })
        .fold(0, usize::saturating_add)
}

/// The budget the handler shares between a batch's operations, if any. Read off the request:
/// async-graphql attaches request data to the extension context only after `prepare_request`.
fn tally_of(request: &Request) -> Option<&FieldTally> {
    request.data.get(&TypeId::of::<FieldTally>()).and_then(|data| data.downcast_ref())
}

impl LimitCheck {
    /// Every check on the text happens before async-graphql's parse step: that step walks every
    /// fragment spread path (exponential in a fragment bomb) before any later hook could refuse
    /// it. It then reuses our document (`set_parsed_query`): one parse per operation.
    pub(super) fn prepared(&self, mut request: Request) -> ServerResult<Request> {
        let document = self.check(&request)?;
        request.set_parsed_query(document);
        Ok(request)
    }

    /// Gives async-graphql's own recursion and directive checks our code.
    pub(super) fn parse_error(&self, error: ServerError) -> ServerError {
        let limits = &self.limits;
        if error.message.contains("recursion") || error.message.contains("too deep") {
            refusal(format!("the operation nests deeper than {} levels", limits.max_recursion))
        } else if error.message.starts_with("The number of directives") {
            refusal(format!("a field carries more than {} directives", limits.max_directives))
        } else {
            error
        }
    }

    /// async-graphql's validation result for this operation, when the same text and variant
    /// passed before.
    pub(super) fn known_validation(&self) -> Option<ValidationResult> {
        self.variant.get().and_then(|(analyzed, variant)| analyzed.validated.get(variant))
    }

    /// Keeps a passed validation for the next operation of the same text and variant.
    pub(super) fn remember_validation(&self, result: &Result<ValidationResult, Vec<ServerError>>) {
        if let (Ok(result), Some((analyzed, variant))) = (result, self.variant.get()) {
            analyzed.validated.remember(variant, *result);
        }
    }

    /// The complexity check, done on async-graphql's validation result rather than by its
    /// `limit_complexity`, which would count introspection too.
    pub(super) fn validated(&self, result: Result<ValidationResult, Vec<ServerError>>) -> Result<ValidationResult, Vec<ServerError>> {
        let result = result.map_err(|errors| errors.into_iter().map(|error| ErrorCode::GraphqlValidationFailed.fill_in(error)).collect::<Vec<_>>())?;
        let max = self.limits.max_complexity;
        if result.complexity.saturating_sub(self.introspection_cost.load(Ordering::Relaxed)) > max {
            return Err(vec![refusal(format!("the operation is too complex (limit {max}); ask for fewer items per list"))]);
        }
        Ok(result)
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

    #[test]
    fn aliases_inside_introspection_are_not_counted() {
        let doc = async_graphql::parser::parse_query(
            "{ s: __schema { t: types { ...T } } c: contact(id: 1) { ... on __Type { n: name } } }
             fragment T on __Type { k: kind }",
        )
        .unwrap();
        assert_eq!(shape_of(&doc).aliases, 2, "`s` and `c` only");
    }
}
