//! Lists and writes: each makes exactly the GHL call it maps to, then tells the request's memo what
//! changed (write-through), so a later read in the same request agrees with the write.

use std::sync::Arc;

use serde_json::Value;

use super::cache::{Cached, Entity, PageQuery};
use super::changes::{ChangeEvent, ChangeKind, Subject};
use super::keys::{AppointmentsOf, BusinessPage, ContactKey, NoteKey, NotesOf, TaskKey, TasksOf};
use super::request::RequestData;
use crate::error::AppError;
use crate::highlevel::models::{BusinessContactsEnvelope, Contact, ContactWrite, Note, NoteWrite, Task, TaskWrite};
use crate::highlevel::PathId;

/// A page of contacts, each also known to the request from now on.
#[derive(Clone, Debug)]
pub struct ContactPage {
    pub contacts: Vec<Arc<Contact>>,
    /// GHL's total (search) or count (business) of matching contacts, when it sent one.
    pub total: Option<u64>,
}

impl RequestData {
    /// `POST /contacts/search`, kept shortly in the shared cache.
    pub async fn search_contacts(&self, query: Option<&str>, limit: u32, search_after: Option<&[Value]>) -> Result<ContactPage, AppError> {
        let after = search_after.map(|cursor| Value::Array(cursor.to_vec()).to_string());
        let page = PageQuery::Search { query: query.map(str::to_owned), limit, after };
        if let Some(kept) = self.kept_page(&page) {
            return Ok(kept);
        }
        let epoch = self.cache().epoch();
        let _reading = self.contact_read();
        let found = self.client().search_contacts(self.tenant(), query, limit, search_after).await?;
        Ok(self.remember_page(page, found.contacts, found.total, epoch))
    }

    /// `GET /contacts/business/{businessId}`, kept shortly and shared with identical pages in flight.
    pub async fn contacts_by_business(&self, business: &PathId, limit: u32, skip: u64) -> Result<ContactPage, AppError> {
        let query = PageQuery::Business { business: business.clone(), limit, skip };
        if let Some(kept) = self.kept_page(&query) {
            return Ok(kept);
        }
        let epoch = self.cache().epoch();
        let _reading = self.contact_read();
        let page = BusinessPage { business: business.clone(), limit, skip };
        let client = self.client().clone();
        let found: Arc<BusinessContactsEnvelope> = self
            .fetcher
            .layer
            .inner
            .flights
            .business
            .run(self.tenant(), page.clone(), "/contacts/business/{businessId}", |tenant| {
                let (client, page) = (client.clone(), page.clone());
                async move { page.fetch(&client, &tenant).await }
            })
            .await?;
        Ok(self.remember_page(query, found.contacts.clone(), found.count, epoch))
    }

    /// A page the shared cache kept; its contacts become known to the request.
    fn kept_page(&self, query: &PageQuery) -> Option<ContactPage> {
        let generation = self.cache().page_generation(self.tenant().location_id());
        let Some(Cached::Page(page)) = self.cache().get(self.tenant(), Entity::Page(query.clone(), generation)) else { return None };
        self.read_page();
        self.prime(&page.contacts);
        Some((*page).clone())
    }

    /// Listed contacts prime the request's contacts, so a later `contact(id)` or entity reference
    /// costs no upstream call; the page is kept shortly unless a write came in since `epoch`.
    fn remember_page(&self, query: PageQuery, contacts: Vec<Contact>, total: Option<u64>, epoch: u64) -> ContactPage {
        self.read_page();
        let generation = self.cache().page_generation(self.tenant().location_id());
        let page = ContactPage { contacts: contacts.into_iter().map(Arc::new).collect(), total };
        self.prime(&page.contacts);
        self.cache().store_fetched(self.tenant(), Entity::Page(query, generation), Cached::Page(Arc::new(page.clone())), epoch);
        page
    }

    fn prime(&self, contacts: &[Arc<Contact>]) {
        for contact in contacts {
            if let Ok(id) = PathId::parse(&contact.id, "id") {
                self.remember(ContactKey(id), Some(contact.clone()));
            }
        }
    }

    /// A contact changed: every kept page of its location may list it differently now.
    fn pages_changed(&self) {
        self.cache().pages_changed(self.tenant().location_id());
    }

    // ---- contacts ----------------------------------------------------------------------------

    pub async fn create_contact(&self, body: ContactWrite) -> Result<Arc<Contact>, AppError> {
        let created = Arc::new(self.client().create_contact(self.tenant(), body).await?);
        self.pages_changed();
        if let Ok(id) = PathId::parse(&created.id, "id") {
            self.put(ContactKey(id.clone()), Some(created.clone()));
            self.tell_peers("ContactCreate", Subject::Contact, ChangeKind::Created, &id, None).await;
        }
        Ok(created)
    }

    pub async fn update_contact(&self, id: &PathId, body: ContactWrite) -> Result<Arc<Contact>, AppError> {
        let updated = Arc::new(self.client().update_contact(self.tenant(), id, body).await?);
        self.pages_changed();
        self.put(ContactKey(id.clone()), Some(updated.clone()));
        self.tell_peers("ContactUpdate", Subject::Contact, ChangeKind::Updated, id, None).await;
        Ok(updated)
    }

    pub async fn delete_contact(&self, id: &PathId) -> Result<bool, AppError> {
        let deleted = self.client().delete_contact(self.tenant(), id).await?;
        self.pages_changed();
        self.put(ContactKey(id.clone()), None);
        self.forget(&TasksOf(id.clone()));
        self.forget(&NotesOf(id.clone()));
        self.forget(&AppointmentsOf(id.clone()));
        self.tell_peers("ContactDelete", Subject::Contact, ChangeKind::Deleted, id, None).await;
        Ok(deleted)
    }

    /// Adds tags; returns the contact's tags now, which a loaded contact takes on.
    pub async fn add_tags(&self, id: &PathId, tags: &[String]) -> Result<Vec<String>, AppError> {
        self.uncacheable();
        let now = self.client().add_tags(self.tenant(), id, tags).await?;
        self.tags_changed(id, &now).await;
        Ok(now)
    }

    /// Removes tags; returns the contact's tags now, which a loaded contact takes on.
    pub async fn remove_tags(&self, id: &PathId, tags: &[String]) -> Result<Vec<String>, AppError> {
        self.uncacheable();
        let now = self.client().remove_tags(self.tenant(), id, tags).await?;
        self.tags_changed(id, &now).await;
        Ok(now)
    }

    async fn tags_changed(&self, id: &PathId, tags: &[String]) {
        self.pages_changed();
        let tags = tags.to_vec();
        self.amend(&ContactKey(id.clone()), move |contact| contact.map(|c| Arc::new(Contact { tags: tags.clone(), ..(*c).clone() })));
        self.tell_peers("ContactTagUpdate", Subject::Contact, ChangeKind::TagsChanged, id, None).await;
    }

    // ---- tasks -------------------------------------------------------------------------------

    pub async fn create_task(&self, contact: &PathId, body: &TaskWrite) -> Result<Arc<Task>, AppError> {
        let task = self.client().create_task(self.tenant(), contact, body).await?;
        Ok(self.task_written("TaskCreate", ChangeKind::Created, contact, task).await)
    }

    pub async fn update_task(&self, contact: &PathId, task: &PathId, body: &TaskWrite) -> Result<Arc<Task>, AppError> {
        let task = self.client().update_task(self.tenant(), contact, task, body).await?;
        Ok(self.task_written("TaskUpdate", ChangeKind::Updated, contact, task).await)
    }

    pub async fn complete_task(&self, contact: &PathId, task: &PathId, completed: bool) -> Result<Arc<Task>, AppError> {
        let task = self.client().complete_task(self.tenant(), contact, task, completed).await?;
        Ok(self.task_written("TaskComplete", ChangeKind::Completed, contact, task).await)
    }

    pub async fn delete_task(&self, contact: &PathId, task: &PathId) -> Result<bool, AppError> {
        let deleted = self.client().delete_task(self.tenant(), contact, task).await?;
        let gone = task.as_str().to_owned();
        self.amend(&TasksOf(contact.clone()), move |list| without(&list, &gone, |t: &Task| &t.id));
        self.put(TaskKey(contact.clone(), task.clone()), None);
        self.tell_peers("TaskDelete", Subject::Task, ChangeKind::Deleted, contact, Some(task)).await;
        Ok(deleted)
    }

    async fn task_written(&self, event_type: &str, kind: ChangeKind, contact: &PathId, task: Task) -> Arc<Task> {
        let task = Arc::new(task);
        let written = (*task).clone();
        self.amend(&TasksOf(contact.clone()), move |list| upserted(&list, written.clone(), |t: &Task| &t.id));
        let id = PathId::parse(&task.id, "id").ok();
        if let Some(id) = &id {
            self.put(TaskKey(contact.clone(), id.clone()), Some(task.clone()));
        }
        self.tell_peers(event_type, Subject::Task, kind, contact, id.as_ref()).await;
        task
    }

    // ---- notes -------------------------------------------------------------------------------

    pub async fn create_note(&self, contact: &PathId, body: &NoteWrite) -> Result<Arc<Note>, AppError> {
        let note = self.client().create_note(self.tenant(), contact, body).await?;
        Ok(self.note_written("NoteCreate", ChangeKind::Created, contact, note).await)
    }

    pub async fn update_note(&self, contact: &PathId, note: &PathId, body: &NoteWrite) -> Result<Arc<Note>, AppError> {
        let note = self.client().update_note(self.tenant(), contact, note, body).await?;
        Ok(self.note_written("NoteUpdate", ChangeKind::Updated, contact, note).await)
    }

    pub async fn delete_note(&self, contact: &PathId, note: &PathId) -> Result<bool, AppError> {
        let deleted = self.client().delete_note(self.tenant(), contact, note).await?;
        let gone = note.as_str().to_owned();
        self.amend(&NotesOf(contact.clone()), move |list| without(&list, &gone, |n: &Note| &n.id));
        self.put(NoteKey(contact.clone(), note.clone()), None);
        self.tell_peers("NoteDelete", Subject::Note, ChangeKind::Deleted, contact, Some(note)).await;
        Ok(deleted)
    }

    async fn note_written(&self, event_type: &str, kind: ChangeKind, contact: &PathId, note: Note) -> Arc<Note> {
        let note = Arc::new(note);
        let written = (*note).clone();
        self.amend(&NotesOf(contact.clone()), move |list| upserted(&list, written.clone(), |n: &Note| &n.id));
        let id = PathId::parse(&note.id, "id").ok();
        if let Some(id) = &id {
            self.put(NoteKey(contact.clone(), id.clone()), Some(note.clone()));
        }
        self.tell_peers(event_type, Subject::Note, kind, contact, id.as_ref()).await;
        note
    }

    /// Tells the other replicas (if any) what this write made stale in their caches, before the
    /// write answers: a read through another replica then sees it.
    async fn tell_peers(&self, event_type: &str, subject: Subject, kind: ChangeKind, contact: &PathId, item: Option<&PathId>) {
        let Some(peers) = self.fetcher.layer.inner.peers.get() else { return };
        let change = ChangeEvent {
            event_type: event_type.to_owned(),
            subject,
            kind,
            location_id: self.tenant().location_id().to_owned(),
            contact_id: Some(contact.as_str().to_owned()),
            item_id: item.map(|id| id.as_str().to_owned()),
        };
        peers.written_here(change).await;
    }

    fn client(&self) -> &crate::highlevel::GhlClient {
        &self.fetcher.layer.inner.client
    }

    fn cache(&self) -> &super::cache::SharedCache {
        &self.fetcher.layer.inner.cache
    }
}

/// `list` with `item` replacing the entry of the same id, or appended.
fn upserted<T: Clone>(list: &[T], item: T, id_of: fn(&T) -> &String) -> Arc<Vec<T>> {
    let mut list = list.to_vec();
    match list.iter_mut().find(|existing| id_of(existing) == id_of(&item)) {
        Some(existing) => *existing = item,
        None => list.push(item),
    }
    Arc::new(list)
}

/// `list` without the entry of id `id`.
fn without<T: Clone>(list: &[T], id: &str, id_of: fn(&T) -> &String) -> Arc<Vec<T>> {
    Arc::new(list.iter().filter(|item| id_of(item) != id).cloned().collect())
}
