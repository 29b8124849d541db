//! Abuse is refused cheaply: each refusal has code OPERATION_LIMIT (or a clear HTTP status),
//! the server stays up, and the sandbox sees no request. Nesting that would overflow the
//! parser's stack and fragment bombs that multiply fields are among them.

use serde_json::{json, Value};

use crate::helpers::{codes, spawn_app, Setup};

async fn assert_refused(app: &crate::helpers::TestApp, query: &str) -> Value {
    let response = app.graphql(query, json!({})).await;
    assert_eq!(codes(&response), vec!["OPERATION_LIMIT"], "{}", &response.to_string()[..response.to_string().len().min(400)]);
    response
}

#[tokio::test]
async fn deep_nesting_is_refused() {
    let app = spawn_app(Setup::default()).await;
    let mut query = String::from("{ contact(id: \"a\") { id } }");
    for _ in 0..8 {
        query = query.replace("{ id }", "{ id tasks { contact { id } } }");
    }
    assert_refused(&app, &query).await;
    assert!(app.requests().is_empty());
}

#[tokio::test]
async fn ten_thousand_aliases_are_refused_before_parsing_costs_much() {
    let app = spawn_app(Setup::default()).await;
    let fields: String = (0..10_000).map(|i| format!("a{i}: __typename ")).collect();
    let response = app.graphql(&format!("{{ {fields} }}"), json!({})).await;
    assert_eq!(codes(&response), vec!["OPERATION_LIMIT"]);
    let few: String = (0..101).map(|i| format!("a{i}: __typename ")).collect();
    assert_refused(&app, &format!("{{ {few} }}")).await;
    assert!(app.requests().is_empty());
}

#[tokio::test]
async fn too_many_root_fields_and_directives_are_refused() {
    let app = spawn_app(Setup::default()).await;
    let roots: String = (0..51).map(|i| format!("c{i}: contact(id: \"x{i}\") {{ id }} ")).collect();
    // Raise the alias limit to isolate the root-field check.
    let lenient = spawn_app(Setup { extra: vec!["--max-aliases".into(), "1000".into()], ..Default::default() }).await;
    assert_refused(&lenient, &format!("{{ {roots} }}")).await;
    let directives: String = (0..60).map(|_| "@include(if: true) ").collect();
    assert_refused(&app, &format!("{{ __typename {directives} }}")).await;
    assert!(app.requests().is_empty() && lenient.requests().is_empty());
}

#[tokio::test]
async fn big_lists_of_nested_data_are_too_complex() {
    let app = spawn_app(Setup::default()).await;
    let nested = "{ contacts(first: 100) { nodes { id name email phone tags
        tasks { id title body dueDate status completed } notes { id body title createdAt } appointments { id title startTime endTime } } } }";
    assert_refused(&app, nested).await;
    let small = app.graphql("{ contacts(first: 10) { nodes { id tasks { id } } } }", json!({})).await;
    assert!(small["errors"].is_null(), "{small}");
}

#[tokio::test]
async fn oversized_operation_text_is_refused() {
    let app = spawn_app(Setup::default()).await;
    let padding = " ".repeat(40 * 1024);
    assert_refused(&app, &format!("{{ __typename {padding} }}")).await;
}

#[tokio::test]
async fn introspection_and_suggestions_are_off_against_real_ghl_by_default() {
    let app = spawn_app(Setup::default()).await;
    let schema = app.graphql("{ __schema { types { name } } }", json!({})).await;
    assert!(schema["data"]["__schema"].is_null(), "{schema}");
    let typo = app.graphql("{ contactt(id: \"a\") { id } }", json!({})).await;
    assert!(!typo.to_string().contains("Did you mean"), "{typo}");

    let open =
        spawn_app(Setup { extra: vec!["--introspection".into(), "true".into(), "--field-suggestions".into(), "true".into()], ..Default::default() }).await;
    let schema = open.graphql("{ __schema { queryType { name } } }", json!({})).await;
    assert_eq!(schema["data"]["__schema"]["queryType"]["name"], json!("Query"));
    let typo = open.graphql("{ contactt(id: \"a\") { id } }", json!({})).await;
    assert!(typo.to_string().contains("Did you mean"), "{typo}");
}

/// `open` repeated `n` times, then `inner`, then `close` repeated `n` times.
fn nest(open: &str, inner: &str, close: &str, n: usize) -> String {
    format!("{}{inner}{}", open.repeat(n), close.repeat(n))
}

/// Each refused with OPERATION_LIMIT for its nesting, nothing sent upstream, and still serving.
async fn assert_refused_for_nesting(app: &crate::helpers::TestApp, responses: &[Value]) {
    for response in responses {
        assert_eq!(codes(response), vec!["OPERATION_LIMIT"], "{}", &response.to_string()[..response.to_string().len().min(400)]);
        assert!(response["errors"][0]["message"].as_str().is_some_and(|m| m.contains("nests")), "{response}");
        assert!(response.get("data").is_none(), "{response}");
    }
    let ok = app.graphql("{ __typename }", json!({})).await;
    assert_eq!(ok["data"]["__typename"], json!("Query"), "{ok}");
    assert!(app.requests().is_empty());
}

/// Depths that overflowed the stack before the pre-scan: pest, the parser's first stage, guards
/// its own stack, so the abort came from the second stage in a window (about 300–800 levels in
/// debug builds, 1,800 in release); deeper texts failed in pest instead.
const DEEP: [usize; 6] = [300, 400, 550, 700, 1800, 15_000];

#[tokio::test]
async fn deeply_nested_argument_values_are_refused_without_overflowing_the_stack() {
    // Room for the deepest texts, so the nesting scan refuses them, not the size limit.
    let app = spawn_app(Setup { extra: vec!["--max-query-bytes".into(), "1048576".into()], ..Default::default() }).await;
    let mut responses = Vec::new();
    for depth in DEEP {
        let operations = [
            format!("{{ contact(id: {}) {{ id }} }}", nest("[", "1", "]", depth)),
            format!("{{ contact(id: {}) {{ id }} }}", nest("{a:", "1", "}", depth)),
            format!("{{ __typename @include(if: {}) }}", nest("[", "true", "]", depth)),
            format!("query ($v: Int = {}) {{ __typename }}", nest("[", "1", "]", depth)),
            format!("query ($v: {}) {{ __typename }}", nest("[", "Int", "]", depth)),
            format!("{{ contact(id: \"a\") {} }}", nest("{ ... on Contact ", "{ id }", "}", depth)),
        ];
        for operation in &operations {
            responses.push(app.graphql(operation, json!({})).await);
        }
    }
    assert_refused_for_nesting(&app, &responses).await;
}

#[tokio::test]
async fn deeply_nested_values_over_get_are_refused_without_overflowing_the_stack() {
    let app = spawn_app(Setup::default()).await;
    let mut responses = Vec::new();
    // Up to 1,800 levels: deeper would not fit in a URL.
    for depth in &DEEP[..5] {
        for operation in [
            format!("{{ contact(id: {}) {{ id }} }}", nest("[", "1", "]", *depth)),
            format!("mutation {{ deleteContact(id: {}) }}", nest("{a:", "1", "}", *depth)),
        ] {
            let response = app
                .http
                .get(format!("{}/graphql", app.url))
                .header("apollo-require-preflight", "1")
                .query(&[("query", operation)])
                .send()
                .await
                .expect("GET sent");
            responses.push(response.json().await.expect("JSON"));
        }
    }
    assert_refused_for_nesting(&app, &responses).await;
}

#[tokio::test]
async fn nesting_up_to_max_recursion_passes_the_pre_scan_and_one_more_level_does_not() {
    let app = spawn_app(Setup::default()).await;
    // `{` and `(` are two of the 64 levels.
    let at_limit = app.graphql(&format!("{{ contact(id: {}) {{ id }} }}", nest("[", "1", "]", 62)), json!({})).await;
    assert!(!codes(&at_limit).contains(&"OPERATION_LIMIT".to_owned()), "refused by type, not by nesting: {at_limit}");
    let over = app.graphql(&format!("{{ contact(id: {}) {{ id }} }}", nest("[", "1", "]", 63)), json!({})).await;
    assert_refused_for_nesting(&app, &[over]).await;

    let ceiling = spawn_app(Setup { extra: vec!["--max-recursion".into(), "128".into()], ..Default::default() }).await;
    let deepest = ceiling.graphql(&format!("{{ contact(id: {}) {{ id }} }}", nest("{a:", "1", "}", 126)), json!({})).await;
    assert!(!codes(&deepest).contains(&"OPERATION_LIMIT".to_owned()), "{deepest}");
    assert!(ceiling.requests().is_empty());
}

#[tokio::test]
async fn deeply_nested_variables_are_clean_errors_over_post_and_get() {
    let app = spawn_app(Setup::default()).await;
    let url = format!("{}/graphql", app.url);
    let query = "query ($v: ID!) { contact(id: $v) { id } }";
    let deep = nest("[", "1", "]", 100_000);
    let post = app
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body(format!(r#"{{"query":"{query}","variables":{{"v":{deep}}}}}"#))
        .send()
        .await
        .expect("POST sent");
    assert_eq!(post.status(), 400);
    assert_eq!(codes(&post.json().await.expect("JSON")), vec!["BAD_REQUEST"]);

    // 10,000 levels, percent-encoded, stay under the 64 KB URI limit.
    let variables = format!(r#"{{"v":{}}}"#, nest("[", "1", "]", 10_000));
    let get = app.http.get(&url).query(&[("query", query), ("variables", &variables)]).header("apollo-require-preflight", "1").send().await.expect("GET sent");
    assert_eq!(get.status(), 400);
    assert_eq!(codes(&get.json().await.expect("JSON")), vec!["BAD_REQUEST"]);

    // Just inside serde_json's limit of 128, the value parses and is refused by its type.
    let within = app.graphql(query, json!({ "v": serde_json::from_str::<Value>(&nest("[", "1", "]", 120)).expect("JSON") })).await;
    assert!(within["errors"][0]["message"].is_string() && within.get("data").is_none(), "{within}");
    let ok = app.graphql("{ __typename }", json!({})).await;
    assert_eq!(ok["data"]["__typename"], json!("Query"));
    assert!(app.requests().is_empty());
}

/// `query { ...F<n> }` where `F0` is `__typename` and each next fragment spreads the previous twice.
fn fragment_bomb(n: usize) -> String {
    let mut text = format!("query {{ ...F{n} }} fragment F0 on Query {{ __typename }}");
    for i in 1..=n {
        text += &format!(" fragment F{i} on Query {{ ...F{j} ...F{j} }}", j = i - 1);
    }
    text
}

/// This process's peak and current resident memory, in KiB (the app runs in-process).
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field =
        |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).expect("memory field");
    (field("VmHWM:"), field("VmRSS:"))
}

#[tokio::test]
async fn a_fragment_bomb_is_refused_quickly_in_bounded_memory() {
    let app = spawn_app(Setup::default()).await;
    let bomb = fragment_bomb(24);
    assert!(bomb.len() < 1100, "{} bytes", bomb.len());
    let (peak_before, _) = memory_kib();
    let started = std::time::Instant::now();

    let response = tokio::time::timeout(std::time::Duration::from_secs(10), app.graphql(&bomb, json!({}))).await.expect("answered within 10 s");
    // 60 doublings: async-graphql's own recursion check alone would walk 2^60 paths.
    let bigger = tokio::time::timeout(std::time::Duration::from_secs(10), app.graphql(&fragment_bomb(60), json!({}))).await.expect("answered");
    let (_, bomb_fragments) = fragment_bomb(20).split_once('}').map(|(q, f)| (q.to_owned(), f.to_owned())).expect("fragments");
    let cycle = app.graphql(&format!("query {{ ...A }} fragment A on Query {{ ...F20 ...A }}{bomb_fragments}"), json!({})).await;

    let elapsed = started.elapsed();
    let (peak_after, rss_after) = memory_kib();
    assert_eq!(codes(&response), vec!["OPERATION_LIMIT"], "{response}");
    let message = response["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("16777216 fields once its fragments are inlined; the limit is 2000"), "{message}");
    assert_eq!(codes(&bigger), vec!["OPERATION_LIMIT"], "{bigger}");
    assert_eq!(codes(&cycle), vec!["OPERATION_LIMIT"], "{cycle}");
    assert!(cycle["errors"][0]["message"].as_str().is_some_and(|m| m.contains("fragment `A` spreads itself")), "{cycle}");
    assert!(elapsed < std::time::Duration::from_secs(2), "{elapsed:?}");
    let grown_mib = peak_after.saturating_sub(peak_before) / 1024;
    assert!(grown_mib < 100, "peak memory grew {grown_mib} MiB (now {} MiB resident)", rss_after / 1024);
    assert!(app.requests().is_empty());
}

#[tokio::test]
async fn a_batch_counts_the_fields_of_all_its_operations_together() {
    let app = spawn_app(Setup::default()).await;
    // 1024 fields each: under the limit of 2000 alone, over it together.
    let alone = app.graphql(&fragment_bomb(10), json!({})).await;
    assert!(alone["errors"].is_null(), "{alone}");
    let batch: Vec<Value> = (0..3).map(|_| json!({ "query": fragment_bomb(10) })).collect();

    let response: Value = app.http.post(format!("{}/graphql", app.url)).json(&batch).send().await.expect("sent").json().await.expect("JSON");

    assert_eq!(response[0]["data"]["__typename"], json!("Query"), "{response}");
    for refused in &response.as_array().expect("a batch answer")[1..] {
        assert_eq!(codes(refused), vec!["OPERATION_LIMIT"], "{refused}");
        assert!(refused["errors"][0]["message"].as_str().is_some_and(|m| m.contains("the batch selects more than 2000 fields")), "{refused}");
    }
    // Each HTTP request starts a budget of its own.
    let again = app.graphql(&fragment_bomb(10), json!({})).await;
    assert!(again["errors"].is_null(), "{again}");
}

#[tokio::test]
async fn big_legit_queries_count_fields_as_written_not_multiplied_by_first() {
    let app = spawn_app(Setup::default()).await;
    let wide = app.graphql("{ contacts(first: 100) { nodes { id name email phone tags } } }", json!({})).await;
    assert!(wide["errors"].is_null(), "{wide}");
    let fragments = app
        .graphql(
            "query { contacts(first: 20) { nodes { ...C } } }
             fragment C on Contact { id name email phone tags tasks { ...T } notes { id body } }
             fragment T on Task { id title body dueDate status completed }",
            json!({}),
        )
        .await;
    assert!(fragments["errors"].is_null(), "{fragments}");
}

/// graphql-js 16 `getIntrospectionQuery()` with its defaults, as GraphiQL's Docs pane sends it.
const INTROSPECTION_QUERY: &str = r#"
    query IntrospectionQuery {
      __schema {
        queryType { name kind }
        mutationType { name kind }
        subscriptionType { name kind }
        types { ...FullType }
        directives { name description locations args { ...InputValue } }
      }
    }
    fragment FullType on __Type {
      kind name description
      fields(includeDeprecated: true) {
        name description
        args { ...InputValue }
        type { ...TypeRef }
        isDeprecated deprecationReason
      }
      inputFields { ...InputValue }
      interfaces { ...TypeRef }
      enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
      possibleTypes { ...TypeRef }
    }
    fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
    fragment TypeRef on __Type {
      kind name
      ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
        ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }
    }"#;

#[tokio::test]
async fn the_standard_introspection_query_passes_the_nesting_and_field_limits() {
    let app = spawn_app(Setup { extra: vec!["--introspection".into(), "true".into()], ..Default::default() }).await;
    let response = app.graphql(INTROSPECTION_QUERY, json!({})).await;
    let refusals: Vec<&str> = response["errors"].as_array().into_iter().flatten().filter_map(|e| e["message"].as_str()).collect();
    assert!(!refusals.iter().any(|m| m.contains("levels deep") || m.contains("inlined")), "{refusals:?}");
    let deeper = spawn_app(Setup { extra: vec!["--introspection".into(), "true".into(), "--max-depth".into(), "15".into()], ..Default::default() }).await;
    let response = deeper.graphql(INTROSPECTION_QUERY, json!({})).await;
    assert!(response["errors"].is_null(), "{}", &response.to_string()[..response.to_string().len().min(400)]);
    assert!(response["data"]["__schema"]["types"].as_array().is_some_and(|t| !t.is_empty()));
}

const ENTITIES: &str = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Contact { id name email phone tasks { id title } notes { id } } } }";

fn representations(n: usize) -> Value {
    Value::Array((0..n).map(|i| json!({ "__typename": "Contact", "id": format!("c{i}") })).collect())
}

#[tokio::test]
async fn twenty_thousand_entity_references_are_refused_without_an_upstream_call() {
    let app = spawn_app(Setup { extra: vec!["--max-body-bytes".into(), "4000000".into()], ..Setup::default() }).await;

    let response = app.graphql(ENTITIES, json!({ "r": representations(20_000) })).await;

    assert_eq!(codes(&response), vec!["OPERATION_LIMIT"], "{}", &response.to_string()[..300.min(response.to_string().len())]);
    assert!(app.requests().is_empty());
}

#[tokio::test]
async fn each_entity_reference_counts_its_selection_against_the_complexity_limit() {
    let app = spawn_app(Setup { extra: vec!["--max-complexity".into(), "500".into()], ..Setup::default() }).await;
    let ids = app.contact_ids();

    let many = app.graphql(ENTITIES, json!({ "r": representations(100) })).await;
    assert_eq!(codes(&many), vec!["OPERATION_LIMIT"], "{many}");
    assert!(app.requests().is_empty());

    let few: Vec<Value> = ids[..5].iter().map(|id| json!({ "__typename": "Contact", "id": id })).collect();
    let response = app.graphql(ENTITIES, json!({ "r": few })).await;
    assert!(response["errors"].is_null(), "{response}");
    assert_eq!(response["data"]["_entities"].as_array().map(Vec::len), Some(5));

    // The same text, now parsed once and kept: its variables are still counted per request.
    let many_again = app.graphql(ENTITIES, json!({ "r": representations(100) })).await;
    assert_eq!(codes(&many_again), vec!["OPERATION_LIMIT"], "{many_again}");
}
