//! GraphQL's "Handling Field Errors": a field that fails is `null` at its path, with its error,
//! and a failed non-null field makes its nearest nullable parent `null` (the whole `data` at the
//! root). async-graphql 7.2 instead leaves a failed field out of its parent object, so a response
//! lacked keys the client selected; `hooks` runs this on every field and operation to restore what
//! the spec and every client expect.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use async_graphql::{QueryPathNode, Response, ServerError, ServerResult, Value};

/// One operation's failed fields.
#[derive(Default)]
pub(super) struct NullPropagation {
    errors: Mutex<Vec<ServerError>>,
    /// Paths (`a.0.b`) that must be `null` because a non-null field inside them failed.
    doomed: Mutex<HashSet<String>>,
    /// Lets fields skip the set while nothing failed (the usual case).
    any_doomed: AtomicBool,
    /// A non-null root field failed: `data` is `null`.
    root_doomed: AtomicBool,
}

impl NullPropagation {
    /// The value a failed field at `path` takes: `null`, and for a non-null field, a doomed parent.
    fn null_at(&self, path: &QueryPathNode<'_>, nullable: bool) -> Value {
        if !nullable {
            match path.parent {
                Some(parent) => {
                    self.doomed.lock().unwrap_or_else(|p| p.into_inner()).insert(parent.to_string());
                    self.any_doomed.store(true, Ordering::Release);
                }
                None => self.root_doomed.store(true, Ordering::Release),
            }
        }
        Value::Null
    }

    fn is_doomed(&self, path: &QueryPathNode<'_>) -> bool {
        self.any_doomed.load(Ordering::Acquire) && self.doomed.lock().unwrap_or_else(|p| p.into_inner()).remove(&path.to_string())
    }

    /// What the field at `path` (of type `return_type`) answers, given what it resolved to.
    pub(super) fn resolved(&self, path: &QueryPathNode<'_>, return_type: &str, resolved: ServerResult<Option<Value>>) -> ServerResult<Option<Value>> {
        let nullable = !return_type.ends_with('!');
        match resolved {
            Ok(_) if self.is_doomed(path) => Ok(Some(self.null_at(path, nullable))),
            Ok(value) => Ok(value),
            Err(error) => {
                // Our resolvers' errors carry their code; async-graphql's own (an argument or
                // variable that does not coerce, e.g. `dueDate: "tomorrow"`) are the caller's input.
                let error = crate::error::ErrorCode::BadUserInput.fill_in(error);
                self.errors.lock().unwrap_or_else(|p| p.into_inner()).push(error);
                Ok(Some(self.null_at(path, nullable)))
            }
        }
    }

    /// The executed operation's response with the failed fields' errors, and `data` nulled when a
    /// non-null root field failed.
    pub(super) fn finish(&self, response: &mut Response) {
        let errors = std::mem::take(&mut *self.errors.lock().unwrap_or_else(|p| p.into_inner()));
        response.errors.extend(errors);
        if self.root_doomed.load(Ordering::Acquire) {
            response.data = Value::Null;
        }
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};

    use super::super::hooks::OperationHooks;
    use super::super::SchemaOptions;

    struct Root;
    struct Parent;

    #[Object]
    impl Root {
        async fn nullable_fails(&self) -> async_graphql::Result<Option<i32>> {
            Err("nullable failed".into())
        }
        async fn ok(&self) -> i32 {
            1
        }
        async fn parent(&self) -> Option<Parent> {
            Some(Parent)
        }
        async fn parents(&self) -> Option<Vec<Parent>> {
            Some(vec![Parent, Parent])
        }
        async fn required_fails(&self) -> async_graphql::Result<i32> {
            Err("required failed".into())
        }
    }

    #[Object]
    impl Parent {
        async fn name(&self) -> &str {
            "p"
        }
        async fn required_fails(&self) -> async_graphql::Result<i32> {
            Err("inner required failed".into())
        }
        async fn nullable_fails(&self) -> async_graphql::Result<Option<i32>> {
            Err("inner nullable failed".into())
        }
    }

    async fn run(query: &str) -> serde_json::Value {
        let hooks = OperationHooks::new(&SchemaOptions::for_sdl());
        let schema = Schema::build(Root, EmptyMutation, EmptySubscription).extension(hooks).finish();
        serde_json::to_value(schema.execute(query).await).unwrap()
    }

    #[tokio::test]
    async fn a_failed_nullable_field_is_null_with_its_error_and_siblings_stay() {
        let response = run("{ ok nullableFails parent { name nullableFails } }").await;
        assert_eq!(response["data"], serde_json::json!({ "ok": 1, "nullableFails": null, "parent": { "name": "p", "nullableFails": null } }));
        let paths: Vec<_> = response["errors"].as_array().unwrap().iter().map(|e| e["path"].clone()).collect();
        assert!(paths.contains(&serde_json::json!(["nullableFails"])) && paths.contains(&serde_json::json!(["parent", "nullableFails"])), "{response}");
    }

    #[tokio::test]
    async fn a_failed_non_null_field_nulls_its_nearest_nullable_parent() {
        let response = run("{ ok parent { name requiredFails } parents { name requiredFails } }").await;
        assert_eq!(response["data"], serde_json::json!({ "ok": 1, "parent": null, "parents": null }), "{response}");
        assert_eq!(response["errors"].as_array().unwrap().len(), 3, "{response}");
    }

    #[tokio::test]
    async fn a_failed_non_null_root_field_nulls_data() {
        let response = run("{ ok requiredFails }").await;
        assert_eq!(response["data"], serde_json::Value::Null, "{response}");
        assert_eq!(response["errors"][0]["path"], serde_json::json!(["requiredFails"]));
    }
}
