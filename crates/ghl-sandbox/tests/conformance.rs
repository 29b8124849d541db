//! Conformance: every success body the sandbox returns is validated against the response schema of
//! its endpoint in the vendored official specs (`spec/*.json`), so the sandbox cannot drift from GHL.
//!
//! The specs declare almost no `required` fields and never forbid extra ones, so a plain check would
//! pass `{}`. Validation is therefore strict: every object schema gets `additionalProperties: false`
//! (a misspelt field fails) and the top-level envelope requires all its declared properties.
//! OpenAPI's `nullable: true` becomes a JSON Schema `null` type. Overrides, where the spec is wrong
//! or silent, are listed in `overrides()` below with the reason for each.

mod common;

use std::collections::HashMap;

use ghl_sandbox::{LOCATION_ID, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, READ_TOKEN, WRITE_TOKEN};
use serde_json::{json, Map, Value};

struct Spec {
    files: HashMap<&'static str, Value>,
}

impl Spec {
    fn load() -> Self {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("spec");
        let files = ["contacts.json", "locations.json", "oauth.json", "common-schemas.json"]
            .into_iter()
            .map(|name| {
                let text = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
                (name, serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}")))
            })
            .collect();
        Self { files }
    }

    fn pointer(&self, file: &str, pointer: &str) -> Value {
        self.files[file].pointer(pointer).cloned().unwrap_or_else(|| panic!("{file}#{pointer} not found"))
    }

    /// The 2xx schema of an operation, `$ref`s inlined.
    fn response(&self, file: &'static str, path: &str, method: &str, status: u16) -> Value {
        let escaped = path.replace('~', "~0").replace('/', "~1");
        let pointer = format!("/paths/{escaped}/{method}/responses/{status}/content/application~1json/schema");
        self.resolve(file, self.pointer(file, &pointer))
    }

    /// A component schema, `$ref`s inlined.
    fn schema(&self, file: &'static str, name: &str) -> Value {
        self.resolve(file, self.pointer(file, &format!("/components/schemas/{name}")))
    }

    /// Inlines `$ref`s (`#/…` within `file`, `../common/common-schemas.json#/…` across files) and
    /// turns OpenAPI's `nullable` into a JSON Schema type union.
    fn resolve(&self, file: &'static str, value: Value) -> Value {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(reference)) = map.get("$ref") {
                    let (target, pointer) = reference.split_once('#').expect("ref with a pointer");
                    let target_file: &'static str = if target.is_empty() {
                        file
                    } else {
                        let name = target.rsplit('/').next().expect("file name");
                        self.files.keys().find(|k| **k == name).copied().unwrap_or_else(|| panic!("unknown file {target}"))
                    };
                    return self.resolve(target_file, self.pointer(target_file, pointer));
                }
                let nullable = map.get("nullable") == Some(&Value::Bool(true));
                let mut out: Map<String, Value> =
                    map.into_iter().filter(|(k, _)| k != "nullable" && k != "example").map(|(k, v)| (k, self.resolve(file, v))).collect();
                if nullable {
                    if let Some(Value::String(t)) = out.get("type").cloned() {
                        out.insert("type".into(), json!([t, "null"]));
                    }
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.into_iter().map(|v| self.resolve(file, v)).collect()),
            other => other,
        }
    }
}

/// Forbids undeclared properties in every object schema that declares some.
fn strict(schema: Value) -> Value {
    match schema {
        Value::Object(map) => {
            let declares = map.contains_key("properties");
            let mut out: Map<String, Value> = map.into_iter().map(|(k, v)| (k, strict(v))).collect();
            if declares && !out.contains_key("additionalProperties") {
                out.insert("additionalProperties".into(), Value::Bool(false));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(strict).collect()),
        other => other,
    }
}

/// The envelope must carry every property it declares.
fn require_all(mut schema: Value) -> Value {
    let names: Vec<Value> = schema["properties"].as_object().map(|p| p.keys().map(|k| json!(k)).collect()).unwrap_or_default();
    schema["required"] = Value::Array(names);
    schema
}

fn assert_conforms(name: &str, schema: &Value, body: &Value) {
    let validator = jsonschema::validator_for(schema).unwrap_or_else(|e| panic!("{name}: invalid schema: {e}"));
    let errors: Vec<String> = validator.iter_errors(body).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{name} does not conform to the spec:\n{}\nbody: {body:#}", errors.join("\n"));
}

/// The schema of a list/search contact item. Override: GHL's `GET /contacts/`, business listing and
/// search return more than `ContactsSearchSchema` declares (names, phone, company…, documented by
/// their examples and by GHL's answers); they may use any property of `ContactsSearchSchema` or
/// `GetContectByIdSchema`, plus `contactName` (list) and `searchAfter` (search cursor).
fn listed_contact(spec: &Spec) -> Value {
    let mut item = spec.schema("contacts.json", "ContactsSearchSchema");
    let full = spec.schema("contacts.json", "GetContectByIdSchema");
    let props = item["properties"].as_object_mut().expect("properties");
    for (k, v) in full["properties"].as_object().expect("properties") {
        props.entry(k.clone()).or_insert_with(|| v.clone());
    }
    props.insert("contactName".into(), json!({"type": "string"}));
    props.insert("searchAfter".into(), json!({"type": "array", "prefixItems": [{"type": "number"}, {"type": "string"}], "minItems": 2, "maxItems": 2}));
    item
}

#[tokio::test]
async fn every_success_body_conforms_to_the_official_spec() {
    let spec = Spec::load();
    let t = common::spawn().await;
    let (contact, tasks) = t.contact_with_tasks(1).await;
    let business = t.sandbox.business_ids().remove(0);
    let mut checked = 0;
    let mut check = |name: &str, schema: Value, answer: &common::Answer, status: u16| {
        assert_eq!(answer.status, status, "{name}: {:?}", answer.body);
        assert_conforms(name, &require_all(strict(schema)), &answer.body);
        checked += 1;
    };
    let c = "contacts.json";

    // Reads.
    let a = t.get(READ_TOKEN, &format!("/contacts/{contact}")).await;
    check("GET /contacts/{contactId}", spec.response(c, "/contacts/{contactId}", "get", 200), &a, 200);
    let a = t.get(READ_TOKEN, &format!("/contacts/{contact}/tasks")).await;
    check("GET tasks", spec.response(c, "/contacts/{contactId}/tasks", "get", 200), &a, 200);
    let a = t.get(READ_TOKEN, &format!("/contacts/{contact}/tasks/{}", tasks[0])).await;
    check("GET task", spec.response(c, "/contacts/{contactId}/tasks/{taskId}", "get", 200), &a, 200);
    let a = t.get(READ_TOKEN, &format!("/contacts/{contact}/appointments")).await;
    check("GET appointments", spec.response(c, "/contacts/{contactId}/appointments", "get", 200), &a, 200);
    let notes = t.get(READ_TOKEN, &format!("/contacts/{contact}/notes")).await;
    check("GET notes", spec.response(c, "/contacts/{contactId}/notes", "get", 200), &notes, 200);

    // Listings, with the item override and `meta` (the deprecated list's pagination block,
    // absent from the spec's schema).
    let mut list_schema = spec.response(c, "/contacts/", "get", 200);
    list_schema["properties"]["contacts"]["items"] = listed_contact(&spec);
    list_schema["properties"]["meta"] =
        json!({"type": "object", "required": ["total", "nextPageUrl", "startAfterId", "startAfter", "currentPage", "nextPage", "prevPage"]});
    let a = t.get(READ_TOKEN, &format!("/contacts/?locationId={LOCATION_ID}&limit=100")).await;
    check("GET /contacts/", list_schema, &a, 200);
    // The spec types `attributions[].utmSource` and `medium` as strings: absent, never null.
    let attributions: Vec<&Value> = a.body["contacts"].as_array().expect("contacts").iter().filter_map(|c| c["attributions"].as_array()).flatten().collect();
    assert!(!attributions.is_empty(), "seeded contacts carry attributions");
    for attribution in attributions {
        for field in ["utmSource", "medium"] {
            assert!(attribution.get(field).is_none_or(Value::is_string), "{field} is null: {attribution}");
        }
    }
    let mut business_schema = spec.response(c, "/contacts/business/{businessId}", "get", 200);
    business_schema["properties"]["contacts"]["items"] = listed_contact(&spec);
    let a = t.get(READ_TOKEN, &format!("/contacts/business/{business}?locationId={LOCATION_ID}&limit=100")).await;
    check("GET /contacts/business/{businessId}", business_schema, &a, 200);

    // Override: POST /contacts/search has no response schema in the spec; GHL answers
    // `{contacts, total, traceId}`.
    let search_schema = json!({"type": "object", "properties": {
        "contacts": {"type": "array", "items": listed_contact(&spec)},
        "total": {"type": "number"},
        "traceId": {"type": "string"}
    }});
    let a = t.post(READ_TOKEN, "/contacts/search", json!({"locationId": LOCATION_ID, "pageLimit": 500})).await;
    check("POST /contacts/search", search_schema, &a, 200);

    // Override: the spec types tasks-search items as `array`; GHL returns task objects
    // (`TaskSchema`, which includes `contactId`).
    let mut tasks_schema = spec.response("locations.json", "/locations/{locationId}/tasks/search", "post", 200);
    tasks_schema["properties"]["tasks"]["items"] = spec.schema(c, "TaskSchema");
    let a = t.post(WRITE_TOKEN, &format!("/locations/{LOCATION_ID}/tasks/search"), json!({"limit": 1000})).await;
    check("POST /locations/{locationId}/tasks/search", tasks_schema, &a, 200);

    // Writes.
    let created = t
        .post(
            WRITE_TOKEN,
            "/contacts/",
            json!({
                "locationId": LOCATION_ID, "firstName": "Conformance", "lastName": "Check", "email": "conf@example.com",
                "phone": "+1 888-888-8888", "tags": ["a"], "customFields": [{"id": "x", "field_value": "1"}],
                "dndSettings": {"Call": {"status": "active"}}, "dateOfBirth": "1990-09-25", "companyName": "Acme",
                "source": "public api", "country": "US", "website": "https://example.com", "timezone": "America/Chicago"
            }),
        )
        .await;
    check("POST /contacts/", spec.response(c, "/contacts/", "post", 201), &created, 201);
    let new_id = created.body["contact"]["id"].as_str().expect("id").to_owned();
    let a = t.put(WRITE_TOKEN, &format!("/contacts/{new_id}"), json!({"city": "Austin"})).await;
    check("PUT /contacts/{contactId}", spec.response(c, "/contacts/{contactId}", "put", 200), &a, 200);
    let a = t.post(WRITE_TOKEN, "/contacts/upsert", json!({"locationId": LOCATION_ID, "email": "conf@example.com", "state": "TX"})).await;
    check("POST /contacts/upsert", spec.response(c, "/contacts/upsert", "post", 200), &a, 200);

    let a = t
        .post(
            WRITE_TOKEN,
            &format!("/contacts/{new_id}/tasks"),
            json!({"title": "T", "body": "B", "dueDate": "2025-01-01T00:00:00Z", "completed": false, "assignedTo": "u"}),
        )
        .await;
    check("POST task", spec.response(c, "/contacts/{contactId}/tasks", "post", 201), &a, 201);
    let task = a.body["task"]["id"].as_str().expect("id").to_owned();
    let a = t.put(WRITE_TOKEN, &format!("/contacts/{new_id}/tasks/{task}"), json!({"title": "T2"})).await;
    check("PUT task", spec.response(c, "/contacts/{contactId}/tasks/{taskId}", "put", 200), &a, 200);
    let a = t.put(WRITE_TOKEN, &format!("/contacts/{new_id}/tasks/{task}/completed"), json!({"completed": true})).await;
    check("PUT task completed", spec.response(c, "/contacts/{contactId}/tasks/{taskId}/completed", "put", 200), &a, 200);
    let a = t.delete(WRITE_TOKEN, &format!("/contacts/{new_id}/tasks/{task}"), None).await;
    check("DELETE task", spec.response(c, "/contacts/{contactId}/tasks/{taskId}", "delete", 200), &a, 200);

    let a =
        t.post(WRITE_TOKEN, &format!("/contacts/{new_id}/notes"), json!({"body": "N", "userId": "u", "title": "T", "color": "#FFAA00", "pinned": false})).await;
    check("POST note", spec.response(c, "/contacts/{contactId}/notes", "post", 201), &a, 201);
    let note = a.body["note"]["id"].as_str().expect("id").to_owned();
    let a = t.get(READ_TOKEN, &format!("/contacts/{new_id}/notes/{note}")).await;
    check("GET note", spec.response(c, "/contacts/{contactId}/notes/{id}", "get", 200), &a, 200);
    let a = t.put(WRITE_TOKEN, &format!("/contacts/{new_id}/notes/{note}"), json!({"body": "N2"})).await;
    check("PUT note", spec.response(c, "/contacts/{contactId}/notes/{id}", "put", 200), &a, 200);
    let a = t.delete(WRITE_TOKEN, &format!("/contacts/{new_id}/notes/{note}"), None).await;
    check("DELETE note", spec.response(c, "/contacts/{contactId}/notes/{id}", "delete", 200), &a, 200);

    let a = t.post(WRITE_TOKEN, &format!("/contacts/{new_id}/tags"), json!({"tags": ["b"]})).await;
    check("POST tags", spec.response(c, "/contacts/{contactId}/tags", "post", 201), &a, 201);
    let a = t.delete(WRITE_TOKEN, &format!("/contacts/{new_id}/tags"), Some(json!({"tags": ["a"]}))).await;
    check("DELETE tags", spec.response(c, "/contacts/{contactId}/tags", "delete", 200), &a, 200);
    let a = t.delete(WRITE_TOKEN, &format!("/contacts/{new_id}"), None).await;
    check("DELETE /contacts/{contactId}", spec.response(c, "/contacts/{contactId}", "delete", 200), &a, 200);

    // OAuth: only `userId` is required by the spec; the sandbox answers the fields of a location token.
    let no_redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let consent = no_redirect
        .get(t.url(&format!("/oauth/chooselocation?response_type=code&client_id={OAUTH_CLIENT_ID}&redirect_uri=http://localhost/cb&scope=contacts.readonly")))
        .send()
        .await
        .expect("answered");
    let target = consent.headers()["location"].to_str().expect("ascii").to_owned();
    let code = target.split("code=").nth(1).expect("code").to_owned();
    let response = t
        .client
        .post(t.url("/oauth/token"))
        .form(&[("client_id", OAUTH_CLIENT_ID), ("client_secret", OAUTH_CLIENT_SECRET), ("grant_type", "authorization_code"), ("code", &code)])
        .send()
        .await
        .expect("answered");
    let a = common::answer(response).await;
    let token_schema = strict(spec.response("oauth.json", "/oauth/token", "post", 200));
    assert_eq!(a.status, 200);
    assert_conforms("POST /oauth/token", &token_schema, &a.body);
    checked += 1;

    assert_eq!(checked, 24, "every endpoint was checked");
}

#[tokio::test]
async fn error_bodies_conform_to_the_common_error_schemas() {
    let spec = Spec::load();
    let t = common::spawn().await;
    let bad_request = strict(spec.schema("common-schemas.json", "BadRequestDTO"));
    let unauthorized = strict(spec.schema("common-schemas.json", "UnauthorizedDTO"));
    let unprocessable = strict(spec.schema("common-schemas.json", "UnprocessableDTO"));
    let a = t.get(READ_TOKEN, "/contacts/aaaaaaaaaaaaaaaaaaaa").await;
    assert_conforms("400", &bad_request, &a.body);
    let a = t.get("nope", "/contacts/aaaaaaaaaaaaaaaaaaaa").await;
    assert_conforms("401", &unauthorized, &a.body);
    let a = t.post(WRITE_TOKEN, &format!("/contacts/{}/notes", t.first_contact()), json!({})).await;
    assert_eq!(a.status, 422);
    assert_conforms("422", &unprocessable, &a.body);
}
