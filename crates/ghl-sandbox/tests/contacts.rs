//! Reads and writes: every write shows up in later reads; bodies are validated like GHL (422 with
//! a message array, unknown properties refused); duplicates and upserts follow GHL's rules.

mod common;

use ghl_sandbox::{LOCATION_ID, READ_TOKEN, WRITE_TOKEN};
use serde_json::{json, Value};

#[tokio::test]
async fn a_created_contact_can_be_read_updated_and_deleted() {
    let t = common::spawn().await;
    let created = t
        .post(
            WRITE_TOKEN,
            "/contacts/",
            json!({
                "locationId": LOCATION_ID, "firstName": "Ada", "lastName": "Lovelace",
                "email": "Ada@Example.com", "phone": "+1 512-555-0199", "tags": ["VIP", "vip", " lead "],
                "customFields": [{"id": "cf1", "field_value": "42"}], "dateOfBirth": "1815-12-10"
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let contact = &created.body["contact"];
    let id = contact["id"].as_str().expect("id").to_owned();
    assert_eq!(id.len(), 20);
    assert_eq!(contact["phone"], "+15125550199");
    assert_eq!(contact["emailLowerCase"], "ada@example.com");
    assert_eq!(contact["tags"], json!(["vip", "lead"]));
    assert_eq!(contact["dateOfBirth"], "1815-12-10T00:00:00.000Z");

    let read = t.get(READ_TOKEN, &format!("/contacts/{id}")).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body["contact"]["name"], "Ada Lovelace");
    assert_eq!(read.body["contact"]["customFields"], json!([{"id": "cf1", "value": "42"}]));
    assert_eq!(t.sandbox.contact_ids().last(), Some(&id), "newest contact sorts last");

    let updated = t.put(WRITE_TOKEN, &format!("/contacts/{id}"), json!({"lastName": "King", "email": null})).await;
    assert_eq!(updated.status, 200);
    assert_eq!(updated.body["succeded"], true);
    assert_eq!(updated.body["contact"]["lastName"], "King");
    assert!(updated.body["contact"].get("email").is_none(), "null clears");
    let read = t.get(READ_TOKEN, &format!("/contacts/{id}")).await;
    assert_eq!(read.body["contact"]["fullNameLowerCase"], "ada king");

    let deleted = t.delete(WRITE_TOKEN, &format!("/contacts/{id}"), None).await;
    assert_eq!((deleted.status, deleted.body.clone()), (200, json!({"succeded": true})));
    assert_eq!(t.get(READ_TOKEN, &format!("/contacts/{id}")).await.status, 400);
    assert!(!t.sandbox.contact_ids().contains(&id));
}

#[tokio::test]
async fn creating_a_contact_with_an_existing_email_is_a_400_duplicate() {
    let t = common::spawn().await;
    let body = json!({"locationId": LOCATION_ID, "firstName": "Dup", "email": "dup@example.com"});
    let first = t.post(WRITE_TOKEN, "/contacts/", body.clone()).await;
    assert_eq!(first.status, 201);
    let second = t.post(WRITE_TOKEN, "/contacts/", json!({"locationId": LOCATION_ID, "email": "DUP@example.com"})).await;
    assert_eq!(second.status, 400);
    assert_eq!(second.message(), "This location does not allow duplicated contacts.");
    assert_eq!(second.body["meta"]["contactId"], first.body["contact"]["id"]);
    assert_eq!(second.body["meta"]["matchingField"], "email");
}

#[tokio::test]
async fn upsert_updates_the_contact_with_the_same_email_or_phone_and_creates_otherwise() {
    let t = common::spawn().await;
    let first = t.post(WRITE_TOKEN, "/contacts/upsert", json!({"locationId": LOCATION_ID, "email": "up@example.com", "firstName": "Up"})).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(first.body["new"], true);
    assert!(first.body["traceId"].is_string());
    let id = first.body["contact"]["id"].clone();
    let second = t.post(WRITE_TOKEN, "/contacts/upsert", json!({"locationId": LOCATION_ID, "email": "UP@example.com", "lastName": "Dated"})).await;
    assert_eq!(second.body["new"], false);
    assert_eq!(second.body["contact"]["id"], id);
    assert_eq!(second.body["contact"]["name"], "Up Dated");
    let by_phone = t.post(WRITE_TOKEN, "/contacts/upsert", json!({"locationId": LOCATION_ID, "phone": "(512) 555-0123"})).await;
    assert_eq!(by_phone.body["new"], true);
    let again = t.post(WRITE_TOKEN, "/contacts/upsert", json!({"locationId": LOCATION_ID, "phone": "+15125550123", "city": "Austin"})).await;
    assert_eq!(again.body["new"], false);
    assert_eq!(again.body["contact"]["id"], by_phone.body["contact"]["id"]);
}

#[tokio::test]
async fn bad_bodies_are_422_with_every_message() {
    let t = common::spawn().await;
    let id = t.first_contact();
    let answer = t.post(WRITE_TOKEN, &format!("/contacts/{id}/tasks"), json!({"title": 5, "completed": "yes", "dueDate": "soon", "extra": 1})).await;
    assert_eq!(answer.status, 422);
    assert_eq!(answer.body["error"], "Unprocessable Entity");
    assert_eq!(
        answer.body["message"],
        json!([
            "title must be a string",
            "dueDate must be a valid ISO 8601 date string",
            "completed must be a boolean value",
            "property extra should not exist"
        ])
    );
    let create = t.post(WRITE_TOKEN, "/contacts/", json!({"firstName": "No location", "email": "not-an-email"})).await;
    assert_eq!(create.status, 422);
    let messages: Vec<String> = serde_json::from_value(create.body["message"].clone()).expect("array");
    assert!(messages.contains(&"locationId should not be empty".to_owned()), "{messages:?}");
    assert!(messages.contains(&"email must be an email".to_owned()), "{messages:?}");
    let update = t.put(WRITE_TOKEN, &format!("/contacts/{id}"), json!({"locationId": LOCATION_ID})).await;
    assert_eq!(update.status, 422, "UpdateContactDto has no locationId");
    assert_eq!(update.body["message"], json!(["property locationId should not exist"]));
}

#[tokio::test]
async fn invalid_json_is_a_400() {
    let t = common::spawn().await;
    let response = t
        .client
        .post(t.url("/contacts/"))
        .bearer_auth(WRITE_TOKEN)
        .header("Version", ghl_sandbox::API_VERSION)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status().as_u16(), 400);
}

#[tokio::test]
async fn task_writes_show_up_in_later_reads() {
    let t = common::spawn().await;
    let id = t.first_contact();
    let before = t.get(READ_TOKEN, &format!("/contacts/{id}/tasks")).await.body["tasks"].as_array().map_or(0, Vec::len);
    let created = t
        .post(
            WRITE_TOKEN,
            &format!("/contacts/{id}/tasks"),
            json!({"title": "Call back", "body": "re: quote", "dueDate": "2025-03-01T09:30:00+01:00", "completed": false}),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let task = &created.body["task"];
    assert_eq!(task["dueDate"], "2025-03-01T08:30:00.000Z");
    assert_eq!(task["contactId"], id.as_str());
    let task_id = task["id"].as_str().expect("id").to_owned();

    let path = format!("/contacts/{id}/tasks/{task_id}");
    let updated = t.put(WRITE_TOKEN, &path, json!({"title": "Call back today"})).await;
    assert_eq!((updated.status, updated.body["task"]["title"].clone()), (200, json!("Call back today")));
    let completed = t.put(WRITE_TOKEN, &format!("{path}/completed"), json!({"completed": true})).await;
    assert_eq!(completed.body["task"]["completed"], true);
    let read = t.get(READ_TOKEN, &path).await;
    assert_eq!(read.body["task"]["title"], "Call back today");
    assert_eq!(read.body["task"]["completed"], true);
    let list = t.get(READ_TOKEN, &format!("/contacts/{id}/tasks")).await;
    assert_eq!(list.body["tasks"].as_array().map_or(0, Vec::len), before + 1);

    let deleted = t.delete(WRITE_TOKEN, &path, None).await;
    assert_eq!(deleted.body, json!({"succeded": true}));
    assert_eq!(t.get(READ_TOKEN, &path).await.status, 400);
}

#[tokio::test]
async fn note_writes_show_up_in_later_reads() {
    let t = common::spawn().await;
    let id = t.first_contact();
    let created = t.post(WRITE_TOKEN, &format!("/contacts/{id}/notes"), json!({"body": "Met at the fair", "title": "Fair"})).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let note_id = created.body["note"]["id"].as_str().expect("id").to_owned();
    let list = t.get(READ_TOKEN, &format!("/contacts/{id}/notes")).await;
    assert_eq!(list.body["notes"][0]["id"], note_id.as_str(), "newest first");
    let path = format!("/contacts/{id}/notes/{note_id}");
    let updated = t.put(WRITE_TOKEN, &path, json!({"body": "Met at the spring fair", "pinned": true})).await;
    assert_eq!(updated.status, 200);
    let read = t.get(READ_TOKEN, &path).await;
    assert_eq!(read.body["note"]["body"], "Met at the spring fair");
    assert_eq!(read.body["note"]["pinned"], true);
    assert_eq!(t.delete(WRITE_TOKEN, &path, None).await.status, 200);
    assert_eq!(t.get(READ_TOKEN, &path).await.status, 400);
    let missing_body = t.post(WRITE_TOKEN, &format!("/contacts/{id}/notes"), json!({"title": "no body"})).await;
    assert_eq!(missing_body.status, 422);
}

#[tokio::test]
async fn tags_are_added_and_removed_with_a_json_body() {
    let t = common::spawn().await;
    let id = t.first_contact();
    let added = t.post(WRITE_TOKEN, &format!("/contacts/{id}/tags"), json!({"tags": ["Zebra", "yak"]})).await;
    assert_eq!(added.status, 201);
    let tags: Vec<Value> = added.body["tags"].as_array().cloned().expect("tags");
    assert!(tags.contains(&json!("zebra")) && tags.contains(&json!("yak")));
    let removed = t.delete(WRITE_TOKEN, &format!("/contacts/{id}/tags"), Some(json!({"tags": ["zebra"]}))).await;
    assert_eq!(removed.status, 200);
    assert!(!removed.body["tags"].as_array().expect("tags").contains(&json!("zebra")));
    let read = t.get(READ_TOKEN, &format!("/contacts/{id}")).await;
    assert_eq!(read.body["contact"]["tags"], removed.body["tags"]);
    let no_tags = t.delete(WRITE_TOKEN, &format!("/contacts/{id}/tags"), None).await;
    assert_eq!(no_tags.status, 422);
}

#[tokio::test]
async fn appointments_use_the_event_time_format() {
    let t = common::spawn().await;
    for id in t.sandbox.contact_ids() {
        let answer = t.get(READ_TOKEN, &format!("/contacts/{id}/appointments")).await;
        assert_eq!(answer.status, 200);
        if let Some(event) = answer.body["events"].as_array().and_then(|e| e.first()) {
            let start = event["startTime"].as_str().expect("startTime");
            assert!(chrono::NaiveDateTime::parse_from_str(start, "%Y-%m-%d %H:%M:%S").is_ok(), "{start}");
            assert_eq!(event["contactId"], id.as_str());
            return;
        }
    }
    panic!("no seeded appointments");
}

#[tokio::test]
async fn the_same_seed_gives_the_same_contacts_over_http() {
    let a = common::spawn().await;
    let b = common::spawn().await;
    let id = a.first_contact();
    assert_eq!(id, b.first_contact());
    let x = a.get(READ_TOKEN, &format!("/contacts/{id}")).await;
    let y = b.get(READ_TOKEN, &format!("/contacts/{id}")).await;
    assert_eq!(x.body, y.body);
}
