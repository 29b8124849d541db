//! Delivery faults, for testing webhook receivers (`/__sandbox/webhook-faults` and
//! `RunningSandbox::add_webhook_fault`): drop, duplicate, delay, reorder and misSign each do what
//! they say to exactly the deliveries they match, and the delivery records say which fault applied.

mod common;

use std::time::{Duration, Instant};

use common::hooks::{self, assert_ghl_shape};
use common::TestSandbox;
use ghl_sandbox::{WebhookDelivery, WebhookFault, LOCATION_ID, REORDER_HOLD, WRITE_TOKEN};
use reqwest::Method;
use serde_json::{json, Value};

async fn add_fault(t: &TestSandbox, fault: Value) -> common::Answer {
    common::answer(t.client.post(t.url("/__sandbox/webhook-faults")).json(&fault).send().await.expect("answered")).await
}

async fn listed_faults(t: &TestSandbox) -> Value {
    t.client.get(t.url("/__sandbox/webhook-faults")).send().await.expect("answered").json::<Value>().await.expect("json")["faults"].clone()
}

async fn note(t: &TestSandbox, contact: &str, body: &str) -> String {
    let answer = t.post(WRITE_TOKEN, &format!("/contacts/{contact}/notes"), json!({ "body": body })).await;
    assert_eq!(answer.status, 201);
    answer.body["note"]["id"].as_str().expect("note id").to_owned()
}

async fn task(t: &TestSandbox, contact: &str, title: &str) -> String {
    let answer =
        t.post(WRITE_TOKEN, &format!("/contacts/{contact}/tasks"), json!({ "title": title, "dueDate": "2026-12-24T09:00:00Z", "completed": false })).await;
    assert_eq!(answer.status, 201);
    answer.body["task"]["id"].as_str().expect("task id").to_owned()
}

/// The delivery records once `count` are in (a record is written when the receiver has answered).
async fn records(t: &TestSandbox, count: usize) -> Vec<WebhookDelivery> {
    let started = Instant::now();
    while t.sandbox.webhook_deliveries().len() < count && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    t.sandbox.webhook_deliveries()
}

#[tokio::test]
async fn a_counted_drop_loses_only_that_many_deliveries_of_its_event_and_records_them() {
    let (t, hooks) = common::spawn_hooked().await;
    let contact = t.first_contact();
    let posted = add_fault(&t, json!({"kind": "drop", "event": "NoteCreate", "count": 1})).await;
    assert_eq!(posted.status, 201);
    assert_eq!(posted.body["fault"], json!({"kind": "drop", "event": "NoteCreate", "count": 1}));
    assert_eq!(listed_faults(&t).await, json!([{"kind": "drop", "event": "NoteCreate", "count": 1}]));

    let _lost = note(&t, &contact, "lost").await;
    let kept = note(&t, &contact, "kept").await;
    task(&t, &contact, "other event").await;

    let got = hooks.expect(&["NoteCreate", "TaskCreate"]).await;
    assert_eq!(got[0].event["id"], kept.as_str(), "the first NoteCreate never arrives");
    assert_eq!(listed_faults(&t).await, json!([]), "a used-up fault is gone");
    let recorded = records(&t, 3).await;
    let dropped: Vec<&WebhookDelivery> = recorded.iter().filter(|d| d.fault.is_some()).collect();
    assert_eq!(dropped.len(), 1, "{recorded:?}");
    assert_eq!((dropped[0].event.as_str(), dropped[0].status, dropped[0].attempts, dropped[0].fault.as_deref()), ("NoteCreate", None, 0, Some("drop")));
    assert!(recorded.iter().filter(|d| d.fault.is_none()).all(|d| d.status == Some(200) && d.attempts == 1), "{recorded:?}");

    let listed: Value = t.client.get(t.url("/__sandbox/webhooks")).send().await.expect("answered").json().await.expect("json");
    let faults: Vec<&Value> = listed["deliveries"].as_array().expect("deliveries").iter().map(|d| &d["fault"]).collect();
    assert_eq!(faults.iter().filter(|f| **f == "drop").count(), 1);
    assert_eq!(faults.iter().filter(|f| f.is_null()).count(), 2, "no fault key without a fault");
}

#[tokio::test]
async fn a_fault_without_count_applies_to_every_matching_delivery_until_cleared() {
    let (t, hooks) = common::spawn_hooked().await;
    let contact = t.first_contact();
    assert_eq!(add_fault(&t, json!({"kind": "drop"})).await.status, 201);

    for i in 0..3 {
        note(&t, &contact, &format!("n{i}")).await;
    }
    t.put(WRITE_TOKEN, &format!("/contacts/{contact}"), json!({"city": "Ely"})).await;
    assert!(hooks.settle().await.is_empty());
    assert_eq!(t.sandbox.webhook_deliveries().iter().filter(|d| d.fault.as_deref() == Some("drop")).count(), 4);

    let cleared = t.client.delete(t.url("/__sandbox/webhook-faults")).send().await.expect("answered");
    assert_eq!(cleared.status().as_u16(), 204);
    assert_eq!(listed_faults(&t).await, json!([]));
    note(&t, &contact, "after").await;
    hooks.expect(&["NoteCreate"]).await;
}

#[tokio::test]
async fn a_duplicate_is_the_identical_signed_body_twice() {
    let (t, hooks) = common::spawn_hooked().await;
    let key = hooks::public_key(&t.client, &t.sandbox.base_url()).await;
    let contact = t.first_contact();
    t.sandbox.add_webhook_fault(WebhookFault::duplicate().event("TaskCreate").times(1));

    let first = task(&t, &contact, "twice").await;
    let second = task(&t, &contact, "once").await;

    let got = hooks.expect(&["TaskCreate", "TaskCreate", "TaskCreate"]).await;
    let twice: Vec<&hooks::Received> = got.iter().filter(|d| d.event["id"] == first.as_str()).collect();
    assert_eq!(twice.len(), 2);
    assert_eq!(twice[0].webhook_id(), twice[1].webhook_id());
    assert_eq!((&twice[0].raw, &twice[0].signature), (&twice[1].raw, &twice[1].signature), "byte for byte the same delivery");
    assert_eq!(got.iter().filter(|d| d.event["id"] == second.as_str()).count(), 1, "count limits the fault");
    for delivery in &got {
        hooks::verify(&key, delivery).expect("a duplicate is properly signed");
    }
    let recorded = records(&t, 2).await;
    let dup = recorded.iter().find(|d| d.fault.is_some()).expect("recorded");
    assert_eq!((dup.webhook_id.as_str(), dup.status, dup.attempts, dup.fault.as_deref()), (twice[0].webhook_id(), Some(200), 2, Some("duplicate")));
}

#[tokio::test]
async fn a_delayed_delivery_arrives_after_delay_ms_and_after_later_events() {
    let (t, hooks) = common::spawn_hooked().await;
    let contact = t.first_contact();
    assert_eq!(add_fault(&t, json!({"kind": "delay", "delayMs": 600, "event": "NoteCreate", "count": 1})).await.status, 201);

    let started = Instant::now();
    let late = note(&t, &contact, "late").await;
    task(&t, &contact, "on time").await;
    let on_time = note(&t, &contact, "on time").await;

    let got = hooks.wait_for(3).await;
    let order: Vec<&str> = got.iter().map(hooks::Received::kind).collect();
    assert_eq!(order.last(), Some(&"NoteCreate"));
    let delayed = got.iter().find(|d| d.event["id"] == late.as_str()).expect("delivered");
    assert!(delayed.at - started >= Duration::from_millis(600), "arrived after {:?}", delayed.at - started);
    let prompt = got.iter().find(|d| d.event["id"] == on_time.as_str()).expect("delivered");
    assert!(prompt.at < delayed.at, "count limits the fault to the first NoteCreate");
    assert_eq!(got.last().map(|d| d.event["id"].clone()), Some(json!(late)));
    let recorded = records(&t, 3).await;
    assert_eq!(recorded.iter().filter_map(|d| d.fault.as_deref()).collect::<Vec<_>>(), ["delay"]);
}

#[tokio::test]
async fn a_reordered_delivery_arrives_right_after_the_next_event() {
    let (t, hooks) = common::spawn_hooked().await;
    let contact = t.first_contact();
    assert_eq!(add_fault(&t, json!({"kind": "reorder", "event": "TaskCreate", "count": 1})).await.status, 201);

    // Made in the app: faults apply to every delivery, whatever caused it.
    let held = t
        .app_edit(Method::POST, &format!("/contacts/{contact}/tasks"), Some(json!({"title": "first", "dueDate": "2026-12-24T09:00:00Z", "completed": false})))
        .await;
    assert_eq!(held.status, 201);
    tokio::time::sleep(Duration::from_millis(100)).await;
    note(&t, &contact, "second").await;

    let got = hooks.wait_for(2).await;
    assert_eq!(got.iter().map(hooks::Received::kind).collect::<Vec<_>>(), ["NoteCreate", "TaskCreate"], "arrival order swapped");
    assert_eq!(got[1].event["id"], held.body["task"]["id"]);
    let gap = got[1].at - got[0].at;
    assert!(gap < Duration::from_secs(1), "released right after the next event, not by the hold timeout ({gap:?})");
    assert_ghl_shape(&got[1].event);
    let recorded = records(&t, 2).await;
    assert_eq!(recorded.iter().map(|d| (d.event.as_str(), d.fault.as_deref())).collect::<Vec<_>>(), [("NoteCreate", None), ("TaskCreate", Some("reorder"))]);

    task(&t, &contact, "third").await;
    note(&t, &contact, "fourth").await;
    let got = hooks.wait_for(4).await;
    assert_eq!(got[2..].iter().map(hooks::Received::kind).collect::<Vec<_>>(), ["TaskCreate", "NoteCreate"], "count limits the fault");
}

#[tokio::test]
async fn a_reordered_delivery_with_nothing_after_it_goes_after_the_hold() {
    let (t, hooks) = common::spawn_hooked().await;
    let contact = t.first_contact();
    t.sandbox.add_webhook_fault(WebhookFault::reorder());

    let started = Instant::now();
    note(&t, &contact, "alone").await;

    let got = hooks.wait_for(1).await;
    assert_eq!(got.len(), 1, "sent anyway");
    assert!(got[0].at - started >= REORDER_HOLD, "held for {:?}", got[0].at - started);
}

#[tokio::test]
async fn a_mis_signed_delivery_has_a_well_formed_signature_that_does_not_verify_over_an_intact_body() {
    let (t, hooks) = common::spawn_hooked().await;
    let key = hooks::public_key(&t.client, &t.sandbox.base_url()).await;
    let contact = t.first_contact();
    assert_eq!(add_fault(&t, json!({"kind": "misSign", "count": 1})).await.status, 201);

    t.put(WRITE_TOKEN, &format!("/contacts/{contact}"), json!({"city": "Wells"})).await;
    let got = hooks.expect(&["ContactUpdate"]).await;
    t.put(WRITE_TOKEN, &format!("/contacts/{contact}"), json!({"city": "Truro"})).await;
    let next = hooks.wait_for(2).await;

    assert!(hooks::verify(&key, &got[0]).is_err(), "the signature must not verify");
    assert_ghl_shape(&got[0].event);
    assert_eq!((got[0].event["city"].as_str(), got[0].event["locationId"].as_str()), (Some("Wells"), Some(LOCATION_ID)), "the body is intact");
    hooks::verify(&key, &next[1]).expect("count limits the fault");
    let recorded = records(&t, 2).await;
    assert_eq!(recorded.iter().map(|d| d.fault.as_deref()).collect::<Vec<_>>(), [Some("misSign"), None]);
}

#[tokio::test]
async fn malformed_webhook_faults_are_refused_with_422() {
    let t = common::spawn().await;
    for bad in [
        json!({"kind": "lose"}),
        json!({"kind": "delay"}),
        json!({"kind": "drop", "event": "TaskUpdate"}),
        json!({"kind": "drop", "count": 0}),
        json!({"event": "TaskCreate"}),
    ] {
        let answer = add_fault(&t, bad.clone()).await;
        assert_eq!(answer.status, 422, "{bad}");
        assert!(answer.body["message"].is_array(), "{:?}", answer.body);
    }
    assert_eq!(listed_faults(&t).await, json!([]));
    t.sandbox.add_webhook_fault(WebhookFault::delay(Duration::from_millis(5)).event("TaskCreate"));
    assert_eq!(listed_faults(&t).await, json!([{"kind": "delay", "delayMs": 5, "event": "TaskCreate"}]));
    t.sandbox.clear_webhook_faults();
    assert_eq!(listed_faults(&t).await, json!([]));
}
