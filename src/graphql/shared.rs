//! A record the data layer shares, read in place. A contact's tasks, notes and appointments
//! arrive as one shared list (`Arc<Vec<_>>`, kept per request and in the cache); copying every
//! item out of it, strings and all, for its GraphQL object was about 6 % of a nested query's
//! instructions (README, Benchmarks).

use std::ops::Deref;
use std::sync::Arc;

pub enum Shared<T> {
    /// A record of its own: one read by id, or a mutation's answer.
    One(Arc<T>),
    /// Item `index` of a shared list.
    Item(Arc<Vec<T>>, usize),
}

impl<T> Shared<T> {
    /// Every item of `list`, each read in place.
    pub fn items(list: &Arc<Vec<T>>) -> impl Iterator<Item = Self> + '_ {
        (0..list.len()).map(|index| Self::Item(list.clone(), index))
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;

    fn deref(&self) -> &T {
        match self {
            Self::One(one) => one,
            Self::Item(list, index) => &list[*index],
        }
    }
}

impl<T> From<Arc<T>> for Shared<T> {
    fn from(one: Arc<T>) -> Self {
        Self::One(one)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_read_the_list_in_place() {
        let list = Arc::new(vec![String::from("a"), String::from("b")]);
        let items: Vec<Shared<String>> = Shared::items(&list).collect();
        assert_eq!(items.iter().map(|item| item.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert!(std::ptr::eq(&*items[1], &list[1]), "no copy");
        assert_eq!(Arc::strong_count(&list), 3);
        assert_eq!(&*Shared::from(Arc::new(String::from("c"))), "c");
    }
}
