//! The sandbox's data: the records it stores (`model`), the JSON shapes GHL answers with (`wire`),
//! the date formats GHL uses (`dates`), id generation (`ids`) and the seeded generator (`seed`, `vocab`).

pub(crate) mod dates;
pub(crate) mod ids;
pub(crate) mod model;
pub(crate) mod seed;
mod vocab;
pub(crate) mod wire;
