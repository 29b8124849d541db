use serde_json::json;

use crate::helpers::{spawn_app, Setup};

fn committed_schema() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).expect("schema.graphql at the repo root")
}

#[tokio::test]
async fn committed_schema_matches_the_code() {
    let sdl = ghl_subgraph::graphql::federation_sdl().await;
    assert!(committed_schema() == sdl, "schema.graphql drifted from the code: run `cargo run -- schema > schema.graphql` and review the diff");
}

#[tokio::test]
async fn service_sdl_over_http_equals_the_committed_schema() {
    let app = spawn_app(Setup::default()).await;
    let response = app.graphql("{ _service { sdl } }", json!({})).await;
    assert_eq!(response["data"]["_service"]["sdl"].as_str(), Some(committed_schema().as_str()));
}

#[test]
fn schema_keeps_the_contract_names() {
    let sdl = committed_schema();
    for needle in [
        "type Contact @key(fields: \"id\")",
        "type Query",
        "type Mutation",
        "contactsByBusiness(",
        "removeContactTags(",
        "completeTask(",
        "type ContactConnection",
        "totalCount: Int",
        "enum TaskStatus",
        "scalar DateTime",
    ] {
        assert!(sdl.contains(needle), "missing {needle}");
    }
    assert!(!sdl.contains("schema {"), "federation SDL has no schema block");
}
