//! A contact's tasks, notes and appointments by id: finding one (for reading or writing) and removing one, each
//! failing with the caller's not-found error when no item has the id.

use crate::data::model::{Appointment, Note, Task};
use crate::error::ApiError;

/// An item in one of a contact's lists, known by its id.
pub(super) trait Item {
    fn id(&self) -> &str;
}

impl Item for Task {
    fn id(&self) -> &str {
        &self.id
    }
}

impl Item for Note {
    fn id(&self) -> &str {
        &self.id
    }
}

impl Item for Appointment {
    fn id(&self) -> &str {
        &self.id
    }
}

pub(super) fn find<'a, T: Item>(items: &'a [T], id: &str, missing: ApiError) -> Result<&'a T, ApiError> {
    items.iter().find(|i| i.id() == id).ok_or(missing)
}

pub(super) fn find_mut<'a, T: Item>(items: &'a mut [T], id: &str, missing: ApiError) -> Result<&'a mut T, ApiError> {
    items.iter_mut().find(|i| i.id() == id).ok_or(missing)
}

pub(super) fn remove<T: Item>(items: &mut Vec<T>, id: &str, missing: ApiError) -> Result<(), ApiError> {
    let before = items.len();
    items.retain(|i| i.id() != id);
    if items.len() == before {
        Err(missing)
    } else {
        Ok(())
    }
}
