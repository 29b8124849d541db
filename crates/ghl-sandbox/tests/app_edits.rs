//! Changes made in the GHL app (`/__sandbox/contacts…`): each one changes what the API answers
//! next, is announced with GHL's webhook in GHL's shape, and is invisible to the API's request log
//! and rate limit.

mod common;

use std::time::Duration;

use common::hooks::{self, assert_ghl_shape};
use ghl_sandbox::{RateLimit, SandboxConfig, LOCATION_ID, OTHER_LOCATION_ID, READ_TOKEN, WRITE_TOKEN};
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn a_contact_created_changed_and_deleted_in_the_app_shows_in_the_api_and_is_announced() {
    let (t, hooks) = common::spawn_hooked().await;

    let created = t.app_edit(Method::POST, "/contacts", Some(json!({"locationId": LOCATION_ID, "firstName": "Ada", "email": "ada@example.com"}))).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["contact"]["id"].as_str().expect("id").to_owned();
    let read = t.get(READ_TOKEN, &format!("/contacts/{id}")).await;
    assert_eq!((read.status, read.body["contact"]["firstName"].as_str()), (200, Some("Ada")));

    let patched = t.app_edit(Method::PATCH, &format!("/contacts/{id}"), Some(json!({"city": "Leeds"}))).await;
    assert_eq!((patched.status, patched.body["succeded"].as_bool()), (200, Some(true)), "the API's PUT answer");
    assert_eq!(t.get(READ_TOKEN, &format!("/contacts/{id}")).await.body["contact"]["city"], "Leeds");

    let deleted = t.app_edit(Method::DELETE, &format!("/contacts/{id}"), None).await;
    assert_eq!((deleted.status, deleted.body.clone()), (200, json!({"succeded": true})));
    let gone = t.get(READ_TOKEN, &format!("/contacts/{id}")).await;
    assert_eq!((gone.status, gone.message()), (400, "Contact not found".to_owned()));

    let events = hooks.expect(&["ContactCreate", "ContactUpdate", "ContactDelete"]).await;
    for delivery in &events {
        assert_ghl_shape(&delivery.event);
        assert_eq!((delivery.event["id"].as_str(), delivery.event["locationId"].as_str()), (Some(id.as_str()), Some(LOCATION_ID)));
    }
    assert_eq!(events[0].event["email"], "ada@example.com");
    assert_eq!(events[1].event["city"], "Leeds");
    assert!(t.sandbox.requests().iter().all(|r| r.method == "GET"), "only the test's reads are logged: {:?}", t.sandbox.requests());
}

#[tokio::test]
async fn app_edits_are_announced_with_the_location_of_the_contact() {
    let (t, hooks) = common::spawn_hooked().await;
    let other = t.sandbox.contact_ids_in(OTHER_LOCATION_ID).remove(0);

    let tagged = t.app_edit(Method::POST, &format!("/contacts/{other}/tags"), Some(json!({"tags": ["Elsewhere"]}))).await;

    assert_eq!(tagged.status, 201);
    let event = &hooks.expect(&["ContactTagUpdate"]).await[0].event;
    assert_eq!((event["locationId"].as_str(), event["id"].as_str()), (Some(OTHER_LOCATION_ID), Some(other.as_str())));
}

#[tokio::test]
async fn tags_added_and_removed_in_the_app_show_in_the_api_and_are_announced() {
    let (t, hooks) = common::spawn_hooked().await;
    let id = t.first_contact();

    let added = t.app_edit(Method::POST, &format!("/contacts/{id}/tags"), Some(json!({"tags": ["From-App"]}))).await;
    assert_eq!(added.status, 201);
    assert!(t.get(READ_TOKEN, &format!("/contacts/{id}")).await.body["contact"]["tags"].as_array().unwrap().contains(&json!("from-app")));
    let removed = t.app_edit(Method::DELETE, &format!("/contacts/{id}/tags"), Some(json!({"tags": ["from-app"]}))).await;
    assert_eq!(removed.status, 200);
    assert!(!t.get(READ_TOKEN, &format!("/contacts/{id}")).await.body["contact"]["tags"].as_array().unwrap().contains(&json!("from-app")));

    let events = hooks.expect(&["ContactTagUpdate", "ContactTagUpdate"]).await;
    for delivery in &events {
        assert_ghl_shape(&delivery.event);
        assert_eq!(delivery.event["id"], id.as_str());
    }
    let with_tag = events.iter().filter(|d| d.event["tags"].as_array().unwrap().contains(&json!("from-app"))).count();
    assert_eq!(with_tag, 1, "one event after adding, one after removing");
}

#[tokio::test]
async fn tasks_edited_in_the_app_show_in_the_api_and_only_ghls_task_events_are_sent() {
    let (t, hooks) = common::spawn_hooked().await;
    let id = t.first_contact();

    let created =
        t.app_edit(Method::POST, &format!("/contacts/{id}/tasks"), Some(json!({"title": "Call", "dueDate": "2026-12-24T09:00:00Z", "completed": false}))).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let task = created.body["task"]["id"].as_str().expect("task id").to_owned();
    let path = format!("/contacts/{id}/tasks/{task}");
    let updated = t.app_edit(Method::PUT, &path, Some(json!({"title": "Call back"}))).await;
    assert_eq!(updated.status, 200);
    assert_eq!(t.get(READ_TOKEN, &path).await.body["task"]["title"], "Call back");
    let completed = t.app_edit(Method::PUT, &format!("{path}/completed"), Some(json!({"completed": true}))).await;
    assert_eq!(completed.status, 200);
    assert_eq!(t.get(READ_TOKEN, &path).await.body["task"]["completed"], true);
    let deleted = t.app_edit(Method::DELETE, &path, None).await;
    assert_eq!(deleted.status, 200);
    assert_eq!(t.get(READ_TOKEN, &path).await.message(), "Task not found");

    // GHL has no TaskUpdate: the plain update is silent.
    let events = hooks.expect(&["TaskCreate", "TaskComplete", "TaskDelete"]).await;
    for delivery in &events {
        assert_ghl_shape(&delivery.event);
        assert_eq!((delivery.event["id"].as_str(), delivery.event["contactId"].as_str()), (Some(task.as_str()), Some(id.as_str())));
    }
    assert_eq!(events[1].event["title"], "Call back");
}

#[tokio::test]
async fn notes_edited_in_the_app_show_in_the_api_and_are_announced() {
    let (t, hooks) = common::spawn_hooked().await;
    let id = t.first_contact();

    let created = t.app_edit(Method::POST, &format!("/contacts/{id}/notes"), Some(json!({"body": "Met at the fair"}))).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let note = created.body["note"]["id"].as_str().expect("note id").to_owned();
    let path = format!("/contacts/{id}/notes/{note}");
    assert_eq!(t.get(READ_TOKEN, &path).await.body["note"]["body"], "Met at the fair");
    assert_eq!(t.app_edit(Method::PUT, &path, Some(json!({"body": "Met at the spring fair"}))).await.status, 200);
    assert_eq!(t.get(READ_TOKEN, &path).await.body["note"]["body"], "Met at the spring fair");
    assert_eq!(t.app_edit(Method::DELETE, &path, None).await.status, 200);
    assert_eq!(t.get(READ_TOKEN, &path).await.message(), "Note not found");

    let events = hooks.expect(&["NoteCreate", "NoteUpdate", "NoteDelete"]).await;
    for delivery in &events {
        assert_ghl_shape(&delivery.event);
        assert_eq!((delivery.event["id"].as_str(), delivery.event["contactId"].as_str()), (Some(note.as_str()), Some(id.as_str())));
    }
    assert_eq!(events[1].event["body"], "Met at the spring fair");
}

fn event_of<'a>(events: &'a Value, id: &str) -> Option<&'a Value> {
    events["events"].as_array().expect("events").iter().find(|e| e["id"] == id)
}

#[tokio::test]
async fn appointments_booked_moved_and_cancelled_in_the_app_show_in_the_api_and_are_announced() {
    let (t, hooks) = common::spawn_hooked().await;
    let id = t.first_contact();
    let list = format!("/contacts/{id}/appointments");

    let booked = t
        .app_edit(
            Method::POST,
            &list,
            Some(json!({"title": "Site visit", "startTime": "2026-12-24T09:00:00Z", "endTime": "2026-12-24T10:00:00Z", "address": "1 High St"})),
        )
        .await;
    assert_eq!(booked.status, 201, "{:?}", booked.body);
    let appointment = booked.body["appointment"]["id"].as_str().expect("appointment id").to_owned();
    let seen = t.get(READ_TOKEN, &list).await.body;
    let event = event_of(&seen, &appointment).expect("the API lists the new appointment");
    assert_eq!((event["title"].as_str(), event["startTime"].as_str()), (Some("Site visit"), Some("2026-12-24 09:00:00")));

    let path = format!("{list}/{appointment}");
    let moved = t
        .app_edit(Method::PUT, &path, Some(json!({"startTime": "2026-12-24T11:00:00Z", "endTime": "2026-12-24T12:00:00Z", "notes": "Bring the ladder"})))
        .await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    let seen = t.get(READ_TOKEN, &list).await.body;
    let event = event_of(&seen, &appointment).expect("still listed");
    assert_eq!((event["startTime"].as_str(), event["notes"].as_str()), (Some("2026-12-24 11:00:00"), Some("Bring the ladder")));
    assert_eq!(event["title"], "Site visit", "a partial update keeps the rest");

    assert_eq!(t.app_edit(Method::DELETE, &path, None).await.status, 200);
    assert!(event_of(&t.get(READ_TOKEN, &list).await.body, &appointment).is_none());
    assert_eq!(t.app_edit(Method::DELETE, &path, None).await.message(), "Appointment not found");

    let events = hooks.expect(&["AppointmentCreate", "AppointmentUpdate", "AppointmentDelete"]).await;
    for delivery in &events {
        assert_ghl_shape(&delivery.event);
        let a = &delivery.event["appointment"];
        assert_eq!((a["id"].as_str(), a["contactId"].as_str()), (Some(appointment.as_str()), Some(id.as_str())));
        assert_eq!(delivery.event["locationId"], LOCATION_ID);
        for field in ["calendarId", "title", "appointmentStatus", "assignedUserId", "startTime", "endTime", "dateAdded", "dateUpdated"] {
            assert!(a[field].as_str().is_some_and(|s| !s.is_empty()), "{field} in {a}");
        }
    }
    assert_eq!(events[0].event["appointment"]["address"], "1 High St");
    assert!(events[0].event["appointment"].get("notes").is_none(), "absent fields are left out");
    assert_eq!(events[1].event["appointment"]["startTime"], "2026-12-24T11:00:00.000Z");
    assert_eq!(events[2].event["appointment"]["notes"], "Bring the ladder", "the delete carries the appointment as it was");
}

#[tokio::test]
async fn a_bad_appointment_is_refused_with_ghls_list_of_messages_and_changes_nothing() {
    let (t, hooks) = common::spawn_hooked().await;
    let id = t.first_contact();
    let list = format!("/contacts/{id}/appointments");
    let before = t.get(READ_TOKEN, &list).await.body;

    let refused = t.app_edit(Method::POST, &list, Some(json!({"startTime": "soon", "endTime": "2026-12-24T10:00:00Z", "colour": "red"}))).await;

    assert_eq!(refused.status, 422);
    let messages: Vec<&str> = refused.body["message"].as_array().expect("an array of messages").iter().filter_map(Value::as_str).collect();
    for expected in ["title should not be empty", "startTime must be a valid ISO 8601 date string", "property colour should not exist"] {
        assert!(messages.contains(&expected), "{expected:?} in {messages:?}");
    }
    let backwards = t.app_edit(Method::POST, &list, Some(json!({"title": "T", "startTime": "2026-12-24T10:00:00Z", "endTime": "2026-12-24T09:00:00Z"}))).await;
    assert_eq!(backwards.status, 422);
    assert_eq!(t.get(READ_TOKEN, &list).await.body, before);
    assert!(hooks.settle().await.is_empty(), "a refused edit is not announced");
}

#[tokio::test]
async fn a_dnd_change_is_announced_as_contact_dnd_update_too_from_the_app_and_from_the_api() {
    let (t, hooks) = common::spawn_hooked().await;
    let id = t.first_contact();
    let dnd_before = t.get(READ_TOKEN, &format!("/contacts/{id}")).await.body["contact"]["dnd"].as_bool().expect("dnd");

    t.app_edit(Method::PATCH, &format!("/contacts/{id}"), Some(json!({"dnd": !dnd_before}))).await;
    let events = hooks.expect(&["ContactUpdate", "ContactDndUpdate"]).await;
    assert_ghl_shape(&events[1].event);
    assert_eq!((events[1].event["id"].as_str(), events[1].event["dnd"].as_bool()), (Some(id.as_str()), Some(!dnd_before)));

    let settings = json!({"SMS": {"status": "active", "message": "Opted out by phone", "code": "103"}});
    let put = t.put(WRITE_TOKEN, &format!("/contacts/{id}"), json!({"dndSettings": settings})).await;
    assert_eq!(put.status, 200);
    let events = hooks.expect(&["ContactUpdate", "ContactDndUpdate", "ContactUpdate", "ContactDndUpdate"]).await;
    assert_eq!(events[3].event["dndSettings"], settings);
    assert_ghl_shape(&events[3].event);

    t.app_edit(Method::PATCH, &format!("/contacts/{id}"), Some(json!({"dnd": !dnd_before, "city": "Bath"}))).await;
    hooks.expect(&["ContactUpdate", "ContactDndUpdate", "ContactUpdate", "ContactDndUpdate", "ContactUpdate"]).await;
}

#[tokio::test]
async fn app_edits_answer_the_apis_errors_for_unknown_ids_and_bad_bodies() {
    let (t, hooks) = common::spawn_hooked().await;
    let id = t.first_contact();

    for (method, path, body) in [
        (Method::PATCH, "/contacts/nope".to_owned(), Some(json!({"city": "X"}))),
        (Method::DELETE, "/contacts/nope".to_owned(), None),
        (Method::POST, "/contacts/nope/tasks".to_owned(), Some(json!({"title": "T", "dueDate": "2026-12-24T09:00:00Z", "completed": false}))),
        (Method::POST, "/contacts/nope/appointments".to_owned(), Some(json!({}))),
    ] {
        let answer = t.app_edit(method.clone(), &path, body).await;
        assert_eq!((answer.status, answer.message()), (400, "Contact not found".to_owned()), "{method} {path}");
    }
    let task = t.app_edit(Method::PUT, &format!("/contacts/{id}/tasks/nope/completed"), Some(json!({"completed": true}))).await;
    assert_eq!((task.status, task.message()), (400, "Task not found".to_owned()));
    let bad = t.app_edit(Method::POST, "/contacts", Some(json!({"firstName": "NoLocation"}))).await;
    let api = t.post(WRITE_TOKEN, "/contacts/", json!({"firstName": "NoLocation"})).await;
    assert_eq!((bad.status, &bad.body), (422, &api.body), "the same 422 as the API");
    let unknown = t.app_edit(Method::POST, "/contacts", Some(json!({"locationId": "nowhere", "firstName": "X"}))).await;
    assert_eq!(unknown.status, 400);
    let wrong_method = t.app_edit(Method::GET, &format!("/contacts/{id}"), None).await;
    assert_eq!((wrong_method.status, wrong_method.message()), (404, format!("Cannot GET /__sandbox/contacts/{id}")), "reads go through the API");
    let update = t.app_edit(Method::PATCH, &format!("/contacts/{id}"), Some(json!({"locationId": LOCATION_ID}))).await;
    assert_eq!(update.status, 422, "UpdateContactDto has no locationId");
    assert!(hooks.settle().await.is_empty(), "nothing changed, nothing announced");
}

#[tokio::test]
async fn app_edits_do_not_count_against_the_rate_limit() {
    let t = common::spawn_with(SandboxConfig { rate_limit: RateLimit { max: 3, interval: Duration::from_secs(60) }, ..SandboxConfig::default() }).await;
    let id = t.first_contact();

    for i in 0..6 {
        let answer = t.app_edit(Method::POST, &format!("/contacts/{id}/notes"), Some(json!({"body": format!("note {i}")}))).await;
        assert_eq!(answer.status, 201, "edit {i}");
    }

    let read = t.get(READ_TOKEN, &format!("/contacts/{id}/notes")).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.header_u64("x-ratelimit-remaining"), 2, "the API call is the token's first");
    assert!(read.body["notes"].as_array().unwrap().iter().filter(|n| n["body"].as_str().is_some_and(|b| b.starts_with("note "))).count() == 6);
    assert_eq!(t.sandbox.requests().len(), 1);
}

#[tokio::test]
async fn an_app_edit_with_no_webhook_url_still_changes_the_store() {
    let t = common::spawn().await;
    let id = t.first_contact();
    let answer = t.app_edit(Method::PATCH, &format!("/contacts/{id}"), Some(json!({"city": "Hull"}))).await;
    assert_eq!(answer.status, 200);
    assert_eq!(t.get(READ_TOKEN, &format!("/contacts/{id}")).await.body["contact"]["city"], "Hull");
    assert!(t.sandbox.webhook_deliveries().is_empty());
    // The key is there to verify with even before a URL is set.
    let _ = hooks::public_key(&t.client, &t.sandbox.base_url()).await;
}
