//! Pagination and filtering: the deprecated list's `startAfter`/`startAfterId` cursor and `meta`,
//! search's `page` and `searchAfter`, its filters and `query`, the business listing and tasks search.

mod common;

use std::collections::HashSet;

use ghl_sandbox::{LOCATION_ID, READ_TOKEN, WRITE_TOKEN};
use serde_json::{json, Value};

fn ids(body: &Value, key: &str) -> Vec<String> {
    body[key].as_array().expect("array").iter().map(|c| c["id"].as_str().expect("id").to_owned()).collect()
}

#[tokio::test]
async fn the_list_cursor_walks_every_contact_once_in_date_added_order() {
    let t = common::spawn().await;
    let mut seen = Vec::new();
    let mut path = format!("/contacts/?locationId={LOCATION_ID}&limit=30");
    let mut pages = 0;
    loop {
        let answer = t.get(READ_TOKEN, &path).await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        pages += 1;
        assert_eq!(answer.body["meta"]["total"], 200);
        assert_eq!(answer.body["meta"]["currentPage"], pages);
        seen.extend(ids(&answer.body, "contacts"));
        let meta = &answer.body["meta"];
        if meta["nextPageUrl"].is_null() {
            assert!(meta["startAfterId"].is_null() && meta["nextPage"].is_null());
            break;
        }
        let (after, after_id) = (meta["startAfter"].as_i64().expect("startAfter"), meta["startAfterId"].as_str().expect("id"));
        let next = meta["nextPageUrl"].as_str().expect("url");
        assert!(next.starts_with(&t.sandbox.base_url()) && next.contains(after_id), "{next}");
        path = format!("/contacts/?locationId={LOCATION_ID}&limit=30&startAfter={after}&startAfterId={after_id}");
    }
    assert_eq!(pages, 7);
    assert_eq!(seen, t.sandbox.contact_ids());
}

#[tokio::test]
async fn the_list_limit_is_capped_at_100() {
    let t = common::spawn().await;
    let answer = t.get(READ_TOKEN, &format!("/contacts/?locationId={LOCATION_ID}&limit=101")).await;
    assert_eq!(answer.status, 422);
    assert_eq!(answer.body["message"], json!(["limit must not be greater than 100"]));
    let default = t.get(READ_TOKEN, &format!("/contacts/?locationId={LOCATION_ID}")).await;
    assert_eq!(default.body["contacts"].as_array().map(Vec::len), Some(20));
    let missing = t.get(READ_TOKEN, "/contacts/").await;
    assert_eq!(missing.status, 422);
}

#[tokio::test]
async fn the_list_query_matches_names_emails_phones_and_companies() {
    let t = common::spawn().await;
    let first = t.get(READ_TOKEN, &format!("/contacts/{}", t.first_contact())).await.body["contact"].clone();
    let last_name = first["lastName"].as_str().expect("name").to_uppercase();
    let answer = t.get(READ_TOKEN, &format!("/contacts/?locationId={LOCATION_ID}&limit=100&query={last_name}")).await;
    let found = answer.body["contacts"].as_array().expect("contacts");
    assert!(!found.is_empty());
    assert!(found.iter().all(|c| {
        let hay = c.to_string().to_lowercase();
        hay.contains(&last_name.to_lowercase())
    }));
    assert!(found.iter().any(|c| c["id"] == first["id"]));
}

#[tokio::test]
async fn search_pages_and_search_after_agree() {
    let t = common::spawn().await;
    let mut by_page = Vec::new();
    for page in 1..=4 {
        let answer = t.post(READ_TOKEN, "/contacts/search", json!({"locationId": LOCATION_ID, "pageLimit": 50, "page": page})).await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        assert_eq!(answer.body["total"], 200);
        by_page.extend(ids(&answer.body, "contacts"));
    }
    let mut by_cursor = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let mut body = json!({"locationId": LOCATION_ID, "pageLimit": 64});
        if !cursor.is_null() {
            body["searchAfter"] = cursor.clone();
        }
        let answer = t.post(READ_TOKEN, "/contacts/search", body).await;
        let contacts = answer.body["contacts"].as_array().expect("contacts").clone();
        if contacts.is_empty() {
            break;
        }
        by_cursor.extend(contacts.iter().map(|c| c["id"].as_str().expect("id").to_owned()));
        cursor = contacts.last().expect("last")["searchAfter"].clone();
        assert!(cursor[0].is_i64() && cursor[1].is_string(), "{cursor}");
    }
    assert_eq!(by_page, t.sandbox.contact_ids());
    assert_eq!(by_cursor, by_page);
}

#[tokio::test]
async fn search_requires_location_and_page_limit_and_caps_page_limit_at_500() {
    let t = common::spawn().await;
    assert_eq!(t.post(READ_TOKEN, "/contacts/search", json!({"locationId": LOCATION_ID})).await.status, 422);
    assert_eq!(t.post(READ_TOKEN, "/contacts/search", json!({"pageLimit": 10})).await.status, 422);
    let big = t.post(READ_TOKEN, "/contacts/search", json!({"locationId": LOCATION_ID, "pageLimit": 501})).await;
    assert_eq!(big.status, 422);
    assert_eq!(big.body["message"], json!(["pageLimit must not be greater than 500"]));
    let deep = t.post(READ_TOKEN, "/contacts/search", json!({"locationId": LOCATION_ID, "pageLimit": 500, "page": 21})).await;
    assert_eq!(deep.status, 422, "page-based results stop at 10,000");
}

#[tokio::test]
async fn search_filters_by_id_email_tags_and_business() {
    let t = common::spawn().await;
    let search = |filters: Value| {
        let t = &t;
        async move {
            let answer = t.post(READ_TOKEN, "/contacts/search", json!({"locationId": LOCATION_ID, "pageLimit": 500, "filters": filters})).await;
            assert_eq!(answer.status, 200, "{:?}", answer.body);
            answer.body["contacts"].as_array().expect("contacts").clone()
        }
    };
    let id = t.first_contact();
    let contact = t.get(READ_TOKEN, &format!("/contacts/{id}")).await.body["contact"].clone();

    let by_id = search(json!([{"field": "id", "operator": "eq", "value": id}])).await;
    assert_eq!(by_id.len(), 1);

    if let Some(email) = contact["email"].as_str() {
        let by_email = search(json!([{"field": "email", "operator": "eq", "value": email.to_uppercase()}])).await;
        assert!(by_email.iter().any(|c| c["id"] == id.as_str()));
    }

    let vip = search(json!([{"field": "tags", "operator": "eq", "value": "vip"}])).await;
    assert!(!vip.is_empty());
    assert!(vip.iter().all(|c| c["tags"].as_array().expect("tags").contains(&json!("vip"))));

    let business = t.sandbox.business_ids().remove(0);
    let in_business = search(json!([{"field": "businessId", "operator": "eq", "value": business}])).await;
    assert!(!in_business.is_empty());
    assert!(in_business.iter().all(|c| c["businessId"] == business.as_str()));

    let either = search(json!([{"group": "OR", "filters": [
        {"field": "tags", "operator": "eq", "value": "vip"},
        {"field": "businessId", "operator": "eq", "value": business}
    ]}]))
    .await;
    let either: HashSet<_> = either.iter().map(|c| c["id"].clone()).collect();
    assert!(vip.iter().chain(&in_business).all(|c| either.contains(&c["id"])));

    let bad = t
        .post(
            READ_TOKEN,
            "/contacts/search",
            json!({"locationId": LOCATION_ID, "pageLimit": 5, "filters": [{"field": "tags", "operator": "like", "value": "x"}]}),
        )
        .await;
    assert_eq!(bad.status, 422);
}

#[tokio::test]
async fn a_new_contact_appears_at_the_end_of_search_results() {
    let t = common::spawn().await;
    let created = t.post(WRITE_TOKEN, "/contacts/", json!({"locationId": LOCATION_ID, "firstName": "Newest", "email": "newest@example.com"})).await;
    let id = created.body["contact"]["id"].clone();
    let answer = t.post(READ_TOKEN, "/contacts/search", json!({"locationId": LOCATION_ID, "pageLimit": 1, "page": 201})).await;
    assert_eq!(answer.body["total"], 201);
    assert_eq!(answer.body["contacts"][0]["id"], id);
    let query = t.post(READ_TOKEN, "/contacts/search", json!({"locationId": LOCATION_ID, "pageLimit": 10, "query": "NEWEST@"})).await;
    assert_eq!(query.body["total"], 1);
}

#[tokio::test]
async fn the_business_listing_pages_with_limit_and_skip() {
    let t = common::spawn().await;
    let business = t.sandbox.business_ids().remove(0);
    let path = format!("/contacts/business/{business}?locationId={LOCATION_ID}");
    let all = t.get(READ_TOKEN, &format!("{path}&limit=100")).await;
    assert_eq!(all.status, 200, "{:?}", all.body);
    let all_ids = ids(&all.body, "contacts");
    assert_eq!(all.body["count"], all_ids.len());
    let second = t.get(READ_TOKEN, &format!("{path}&limit=2&skip=2")).await;
    assert_eq!(ids(&second.body, "contacts"), all_ids[2..4.min(all_ids.len())].to_vec());
}

#[tokio::test]
async fn tasks_search_filters_by_contact_and_completion_and_pages() {
    let t = common::spawn().await;
    let (contact, task_ids) = t.contact_with_tasks(3).await;
    let path = format!("/locations/{LOCATION_ID}/tasks/search");
    let mine = t.post(WRITE_TOKEN, &path, json!({"contactId": [contact]})).await;
    assert_eq!(mine.status, 200, "{:?}", mine.body);
    let found: HashSet<String> = ids(&mine.body, "tasks").into_iter().collect();
    assert_eq!(found, task_ids.iter().cloned().collect());
    assert!(mine.body["tasks"].as_array().expect("tasks").iter().all(|t| t["contactId"] == contact.as_str()));

    let done = t.post(WRITE_TOKEN, &path, json!({"completed": true, "limit": 100})).await;
    assert!(done.body["tasks"].as_array().expect("tasks").iter().all(|t| t["completed"] == true));

    let default = t.post(WRITE_TOKEN, &path, json!({})).await;
    assert_eq!(default.body["tasks"].as_array().map(Vec::len), Some(25));
    let page_two = t.post(WRITE_TOKEN, &path, json!({"limit": 5, "skip": 5})).await;
    assert_eq!(ids(&page_two.body, "tasks"), ids(&default.body, "tasks")[5..10].to_vec());
}
