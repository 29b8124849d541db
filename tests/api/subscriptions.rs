//! Subscriptions: a change made in the GHL app (the sandbox's out-of-band edit) reaches the
//! subscriber through GHL's webhook, over WebSocket (both subprotocols) and SSE, with the fresh
//! entity; callers see only their own location; many subscribers share one refetch per event.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{edit_in_ghl, spawn_app, Setup, TestApp};

const WAIT: Duration = Duration::from_secs(10);

fn wired(token_setup: Setup) -> Setup {
    let mut extra = token_setup.extra.clone();
    extra.extend(["--cache-ttl".to_owned(), "5m".to_owned()]);
    Setup { webhooks: true, extra, ..token_setup }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket to `/ws` speaking `protocol`, initialised with `payload`; the ack (or refusal) read.
async fn open_socket(app: &TestApp, protocol: &str, payload: Value) -> (Socket, Value) {
    let mut request = format!("{}/ws", app.url.replace("http://", "ws://")).into_client_request().expect("request");
    request.headers_mut().insert("sec-websocket-protocol", protocol.parse().unwrap());
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.expect("upgrade");
    assert_eq!(response.headers()["sec-websocket-protocol"], protocol);
    socket.send(Message::text(json!({ "type": "connection_init", "payload": payload }).to_string())).await.unwrap();
    let ack = next_message(&mut socket).await;
    (socket, ack)
}

/// The next text message as JSON (keep-alives of `graphql-ws` skipped); a close as `{"close": code}`.
async fn next_message(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(WAIT, socket.next()).await.expect("a message in time").expect("open").expect("frame");
        match message {
            Message::Text(text) => {
                let value: Value = serde_json::from_str(&text).expect("json");
                if value["type"] != "ka" {
                    return value;
                }
            }
            Message::Close(frame) => return json!({ "close": frame.map(|f| u16::from(f.code)) }),
            _ => {}
        }
    }
}

const CONTACT_CHANGED: &str = "subscription($id: ID) { contactChanged(id: $id) { kind contactId contact { id name tags } } }";

#[tokio::test]
async fn over_graphql_transport_ws_an_edit_in_ghl_reaches_the_subscriber_with_the_new_value() {
    let app = spawn_app(wired(Setup::read_only())).await;
    let id = app.contact_ids()[0].clone();
    let (mut socket, ack) = open_socket(&app, "graphql-transport-ws", json!({})).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": CONTACT_CHANGED, "variables": { "id": id } } });
    socket.send(Message::text(subscribe.to_string())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Another contact's change is not for this subscription.
    let other = app.contact_ids()[1].clone();
    edit_in_ghl(&app.sandbox, reqwest::Method::PATCH, &format!("/contacts/{other}"), json!({ "firstName": "Someone" })).await;
    edit_in_ghl(&app.sandbox, reqwest::Method::PATCH, &format!("/contacts/{id}"), json!({ "firstName": "Live" })).await;

    let next = next_message(&mut socket).await;
    assert_eq!(next["type"], "next", "{next}");
    let change = &next["payload"]["data"]["contactChanged"];
    assert_eq!(change["kind"], "UPDATED", "{next}");
    assert_eq!(change["contactId"], json!(id));
    assert!(change["contact"]["name"].as_str().is_some_and(|n| n.starts_with("Live")), "the fresh contact: {next}");

    edit_in_ghl(&app.sandbox, reqwest::Method::POST, &format!("/contacts/{id}/tags"), json!({ "tags": ["live-tag"] })).await;
    let tagged = next_message(&mut socket).await;
    assert_eq!(tagged["payload"]["data"]["contactChanged"]["kind"], "TAGS_CHANGED", "{tagged}");
    assert!(tagged["payload"]["data"]["contactChanged"]["contact"]["tags"].as_array().unwrap().contains(&json!("live-tag")), "{tagged}");
}

#[tokio::test]
async fn over_the_legacy_graphql_ws_protocol_task_and_note_events_arrive_too() {
    let app = spawn_app(wired(Setup::read_only())).await;
    let id = app.contact_ids()[0].clone();
    let (mut socket, ack) = open_socket(&app, "graphql-ws", json!({})).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    let start = |n: &str, query: &str| json!({ "id": n, "type": "start", "payload": { "query": query, "variables": { "id": id } } }).to_string();
    socket.send(Message::text(start("t", "subscription($id: ID) { taskChanged(contactId: $id) { kind taskId task { title } } }"))).await.unwrap();
    socket.send(Message::text(start("n", "subscription($id: ID) { noteChanged(contactId: $id) { kind noteId note { body } } }"))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    edit_in_ghl(
        &app.sandbox,
        reqwest::Method::POST,
        &format!("/contacts/{id}/tasks"),
        json!({ "title": "Live task", "dueDate": "2026-12-24T09:00:00Z", "completed": false }),
    )
    .await;
    let task = next_message(&mut socket).await;
    assert_eq!((task["type"].as_str(), task["id"].as_str()), (Some("data"), Some("t")), "{task}");
    assert_eq!(task["payload"]["data"]["taskChanged"]["kind"], "CREATED");
    assert_eq!(task["payload"]["data"]["taskChanged"]["task"]["title"], "Live task", "{task}");

    edit_in_ghl(&app.sandbox, reqwest::Method::POST, &format!("/contacts/{id}/notes"), json!({ "body": "Live note" })).await;
    let note = next_message(&mut socket).await;
    assert_eq!(note["id"], "n", "{note}");
    assert_eq!(note["payload"]["data"]["noteChanged"]["note"]["body"], "Live note", "{note}");
}

/// Reads SSE events from `response` until `want` of them with `event: next` came.
async fn sse_events(mut response: reqwest::Response, want: usize) -> Vec<Value> {
    let (mut buffer, mut events) = (String::new(), Vec::new());
    while events.len() < want {
        let chunk = tokio::time::timeout(WAIT, response.chunk()).await.expect("an event in time").expect("readable").expect("open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if block.lines().any(|l| l == "event: next") {
                let data: String = block.lines().filter_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:"))).collect();
                events.push(serde_json::from_str(&data).expect("json"));
            }
        }
    }
    events
}

#[tokio::test]
async fn over_sse_post_and_get_an_edit_in_ghl_reaches_the_subscriber() {
    let app = spawn_app(wired(Setup::read_only())).await;
    let id = app.contact_ids()[0].clone();
    let body = json!({ "query": CONTACT_CHANGED, "variables": { "id": id } });
    let posted = app.http.post(format!("{}/graphql", app.url)).header("accept", "text/event-stream").json(&body).send().await.unwrap();
    assert_eq!(posted.status(), 200);
    assert!(posted.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let url = reqwest::Url::parse_with_params(&format!("{}/graphql", app.url), &[("query", CONTACT_CHANGED), ("variables", &json!({ "id": id }).to_string())])
        .unwrap();
    let got = app.http.get(url).header("accept", "text/event-stream").header("apollo-require-preflight", "true").send().await.unwrap();
    assert_eq!(got.status(), 200);
    tokio::time::sleep(Duration::from_millis(200)).await;

    edit_in_ghl(&app.sandbox, reqwest::Method::PATCH, &format!("/contacts/{id}"), json!({ "firstName": "Streamed" })).await;
    for response in [posted, got] {
        let events = sse_events(response, 1).await;
        let change = &events[0]["data"]["contactChanged"];
        assert!(change["contact"]["name"].as_str().is_some_and(|n| n.starts_with("Streamed")), "{}", events[0]);
    }
}

#[tokio::test]
async fn a_subscriber_of_one_location_never_hears_of_another() {
    let app = spawn_app(wired(Setup::forward())).await;
    let ours = app.sandbox.contact_ids_in(ghl_sandbox::LOCATION_ID)[0].clone();
    let theirs = app.sandbox.contact_ids_in(ghl_sandbox::OTHER_LOCATION_ID)[0].clone();
    let init = json!({ "Authorization": format!("Bearer {}", ghl_sandbox::READ_TOKEN), "x-ghl-location-id": ghl_sandbox::LOCATION_ID });
    let (mut socket, ack) = open_socket(&app, "graphql-transport-ws", init).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    let every_contact = json!({ "id": "all", "type": "subscribe", "payload": { "query": "subscription { contactChanged { contactId } }" } });
    socket.send(Message::text(every_contact.to_string())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    edit_in_ghl(&app.sandbox, reqwest::Method::PATCH, &format!("/contacts/{theirs}"), json!({ "firstName": "Elsewhere" })).await;
    edit_in_ghl(&app.sandbox, reqwest::Method::PATCH, &format!("/contacts/{ours}"), json!({ "firstName": "Here" })).await;

    let first = next_message(&mut socket).await;
    assert_eq!(first["payload"]["data"]["contactChanged"]["contactId"], json!(ours), "the other location's change never came first: {first}");

    // Without credentials the connection is refused.
    let (_, refused) = open_socket(&app, "graphql-transport-ws", json!({})).await;
    assert!(refused["close"].as_u64().is_some_and(|code| code != 1000), "closed without an ack: {refused}");
}

#[tokio::test]
async fn a_hundred_subscribers_to_one_contact_share_one_refetch_per_event() {
    let app = spawn_app(wired(Setup::read_only())).await;
    let id = app.contact_ids()[3].clone();
    let body = json!({ "query": "subscription($id: ID) { contactChanged(id: $id) { contact { name } } }", "variables": { "id": id } });
    let mut streams = Vec::new();
    for _ in 0..100 {
        let response = app.http.post(format!("{}/graphql", app.url)).header("accept", "text/event-stream").json(&body).send().await.unwrap();
        assert_eq!(response.status(), 200);
        streams.push(response);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.sandbox.clear_requests();

    edit_in_ghl(&app.sandbox, reqwest::Method::PATCH, &format!("/contacts/{id}"), json!({ "firstName": "Shared" })).await;
    let all = futures_util::future::join_all(streams.into_iter().map(|s| sse_events(s, 1))).await;

    assert!(all.iter().all(|events| events[0]["data"]["contactChanged"]["contact"]["name"].as_str().is_some_and(|n| n.starts_with("Shared"))));
    let refetches = app.requests().iter().filter(|r| r.path == format!("/contacts/{id}")).count();
    assert_eq!(refetches, 1, "one upstream read for 100 subscribers: {:?}", app.calls());
}

#[tokio::test]
async fn the_subscription_caps_refuse_one_too_many() {
    let app = spawn_app(Setup { extra: vec!["--max-subscriptions-per-caller".into(), "2".into()], ..wired(Setup::read_only()) }).await;
    let body = json!({ "query": "subscription { noteChanged { kind } }" });
    let mut open = Vec::new();
    for _ in 0..2 {
        open.push(app.http.post(format!("{}/graphql", app.url)).header("accept", "text/event-stream").json(&body).send().await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let third = app.http.post(format!("{}/graphql", app.url)).header("accept", "text/event-stream").json(&body).send().await.unwrap();
    let refused = sse_events(third, 1).await;
    assert_eq!(refused[0]["errors"][0]["extensions"]["code"], "TOO_MANY_SUBSCRIPTIONS", "{}", refused[0]);

    drop(open.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let id = app.contact_ids()[0].clone();
    let again = app.http.post(format!("{}/graphql", app.url)).header("accept", "text/event-stream").json(&body).send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    edit_in_ghl(&app.sandbox, reqwest::Method::POST, &format!("/contacts/{id}/notes"), json!({ "body": "fits again" })).await;
    let events = sse_events(again, 1).await;
    assert_eq!(events[0]["data"]["noteChanged"]["kind"], "CREATED", "a closed subscription gave its place back: {}", events[0]);
}

/// Reads SSE blocks until the stream ends; every `event:` name and its data.
pub async fn sse_until_end(mut response: reqwest::Response) -> Vec<(String, String)> {
    let (mut buffer, mut events) = (String::new(), Vec::new());
    while let Some(chunk) = tokio::time::timeout(WAIT, response.chunk()).await.expect("the stream goes on or ends in time").expect("readable") {
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let field = |name: &str| block.lines().filter_map(|l| l.strip_prefix(name)).map(str::trim_start).collect::<String>();
            if block.lines().any(|l| l.starts_with("event:")) {
                events.push((field("event:"), field("data:")));
            }
        }
    }
    events
}

#[tokio::test]
async fn a_slow_subscriber_is_ended_while_the_others_keep_receiving() {
    use base64::Engine as _;
    use ed25519_dalek::Signer as _;
    let key = ed25519_dalek::SigningKey::from_bytes(&[11; 32]);
    let public: String = key.verifying_key().to_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let extra = ["--cache-ttl", "5m", "--subscription-queue", "4", "--webhook-public-key", &public].map(str::to_owned).to_vec();
    let app = spawn_app(Setup { extra, ..Setup::read_only() }).await;
    let ids = app.contact_ids();
    let subscribe = |query: &str| app.http.post(format!("{}/graphql", app.url)).header("accept", "text/event-stream").json(&json!({ "query": query })).send();
    // Every event costs the slow one a refetch from a sandbox that now answers in 30 ms.
    let slow = subscribe("subscription { contactChanged { contact { name } } }").await.unwrap();
    let fast = subscribe("subscription { noteChanged { kind noteId } }").await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.sandbox.set_latency(Duration::from_millis(30));

    let deliver = |event: Value| {
        let body = serde_json::to_vec(&event).unwrap();
        let signature = base64::engine::general_purpose::STANDARD.encode(key.sign(&body).to_bytes());
        app.http.post(format!("{}/webhooks/ghl", app.url)).header("x-ghl-signature", signature).body(body).send()
    };
    let event = |kind: &str, fields: Value| {
        let mut event = json!({ "type": kind, "locationId": ghl_sandbox::LOCATION_ID, "webhookId": format!("w-{}", fastrand::u64(..)), "timestamp": chrono::Utc::now().to_rfc3339() });
        event.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
        event
    };
    for id in ids.iter().take(40) {
        assert_eq!(deliver(event("ContactUpdate", json!({ "id": id }))).await.unwrap().status(), 200);
    }
    assert_eq!(deliver(event("NoteDelete", json!({ "id": "n-gone", "contactId": ids[0] }))).await.unwrap().status(), 200);

    let slow_events = sse_until_end(slow).await;
    let (last, data) = &slow_events[slow_events.len() - 2];
    assert_eq!(last, "next");
    let error: Value = serde_json::from_str(data).unwrap();
    assert_eq!(error["errors"][0]["extensions"]["code"], "SLOW_CONSUMER", "{slow_events:?}");
    assert_eq!(slow_events.last().map(|(e, _)| e.as_str()), Some("complete"), "ended: {slow_events:?}");
    assert!(slow_events.len() < 40, "it fell behind: {} events", slow_events.len());

    let heard = sse_events(fast, 1).await;
    assert_eq!(heard[0]["data"]["noteChanged"], json!({ "kind": "DELETED", "noteId": "n-gone" }), "the other subscriber kept receiving");
}

#[tokio::test]
async fn every_subscription_completes_when_the_server_stops() {
    let sandbox = ghl_sandbox::Sandbox::spawn(Default::default()).await.expect("sandbox");
    let args = crate::helpers::serve_args(&sandbox.base_url(), &Setup::read_only());
    let running = crate::helpers::serve_on(crate::helpers::local_listener().await, args).await;
    let http = reqwest::Client::new();
    let open = http
        .post(format!("{}/graphql", running.url))
        .header("accept", "text/event-stream")
        .json(&json!({ "query": "subscription { contactChanged { kind } }" }))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    drop(running);

    let events = sse_until_end(open).await;
    assert_eq!(events.iter().map(|(e, _)| e.as_str()).collect::<Vec<_>>(), vec!["complete"], "{events:?}");
}

#[tokio::test]
async fn identical_subscriptions_share_one_execution_and_outlive_each_other() {
    let app = spawn_app(wired(Setup::read_only())).await;
    let (id, other) = (app.contact_ids()[0].clone(), app.contact_ids()[1].clone());
    let subscribe = |id: &str| {
        let body = json!({ "query": "subscription($id: ID) { contactChanged(id: $id) { contactId contact { name } } }", "variables": { "id": id } });
        app.http.post(format!("{}/graphql", app.url)).header("accept", "text/event-stream").json(&body).send()
    };
    let leaving = subscribe(&id).await.unwrap();
    let staying = subscribe(&id).await.unwrap();
    let elsewhere = subscribe(&other).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(leaving);
    tokio::time::sleep(Duration::from_millis(100)).await;

    edit_in_ghl(&app.sandbox, reqwest::Method::PATCH, &format!("/contacts/{other}"), json!({ "firstName": "Other" })).await;
    edit_in_ghl(&app.sandbox, reqwest::Method::PATCH, &format!("/contacts/{id}"), json!({ "firstName": "Stayed" })).await;

    let stayed = sse_events(staying, 1).await;
    assert_eq!(stayed[0]["data"]["contactChanged"]["contactId"], json!(id), "the other contact's event is another execution's: {}", stayed[0]);
    assert!(stayed[0]["data"]["contactChanged"]["contact"]["name"].as_str().is_some_and(|n| n.starts_with("Stayed")), "{}", stayed[0]);
    let theirs = sse_events(elsewhere, 1).await;
    assert_eq!(theirs[0]["data"]["contactChanged"]["contactId"], json!(other), "{}", theirs[0]);
}
