//! The "Allow Duplicate Contact" setting per location: each setting's matching on `POST
//! /contacts/upsert` and `POST /contacts/`, the field upsert ignores when the email matches one
//! contact and the phone another, `createNewIfDuplicateAllowed`, the setting at start and through
//! the control API, and the webhooks an upsert sends.

mod common;

use ghl_sandbox::{DuplicateSetting, SandboxConfig, LOCATION_ID, OTHER_LOCATION_ID, OTHER_LOCATION_TOKEN, READ_TOKEN, WRITE_TOKEN};
use serde_json::{json, Value};

use common::TestSandbox;

/// Email and phone no seeded contact has (seeded phones are +1 numbers).
const EMAIL: &str = "ann@upsert.test";
const PHONE: &str = "+447700900123";

/// Two existing contacts: `(by_email, by_phone)`, one holding [`EMAIL`], the other [`PHONE`].
async fn two_contacts(t: &TestSandbox) -> (String, String) {
    let a = t.post(WRITE_TOKEN, "/contacts/", json!({"locationId": LOCATION_ID, "firstName": "Email", "email": EMAIL})).await;
    let b = t.post(WRITE_TOKEN, "/contacts/", json!({"locationId": LOCATION_ID, "firstName": "Phone", "phone": PHONE})).await;
    assert_eq!((a.status, b.status), (201, 201), "{:?} {:?}", a.body, b.body);
    (id_of(&a.body), id_of(&b.body))
}

fn id_of(body: &Value) -> String {
    body["contact"]["id"].as_str().expect("contact id").to_owned()
}

async fn contact(t: &TestSandbox, id: &str) -> Value {
    let read = t.get(READ_TOKEN, &format!("/contacts/{id}")).await;
    assert_eq!(read.status, 200, "{id}: {:?}", read.body);
    read.body["contact"].clone()
}

/// Upserts `body` (plus `locationId`) and answers `(new, contact id, contact)`.
async fn upsert(t: &TestSandbox, body: Value) -> (bool, String, Value) {
    let mut body = body;
    body["locationId"] = json!(LOCATION_ID);
    let answer = t.post(WRITE_TOKEN, "/contacts/upsert", body).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert!(answer.body["traceId"].is_string(), "{:?}", answer.body);
    let new = answer.body["new"].as_bool().expect("new is a boolean");
    (new, id_of(&answer.body), answer.body["contact"].clone())
}

#[tokio::test]
async fn email_then_phone_updates_the_email_match_and_ignores_the_phone_of_another_contact() {
    let t = common::spawn().await;
    assert_eq!(t.sandbox.duplicate_setting(LOCATION_ID), DuplicateSetting::EmailThenPhone, "the default");
    let (by_email, by_phone) = two_contacts(&t).await;
    let count = t.sandbox.contact_ids().len();

    let (new, id, answered) = upsert(&t, json!({"email": EMAIL, "phone": PHONE, "city": "Leeds"})).await;

    assert!(!new);
    assert_eq!(id, by_email);
    assert_eq!(answered["city"], "Leeds");
    assert!(answered.get("phone").is_none(), "the phone is silently dropped: {answered}");
    assert!(contact(&t, &by_email).await.get("phone").is_none());
    assert_eq!(contact(&t, &by_phone).await["phone"], PHONE, "the phone's contact is untouched");
    assert_eq!(t.sandbox.contact_ids().len(), count, "no duplicate");
}

#[tokio::test]
async fn phone_then_email_updates_the_phone_match_and_ignores_the_email_of_another_contact() {
    let t = common::spawn().await;
    t.sandbox.set_duplicate_setting(LOCATION_ID, DuplicateSetting::PhoneThenEmail).expect("known location");
    let (by_email, by_phone) = two_contacts(&t).await;
    let count = t.sandbox.contact_ids().len();

    let (new, id, answered) = upsert(&t, json!({"email": EMAIL, "phone": PHONE, "city": "York"})).await;

    assert!(!new);
    assert_eq!(id, by_phone);
    assert_eq!((answered["city"].as_str(), answered.get("email")), (Some("York"), None), "the email is dropped: {answered}");
    assert_eq!(contact(&t, &by_email).await["email"], EMAIL);
    assert_eq!(t.sandbox.contact_ids().len(), count);

    // One field alone still finds its contact, whichever it is.
    let (new, id, _) = upsert(&t, json!({"email": EMAIL.to_uppercase()})).await;
    assert_eq!((new, id), (false, by_email));
}

#[tokio::test]
async fn both_fields_matching_one_contact_update_it_with_neither_dropped() {
    let t = common::spawn().await;
    let created = t.post(WRITE_TOKEN, "/contacts/", json!({"locationId": LOCATION_ID, "email": EMAIL, "phone": PHONE})).await;
    let id = id_of(&created.body);
    for setting in [DuplicateSetting::EmailThenPhone, DuplicateSetting::PhoneThenEmail] {
        t.sandbox.set_duplicate_setting(LOCATION_ID, setting).expect("known location");
        let (new, got, answered) = upsert(&t, json!({"email": EMAIL, "phone": "+44 7700 900123", "lastName": setting.to_string()})).await;
        assert_eq!((new, got.as_str()), (false, id.as_str()), "{setting}");
        assert_eq!((answered["email"].as_str(), answered["phone"].as_str()), (Some(EMAIL), Some(PHONE)), "{setting}");
    }
}

#[tokio::test]
async fn email_only_matches_on_the_email_and_lets_phones_repeat() {
    let t = common::spawn().await;
    t.sandbox.set_duplicate_setting(LOCATION_ID, DuplicateSetting::EmailOnly).expect("known location");
    let (by_email, by_phone) = two_contacts(&t).await;

    let (new, id, answered) = upsert(&t, json!({"email": EMAIL, "phone": PHONE})).await;
    assert_eq!((new, id.as_str()), (false, by_email.as_str()));
    assert_eq!(answered["phone"], PHONE, "a phone is no conflict here, so it is kept");
    let (new, id, _) = upsert(&t, json!({"phone": PHONE, "firstName": "Third"})).await;
    assert!(new && id != by_phone && id != by_email, "phones are not searched");

    let same_phone = t.post(WRITE_TOKEN, "/contacts/", json!({"locationId": LOCATION_ID, "phone": PHONE})).await;
    assert_eq!(same_phone.status, 201, "{:?}", same_phone.body);
    let same_email = t.post(WRITE_TOKEN, "/contacts/", json!({"locationId": LOCATION_ID, "email": EMAIL, "phone": "+447700900999"})).await;
    assert_eq!((same_email.status, same_email.body["meta"]["matchingField"].as_str()), (400, Some("email")));
    assert_eq!(same_email.body["meta"]["contactId"], by_email);
}

#[tokio::test]
async fn phone_only_matches_on_the_phone_and_lets_emails_repeat() {
    let t = common::spawn().await;
    t.sandbox.set_duplicate_setting(LOCATION_ID, DuplicateSetting::PhoneOnly).expect("known location");
    let (by_email, by_phone) = two_contacts(&t).await;

    let (new, id, answered) = upsert(&t, json!({"email": EMAIL, "phone": PHONE})).await;
    assert_eq!((new, id.as_str()), (false, by_phone.as_str()));
    assert_eq!(answered["email"], EMAIL, "an email is no conflict here, so it is kept");
    let (new, id, _) = upsert(&t, json!({"email": EMAIL})).await;
    assert!(new && id != by_email && id != by_phone, "emails are not searched");

    let same_phone = t.post(WRITE_TOKEN, "/contacts/", json!({"locationId": LOCATION_ID, "phone": "+44 7700 900123"})).await;
    assert_eq!((same_phone.status, same_phone.body["meta"]["matchingField"].as_str()), (400, Some("phone")));
}

#[tokio::test]
async fn allowing_duplicates_lets_creates_repeat_and_upsert_create_only_when_asked() {
    let t = common::spawn().await;
    t.sandbox.set_duplicate_setting(LOCATION_ID, DuplicateSetting::Allow).expect("known location");
    let (by_email, _) = two_contacts(&t).await;

    let again = t.post(WRITE_TOKEN, "/contacts/", json!({"locationId": LOCATION_ID, "email": EMAIL})).await;
    assert_eq!(again.status, 201, "a duplicate is allowed: {:?}", again.body);
    let (new, id, _) = upsert(&t, json!({"email": EMAIL, "city": "Hull"})).await;
    assert_eq!((new, id.as_str()), (false, by_email.as_str()), "without the flag upsert still searches, email first");
    let (new, id, _) = upsert(&t, json!({"email": EMAIL, "createNewIfDuplicateAllowed": true})).await;
    assert!(new && id != by_email, "with the flag it creates without searching");

    let holders = t.post(READ_TOKEN, "/contacts/search", json!({"locationId": LOCATION_ID, "query": EMAIL, "pageLimit": 20})).await;
    assert_eq!(holders.status, 200, "{:?}", holders.body);
    assert_eq!(holders.body["total"], 3, "three contacts share the email: {:?}", holders.body);
}

#[tokio::test]
async fn create_new_if_duplicate_allowed_is_ignored_where_duplicates_are_not_allowed() {
    let t = common::spawn().await;
    let (by_email, _) = two_contacts(&t).await;
    let (new, id, _) = upsert(&t, json!({"email": EMAIL, "createNewIfDuplicateAllowed": true})).await;
    assert_eq!((new, id), (false, by_email));
    let refused = t.post(WRITE_TOKEN, "/contacts/", json!({"locationId": LOCATION_ID, "email": "x@upsert.test", "createNewIfDuplicateAllowed": true})).await;
    assert_eq!(refused.status, 422, "only upsert takes the flag");
}

#[tokio::test]
async fn the_control_api_sets_one_locations_setting() {
    let t = common::spawn().await;
    let url = t.url(&format!("/__sandbox/locations/{OTHER_LOCATION_ID}/duplicate-setting"));
    let put = t.client.put(&url).json(&json!({"setting": "phone-then-email"})).send().await.expect("answered");
    assert_eq!(put.status().as_u16(), 200);
    let got: Value = t.client.get(&url).send().await.expect("answered").json().await.expect("json");
    assert_eq!(got, json!({"setting": "phone-then-email"}));
    assert_eq!(t.sandbox.duplicate_setting(OTHER_LOCATION_ID), DuplicateSetting::PhoneThenEmail);
    assert_eq!(t.sandbox.duplicate_setting(LOCATION_ID), DuplicateSetting::EmailThenPhone, "other locations keep theirs");
    let info: Value = t.client.get(t.url("/__sandbox/info")).send().await.expect("answered").json().await.expect("json");
    assert_eq!(info["locations"][1]["duplicateSetting"], "phone-then-email");

    // The setting is what the location's upserts follow.
    let create = |body: Value| t.post(OTHER_LOCATION_TOKEN, "/contacts/", body);
    let a = create(json!({"locationId": OTHER_LOCATION_ID, "email": EMAIL})).await;
    let b = create(json!({"locationId": OTHER_LOCATION_ID, "phone": PHONE})).await;
    let upserted = t.post(OTHER_LOCATION_TOKEN, "/contacts/upsert", json!({"locationId": OTHER_LOCATION_ID, "email": EMAIL, "phone": PHONE})).await;
    assert_eq!(upserted.body["contact"]["id"], b.body["contact"]["id"], "phone first");
    assert_ne!(upserted.body["contact"]["id"], a.body["contact"]["id"]);

    let unknown = t.client.put(t.url("/__sandbox/locations/nowhere/duplicate-setting")).json(&json!({"setting": "allow"})).send().await.expect("answered");
    assert_eq!(unknown.status().as_u16(), 400);
    let bad = t.client.put(&url).json(&json!({"setting": "email"})).send().await.expect("answered");
    assert_eq!(bad.status().as_u16(), 422);
    assert!(t.sandbox.set_duplicate_setting("nowhere", DuplicateSetting::Allow).is_err());
}

#[tokio::test]
async fn the_setting_at_start_applies_to_every_location() {
    let t = common::spawn_with(SandboxConfig { duplicate_setting: DuplicateSetting::PhoneOnly, ..SandboxConfig::default() }).await;
    assert_eq!(t.sandbox.duplicate_setting(LOCATION_ID), DuplicateSetting::PhoneOnly);
    assert_eq!(t.sandbox.duplicate_setting(OTHER_LOCATION_ID), DuplicateSetting::PhoneOnly);
    let first = t.post(WRITE_TOKEN, "/contacts/", json!({"locationId": LOCATION_ID, "email": EMAIL})).await;
    let second = t.post(WRITE_TOKEN, "/contacts/", json!({"locationId": LOCATION_ID, "email": EMAIL})).await;
    assert_eq!((first.status, second.status), (201, 201), "emails are not searched");
}

#[tokio::test]
async fn an_upsert_sends_contact_create_when_new_and_contact_update_without_the_ignored_field() {
    let (t, receiver) = common::spawn_hooked().await;
    let (by_email, _) = two_contacts(&t).await;
    receiver.expect(&["ContactCreate", "ContactCreate"]).await;

    let (new, created, _) = upsert(&t, json!({"email": "new@upsert.test", "firstName": "New"})).await;
    assert!(new);
    let (new, updated, _) = upsert(&t, json!({"email": EMAIL, "phone": PHONE, "lastName": "Merged"})).await;
    assert!(!new);

    let got = receiver.expect(&["ContactCreate", "ContactCreate", "ContactCreate", "ContactUpdate"]).await;
    let (create, update) = (&got[2].event, &got[3].event);
    common::hooks::assert_ghl_shape(create);
    common::hooks::assert_ghl_shape(update);
    assert_eq!(create["id"], created.as_str());
    assert_eq!((update["id"].as_str(), update["lastName"].as_str()), (Some(by_email.as_str()), Some("Merged")));
    assert_eq!(updated, by_email);
    assert!(update.get("phone").is_none(), "the ignored phone is not in the event: {update}");
}
