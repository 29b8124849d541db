//! The seeded generator: the same seed gives the same locations, businesses, contacts, tasks, notes
//! and appointments, byte for byte. Dates fall in 2023–2024 so that contacts created at run time
//! (dated now) sort after every seeded one.

use serde_json::json;

use super::ids::{object_id, record_id};
use super::model::{Appointment, Attribution, Business, Contact, CustomField, Note, Task};
use super::vocab::*;

const DAY_MS: i64 = 86_400_000;
/// 2023-01-01T00:00:00Z.
const EPOCH_START: i64 = 1_672_531_200_000;
/// Two years of sign-ups.
const SPAN_MS: i64 = 730 * DAY_MS;

/// What one location is seeded with.
pub(crate) struct LocationSeed<'a> {
    pub location_id: &'a str,
    pub contacts: usize,
    pub businesses: usize,
}

/// Generated data of one location.
pub(crate) struct SeededLocation {
    pub users: Vec<String>,
    pub calendars: Vec<String>,
    pub contacts: Vec<Contact>,
}

/// Generates a location. Call it in a fixed order with one `rng` to stay deterministic.
pub(crate) fn location(rng: &mut fastrand::Rng, seed: &LocationSeed<'_>) -> SeededLocation {
    let users: Vec<String> = (0..5).map(|_| record_id(rng)).collect();
    let calendars: Vec<String> = (0..2).map(|_| record_id(rng)).collect();
    let field_ids: Vec<String> = CUSTOM_FIELDS.iter().map(|_| record_id(rng)).collect();
    let mut names: Vec<&str> = BUSINESS_NAMES.to_vec();
    rng.shuffle(&mut names);
    let businesses: Vec<Business> = names
        .iter()
        .cycle()
        .take(seed.businesses)
        .enumerate()
        .map(|(i, name)| Business { id: object_id(rng), name: if i < names.len() { (*name).to_owned() } else { format!("{name} {}", i / names.len() + 1) } })
        .collect();
    let ctx = Context { location_id: seed.location_id, users: &users, calendars: &calendars, field_ids: &field_ids, businesses: &businesses };
    let contacts = (0..seed.contacts).map(|_| contact(rng, &ctx)).collect();
    SeededLocation { users, calendars, contacts }
}

struct Context<'a> {
    location_id: &'a str,
    users: &'a [String],
    calendars: &'a [String],
    field_ids: &'a [String],
    businesses: &'a [Business],
}

fn pick<'a, T>(rng: &mut fastrand::Rng, items: &'a [T]) -> &'a T {
    &items[rng.usize(..items.len())]
}

fn contact(rng: &mut fastrand::Rng, ctx: &Context<'_>) -> Contact {
    let id = record_id(rng);
    let first = *pick(rng, FIRST_NAMES);
    let last = *pick(rng, LAST_NAMES);
    let (city, state, zip, timezone, area) = *pick(rng, CITIES);
    let date_added = EPOCH_START + rng.i64(0..SPAN_MS);
    let date_updated = date_added + rng.i64(0..90 * DAY_MS);
    let email = (rng.u8(..100) >= 8).then(|| {
        let local: String = format!("{first}.{last}").to_lowercase().chars().filter(|c| c.is_ascii_alphanumeric() || *c == '.').collect();
        format!("{local}{}@{}", rng.u16(1..1000), pick(rng, EMAIL_DOMAINS))
    });
    let phone = (email.is_none() || rng.u8(..100) >= 5).then(|| format!("+1{area}{}{:06}", rng.u8(2..10), rng.u32(..1_000_000)));
    let business = (!ctx.businesses.is_empty() && rng.u8(..100) < 60).then(|| pick(rng, ctx.businesses));
    let mut tags: Vec<String> = (0..rng.usize(0..4)).map(|_| (*pick(rng, TAGS)).to_owned()).collect();
    tags.sort();
    tags.dedup();
    let mut custom_fields = Vec::new();
    for ((_, values), id) in CUSTOM_FIELDS.iter().zip(ctx.field_ids) {
        if rng.bool() {
            custom_fields.push(CustomField { id: id.clone(), value: (*pick(rng, values)).to_owned() });
        }
    }
    let dnd = rng.u8(..100) < 10;
    let dnd_settings = (rng.u8(..100) < 30).then(|| {
        let status = if dnd { "active" } else { "inactive" };
        json!({
            "Call": {"status": status, "message": "", "code": ""},
            "Email": {"status": status, "message": "", "code": ""},
            "SMS": {"status": if rng.bool() { "active" } else { "inactive" }, "message": "", "code": ""}
        })
    });
    let attribution = (rng.u8(..100) < 40).then(|| Attribution {
        url: (*pick(rng, &["https://www.example.com/landing", "Trigger Link", "https://www.example.com/contact-us"])).to_owned(),
        utm_source: rng.bool().then(|| (*pick(rng, &["google", "facebook", "newsletter"])).to_owned()),
        medium: Some((*pick(rng, &["form", "survey", "calendar", "chat_widget"])).to_owned()),
    });
    let tasks = (0..rng.usize(0..=8)).map(|_| task(rng, ctx, date_added)).collect();
    let notes = (0..rng.usize(0..=8)).map(|_| note(rng, ctx, date_added)).collect();
    let appointments = (0..rng.usize(0..=8)).map(|_| appointment(rng, ctx, date_added)).collect();
    let mut c = Contact {
        id,
        location_id: ctx.location_id.to_owned(),
        first_name: Some(first.to_owned()),
        last_name: Some(last.to_owned()),
        email,
        phone,
        company_name: business.map(|b| b.name.clone()),
        business_id: business.map(|b| b.id.clone()),
        timezone: Some(timezone.to_owned()),
        dnd,
        dnd_settings,
        kind: if rng.u8(..100) < 70 { "lead" } else { "customer" }.to_owned(),
        source: Some((*pick(rng, SOURCES)).to_owned()),
        assigned_to: rng.bool().then(|| pick(rng, ctx.users).clone()),
        address1: Some(format!("{} {}", rng.u16(1..9999), pick(rng, STREETS))),
        city: Some(city.to_owned()),
        state: Some(state.to_owned()),
        country: Some("US".to_owned()),
        postal_code: Some(format!("{zip}{:02}", rng.u8(..100))),
        website: None,
        gender: None,
        tags,
        date_of_birth: (rng.u8(..100) < 30).then(|| {
            let ms = EPOCH_START - rng.i64(18 * 365..75 * 365) * DAY_MS;
            super::dates::iso(ms - ms.rem_euclid(DAY_MS))
        }),
        date_added,
        date_updated,
        last_activity: rng.bool().then(|| date_updated + rng.i64(0..30 * DAY_MS)),
        custom_fields,
        attribution,
        followers: Vec::new(),
        tasks,
        notes,
        appointments,
        derived: Default::default(),
    };
    c.reindex();
    c
}

fn task(rng: &mut fastrand::Rng, ctx: &Context<'_>, contact_added: i64) -> Task {
    let date_added = contact_added + rng.i64(0..60 * DAY_MS);
    // Due on the hour or half hour, from a week before it was added to two months after.
    let due = date_added + rng.i64(-7 * DAY_MS..60 * DAY_MS);
    Task {
        id: record_id(rng),
        title: (*pick(rng, TASK_TITLES)).to_owned(),
        body: rng.bool().then(|| (*pick(rng, TASK_BODIES)).to_owned()),
        assigned_to: (rng.u8(..100) < 80).then(|| pick(rng, ctx.users).clone()),
        due_date: due - due.rem_euclid(30 * 60_000),
        completed: rng.u8(..100) < 40,
    }
}

fn note(rng: &mut fastrand::Rng, ctx: &Context<'_>, contact_added: i64) -> Note {
    Note {
        id: record_id(rng),
        body: (*pick(rng, NOTE_BODIES)).to_owned(),
        user_id: Some(pick(rng, ctx.users).clone()),
        title: (rng.u8(..100) < 40).then(|| (*pick(rng, NOTE_TITLES)).to_owned()),
        color: (rng.u8(..100) < 20).then(|| (*pick(rng, NOTE_COLORS)).to_owned()),
        pinned: rng.u8(..100) < 10,
        date_added: contact_added + rng.i64(0..120 * DAY_MS),
    }
}

fn appointment(rng: &mut fastrand::Rng, ctx: &Context<'_>, contact_added: i64) -> Appointment {
    let date_added = contact_added + rng.i64(0..90 * DAY_MS);
    let start = date_added + rng.i64(DAY_MS..30 * DAY_MS);
    let start = start - start.rem_euclid(30 * 60_000);
    let status = (*pick(rng, APPOINTMENT_STATUSES)).to_owned();
    Appointment {
        id: record_id(rng),
        calendar_id: pick(rng, ctx.calendars).clone(),
        title: (*pick(rng, APPOINTMENT_TITLES)).to_owned(),
        status,
        assigned_user_id: pick(rng, ctx.users).clone(),
        notes: rng.bool().then(|| (*pick(rng, NOTE_BODIES)).to_owned()),
        address: (rng.u8(..100) < 30).then(|| format!("{} {}", rng.u16(1..9999), pick(rng, STREETS))),
        start,
        end: start + *pick(rng, &[30_i64, 45, 60]) * 60_000,
        date_added,
        date_updated: date_added + rng.i64(0..DAY_MS),
    }
}
