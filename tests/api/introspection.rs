//! Introspection, when on, is never refused by the depth, alias or complexity limits (GraphiQL's
//! Docs pane, codegen and Postman send graphql-js's standard query, about 15 levels deep); when
//! off, it is refused with code INTROSPECTION_DISABLED. Ordinary operations keep every limit, and
//! abusive introspection stays bounded by the size, nesting and expanded-field limits.

use serde_json::{json, Value};

use crate::helpers::{codes, spawn_app, Setup, TestApp};

/// graphql-js 16 `getIntrospectionQuery({ descriptions, specifiedByUrl, directiveIsRepeatable,
/// schemaDescription, inputValueDeprecation, oneOf })`, verbatim but for blank lines.
const FULL_INTROSPECTION_QUERY: &str = r#"
    query IntrospectionQuery {
      __schema {
        description
        queryType { name kind }
        mutationType { name kind }
        subscriptionType { name kind }
        types {
          ...FullType
        }
        directives {
          name
          description
          isRepeatable
          locations
          args(includeDeprecated: true) {
            ...InputValue
          }
        }
      }
    }
    fragment FullType on __Type {
      kind
      name
      description
      specifiedByURL
      isOneOf
      fields(includeDeprecated: true) {
        name
        description
        args(includeDeprecated: true) {
          ...InputValue
        }
        type {
          ...TypeRef
        }
        isDeprecated
        deprecationReason
      }
      inputFields(includeDeprecated: true) {
        ...InputValue
      }
      interfaces {
        ...TypeRef
      }
      enumValues(includeDeprecated: true) {
        name
        description
        isDeprecated
        deprecationReason
      }
      possibleTypes {
        ...TypeRef
      }
    }
    fragment InputValue on __InputValue {
      name
      description
      type { ...TypeRef }
      defaultValue
      isDeprecated
      deprecationReason
    }
    fragment TypeRef on __Type {
      kind
      name
      ofType {
        name
        kind
        ofType {
          name
          kind
          ofType {
            name
            kind
            ofType {
              name
              kind
              ofType {
                name
                kind
                ofType {
                  name
                  kind
                  ofType {
                    name
                    kind
                    ofType {
                      name
                      kind
                      ofType {
                        name
                        kind
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
"#;

fn introspection(on: bool) -> Setup {
    Setup { extra: vec!["--introspection".into(), on.to_string()], ..Default::default() }
}

fn with(on: bool, flags: &[&str]) -> Setup {
    let mut setup = introspection(on);
    setup.extra.extend(flags.iter().map(|f| f.to_string()));
    setup
}

/// The first 400 characters of `response`, for assertion messages.
fn short(response: &Value) -> String {
    response.to_string().chars().take(400).collect()
}

/// `contact { tasks { contact { … id } } }` with `depth` fields in its longest chain.
fn deep_query(depth: usize) -> String {
    let mut inner = String::from("id");
    for level in (1..depth).rev() {
        let field = match level {
            1 => "contact(id: \"a\")",
            _ if level % 2 == 0 => "tasks",
            _ => "contact",
        };
        inner = format!("{field} {{ {inner} }}");
    }
    format!("{{ {inner} }}")
}

fn assert_no_errors(response: &Value) {
    assert!(response["errors"].is_null(), "{}", short(response));
}

fn contact_field_names(response: &Value) -> Vec<String> {
    let types = response["data"]["__schema"]["types"].as_array().cloned().unwrap_or_default();
    let contact = types.iter().find(|t| t["name"] == json!("Contact")).cloned().unwrap_or_default();
    contact["fields"].as_array().into_iter().flatten().filter_map(|f| f["name"].as_str().map(str::to_owned)).collect()
}

async fn assert_limit(app: &TestApp, query: &str, needle: &str) {
    let response = app.graphql(query, json!({})).await;
    assert_eq!(codes(&response), vec!["OPERATION_LIMIT"], "{}", short(&response));
    let message = response["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "{message}");
}

#[tokio::test]
async fn the_full_standard_introspection_query_succeeds_with_the_default_limits() {
    let app = spawn_app(introspection(true)).await;

    let response = app.graphql(FULL_INTROSPECTION_QUERY, json!({})).await;

    assert_no_errors(&response);
    assert_eq!(response["data"]["__schema"]["queryType"]["name"], json!("Query"));
    assert!(contact_field_names(&response).contains(&"tasks".to_owned()), "{}", short(&response));
    assert!(app.requests().is_empty(), "introspection never calls GHL");
}

#[tokio::test]
async fn introspection_counts_toward_no_depth_alias_or_complexity_limit() {
    let app = spawn_app(with(true, &["--max-depth", "3", "--max-complexity", "20", "--max-aliases", "1"])).await;

    let full = app.graphql(FULL_INTROSPECTION_QUERY, json!({})).await;
    let aliased = app.graphql("{ __schema { a: types { b: name } c: directives { d: name } } e: __type(name: \"Contact\") { f: name } }", json!({})).await;

    assert_no_errors(&full);
    assert_no_errors(&aliased);
    assert_eq!(aliased["data"]["e"]["f"], json!("Contact"));
    // The same limits still hold for the ordinary part of the same operation.
    assert_limit(&app, &format!("{{ __schema {{ queryType {{ name }} }} {} }}", &deep_query(4)[1..deep_query(4).len() - 1]), "nests deeper than 3 levels")
        .await;
    assert_limit(&app, "{ __schema { queryType { name } } contacts(first: 30) { nodes { id } } }", "too complex (limit 20)").await;
    assert_limit(&app, "{ __schema { queryType { name } } a: contact(id: \"a\") { id } b: contact(id: \"b\") { id } }", "2 aliases").await;
    assert!(app.requests().is_empty());
}

#[tokio::test]
async fn with_introspection_off_introspection_is_refused_with_a_code() {
    let app = spawn_app(introspection(false)).await;

    let full = app.graphql(FULL_INTROSPECTION_QUERY, json!({})).await;
    let typed = app.graphql("{ contact(id: \"a\") { id } ...F } fragment F on Query { __type(name: \"Contact\") { name } }", json!({})).await;
    let plain = app.graphql("{ __typename }", json!({})).await;

    for refused in [&full, &typed] {
        assert_eq!(codes(refused), vec!["INTROSPECTION_DISABLED"], "{}", short(refused));
        assert!(refused.get("data").is_none(), "{}", short(refused));
    }
    assert!(full["errors"][0]["message"].as_str().is_some_and(|m| m.contains("introspection is disabled")), "{}", short(&full));
    assert_eq!(plain["data"]["__typename"], json!("Query"), "{plain}");
    assert!(app.requests().is_empty());
}

#[tokio::test]
async fn deep_ordinary_queries_are_still_refused_with_introspection_on() {
    // Each `tasks` level weighs 10 in complexity: raise that limit to isolate depth.
    let app = spawn_app(with(true, &["--max-complexity", "1000000000000000"])).await;

    assert_limit(&app, &deep_query(40), "nests deeper than 12 levels").await;
    assert_limit(&app, &deep_query(13), "nests deeper than 12 levels").await;
    let at_limit = app.graphql(&deep_query(12), json!({})).await;

    assert!(!codes(&at_limit).contains(&"OPERATION_LIMIT".to_owned()), "12 levels are within --max-depth 12: {}", short(&at_limit));
    let typenames = app.graphql(&deep_query(12).replacen("id", "id __typename", 1), json!({})).await;
    assert!(!codes(&typenames).contains(&"OPERATION_LIMIT".to_owned()), "`__typename` is no level: {}", short(&typenames));
}

#[tokio::test]
async fn abusive_introspection_is_still_bounded_by_the_field_and_nesting_limits() {
    let app = spawn_app(introspection(true)).await;
    let mut bomb = String::from("{ __schema { types { ...T16 } } } fragment T0 on __Type { name }");
    for i in 1..=16 {
        bomb += &format!(" fragment T{i} on __Type {{ ...T{j} ...T{j} }}", j = i - 1);
    }
    let aliases: String = (0..1000).map(|i| format!("t{i}: types {{ name }} ")).collect();
    let of_types = format!("{{ __type(name: \"Contact\") {}name{} }}", "{ ofType ".repeat(70), " }".repeat(70));

    assert_limit(&app, &bomb, "65538 fields once its fragments are inlined; the limit is 2000").await;
    assert_limit(&app, &format!("{{ __schema {{ {aliases} }} }}"), "2001 fields once its fragments are inlined").await;
    assert_limit(&app, &of_types, "nests").await;
    let ok = app.graphql("{ __typename }", json!({})).await;
    assert_eq!(ok["data"]["__typename"], json!("Query"));
}

#[tokio::test]
async fn with_introspection_off_only_an_unrestricted_key_reads_the_federation_sdl() {
    let (router, tenant) = ("router-key-0123456789", "tenant-key-0123456789");
    let keys = format!("{router},{tenant}={}", ghl_sandbox::LOCATION_ID);
    let app = spawn_app(Setup { extra: vec!["--introspection".into(), "false".into(), "--api-keys".into(), keys], ..Setup::default() }).await;

    let as_router = app.graphql_with("{ _service { sdl } }", json!({}), &[("x-api-key", router)]).await;
    let as_tenant = app.graphql_with("{ _service { sdl } }", json!({}), &[("x-api-key", tenant)]).await;

    assert!(as_router["data"]["_service"]["sdl"].as_str().is_some_and(|sdl| sdl.contains("type Contact")), "{as_router}");
    assert_eq!(codes(&as_tenant), vec!["INTROSPECTION_DISABLED"], "{as_tenant}");
    let data = app.graphql_with("{ __typename }", json!({}), &[("x-api-key", tenant)]).await;
    assert_eq!(data["data"]["__typename"], json!("Query"));
}
