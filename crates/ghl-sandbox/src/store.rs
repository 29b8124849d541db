//! The in-memory state: contacts by id (their tasks, notes and appointments live inside them) and,
//! per location, the contacts ordered by `dateAdded` then id — the order of list and search results
//! and the key of their cursors — and each location's duplicate setting. It knows nothing of HTTP
//! beyond the not-found / other-location rule.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;

use crate::data::ids;
use crate::data::model::Contact;
use crate::data::seed::{self, LocationSeed};
use crate::duplicates::{DuplicateSetting, UnknownLocation};
use crate::error::ApiError;
use crate::{LOCATION_ID, OTHER_LOCATION_ID};

/// Contacts seeded in [`OTHER_LOCATION_ID`].
const OTHER_LOCATION_CONTACTS: usize = 10;

/// Position of a contact in its location's order: `(dateAdded ms, id)`.
pub(crate) type SortKey = (i64, String);

pub(crate) struct Store {
    contacts: HashMap<String, Contact>,
    order: HashMap<String, BTreeSet<SortKey>>,
    users: HashMap<String, Vec<String>>,
    calendars: HashMap<String, Vec<String>>,
    /// Per location; every seeded location has an entry.
    duplicate_settings: HashMap<String, DuplicateSetting>,
    /// Ids and dates of records created at run time come from here: same seed, same requests, same ids.
    rng: fastrand::Rng,
}

impl Store {
    /// Seeds [`LOCATION_ID`] with `contacts` contacts (and about 20 businesses) and
    /// [`OTHER_LOCATION_ID`] with a few.
    pub(crate) fn seeded(contacts: usize, seed: u64) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let plans = [
            LocationSeed { location_id: LOCATION_ID, contacts, businesses: 20 },
            LocationSeed { location_id: OTHER_LOCATION_ID, contacts: OTHER_LOCATION_CONTACTS, businesses: 3 },
        ];
        let mut store = Self {
            contacts: HashMap::with_capacity(contacts + OTHER_LOCATION_CONTACTS),
            order: HashMap::new(),
            users: HashMap::new(),
            calendars: HashMap::new(),
            duplicate_settings: HashMap::new(),
            rng: fastrand::Rng::with_seed(seed ^ 0x005E_ED0F_5A4D_B0C5),
        };
        for plan in &plans {
            let location = seed::location(&mut rng, plan);
            store.order.entry(plan.location_id.to_owned()).or_default();
            store.users.insert(plan.location_id.to_owned(), location.users);
            store.calendars.insert(plan.location_id.to_owned(), location.calendars);
            store.duplicate_settings.insert(plan.location_id.to_owned(), DuplicateSetting::default());
            for contact in location.contacts {
                store.insert(contact);
            }
        }
        store
    }

    pub(crate) fn contact(&self, id: &str) -> Option<&Contact> {
        self.contacts.get(id)
    }

    /// The contact, if it exists and belongs to `location_id`: unknown ids are GHL's 400
    /// `Contact not found`, another location's contact is a 403.
    pub(crate) fn owned(&self, id: &str, location_id: &str) -> Result<&Contact, ApiError> {
        match self.contacts.get(id) {
            None => Err(ApiError::NotFound("Contact not found")),
            Some(c) if c.location_id != location_id => Err(ApiError::WrongLocation),
            Some(c) => Ok(c),
        }
    }

    /// [`Store::owned`], for writing. Callers must not change `date_added` or `location_id`.
    pub(crate) fn owned_mut(&mut self, id: &str, location_id: &str) -> Result<&mut Contact, ApiError> {
        match self.contacts.get_mut(id) {
            None => Err(ApiError::NotFound("Contact not found")),
            Some(c) if c.location_id != location_id => Err(ApiError::WrongLocation),
            Some(c) => Ok(c),
        }
    }

    pub(crate) fn insert(&mut self, contact: Contact) {
        self.order.entry(contact.location_id.clone()).or_default().insert((contact.date_added, contact.id.clone()));
        self.contacts.insert(contact.id.clone(), contact);
    }

    pub(crate) fn remove(&mut self, id: &str) -> Option<Contact> {
        let contact = self.contacts.remove(id)?;
        if let Some(order) = self.order.get_mut(&contact.location_id) {
            order.remove(&(contact.date_added, contact.id.clone()));
        }
        Some(contact)
    }

    /// The contacts of a location in `dateAdded`, id order, starting strictly after `cursor`.
    pub(crate) fn ordered<'a>(&'a self, location_id: &str, cursor: Option<&SortKey>) -> impl Iterator<Item = &'a Contact> + 'a {
        let lower = match cursor {
            Some(key) => Bound::Excluded(key.clone()),
            None => Bound::Unbounded,
        };
        self.order.get(location_id).into_iter().flat_map(move |set| set.range((lower.clone(), Bound::Unbounded))).filter_map(|(_, id)| self.contacts.get(id))
    }

    /// Number of contacts of a location.
    pub(crate) fn count(&self, location_id: &str) -> usize {
        self.order.get(location_id).map_or(0, BTreeSet::len)
    }

    /// The oldest contact of the location with this email (case-insensitive).
    pub(crate) fn with_email(&self, location_id: &str, email: &str) -> Option<&Contact> {
        let email = email.to_lowercase();
        self.ordered(location_id, None).find(|c| c.email.as_deref().is_some_and(|e| e.to_lowercase() == email))
    }

    /// The oldest contact of the location with this (E.164) phone.
    pub(crate) fn with_phone(&self, location_id: &str, phone: &str) -> Option<&Contact> {
        self.ordered(location_id, None).find(|c| c.phone.as_deref() == Some(phone))
    }

    /// The location's "Allow Duplicate Contact" setting.
    pub(crate) fn duplicate_setting(&self, location_id: &str) -> DuplicateSetting {
        self.duplicate_settings.get(location_id).copied().unwrap_or_default()
    }

    /// The same setting in every location, as `--duplicate-setting` starts them.
    pub(crate) fn with_duplicate_setting(mut self, setting: DuplicateSetting) -> Self {
        self.duplicate_settings.values_mut().for_each(|s| *s = setting);
        self
    }

    pub(crate) fn set_duplicate_setting(&mut self, location_id: &str, setting: DuplicateSetting) -> Result<(), UnknownLocation> {
        let slot = self.duplicate_settings.get_mut(location_id).ok_or_else(|| UnknownLocation(location_id.to_owned()))?;
        *slot = setting;
        Ok(())
    }

    /// Businesses of a location that at least one contact points at, by id.
    pub(crate) fn business_ids(&self, location_id: &str) -> Vec<String> {
        let mut ids: Vec<String> = self.ordered(location_id, None).filter_map(|c| c.business_id.clone()).collect::<BTreeSet<_>>().into_iter().collect();
        ids.sort();
        ids
    }

    /// The first user of a location: the one who "installed" the OAuth app.
    pub(crate) fn first_user(&self, location_id: &str) -> Option<&str> {
        self.users.get(location_id).and_then(|u| u.first()).map(String::as_str)
    }

    /// The first calendar of a location: where an appointment goes when no calendar is named.
    pub(crate) fn first_calendar(&self, location_id: &str) -> Option<&str> {
        self.calendars.get(location_id).and_then(|c| c.first()).map(String::as_str)
    }

    /// A fresh 20-character id.
    pub(crate) fn new_id(&mut self) -> String {
        ids::record_id(&mut self.rng)
    }

    /// A new, empty location (a sub-account created later) with one user; false if it exists.
    pub(crate) fn add_location(&mut self, location_id: &str) -> bool {
        if self.is_location(location_id) {
            return false;
        }
        let user = self.new_id();
        self.order.insert(location_id.to_owned(), BTreeSet::new());
        self.users.insert(location_id.to_owned(), vec![user]);
        self.calendars.insert(location_id.to_owned(), Vec::new());
        self.duplicate_settings.insert(location_id.to_owned(), DuplicateSetting::default());
        true
    }

    /// Every location, sorted.
    pub(crate) fn location_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.order.keys().cloned().collect();
        ids.sort();
        ids
    }

    pub(crate) fn is_location(&self, location_id: &str) -> bool {
        self.order.contains_key(location_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_data() {
        let a = Store::seeded(50, 7);
        let b = Store::seeded(50, 7);
        let ids_a: Vec<&str> = a.ordered(LOCATION_ID, None).map(|c| c.id.as_str()).collect();
        let ids_b: Vec<&str> = b.ordered(LOCATION_ID, None).map(|c| c.id.as_str()).collect();
        assert_eq!(ids_a, ids_b);
        assert_eq!(ids_a.len(), 50);
        let c = Store::seeded(50, 8);
        assert_ne!(ids_a.first().copied(), c.ordered(LOCATION_ID, None).next().map(|c| c.id.as_str()));
    }

    #[test]
    fn contacts_are_ordered_by_date_added_then_id() {
        let store = Store::seeded(300, 1);
        let keys: Vec<(i64, &str)> = store.ordered(LOCATION_ID, None).map(|c| (c.date_added, c.id.as_str())).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        let cursor = (keys[9].0, keys[9].1.to_owned());
        assert_eq!(store.ordered(LOCATION_ID, Some(&cursor)).next().map(|c| c.id.as_str()), Some(keys[10].1));
    }

    #[test]
    fn another_locations_contact_is_forbidden_and_an_unknown_one_not_found() {
        let store = Store::seeded(5, 1);
        let other = store.ordered(OTHER_LOCATION_ID, None).next().map(|c| c.id.clone()).expect("seeded");
        assert!(matches!(store.owned(&other, LOCATION_ID), Err(ApiError::WrongLocation)));
        assert!(matches!(store.owned("nope", LOCATION_ID), Err(ApiError::NotFound(_))));
        assert!(store.owned(&other, OTHER_LOCATION_ID).is_ok());
    }
}
