//! Ids shaped like GHL's: 20 alphanumeric characters for contacts, tasks, notes, events and users;
//! 24 hex digits (a Mongo ObjectId) for businesses.

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &[u8] = b"0123456789abcdef";

/// A 20-character `[A-Za-z0-9]` id, e.g. `seD4PfOuKoVMLkEZqohJ`.
pub(crate) fn record_id(rng: &mut fastrand::Rng) -> String {
    (0..20).map(|_| char::from(ALPHANUMERIC[rng.usize(..ALPHANUMERIC.len())])).collect()
}

/// A 24-hex-digit id, e.g. `641c094001436dbc2081e642`.
pub(crate) fn object_id(rng: &mut fastrand::Rng) -> String {
    (0..24).map(|_| char::from(HEX[rng.usize(..HEX.len())])).collect()
}

/// An opaque token (OAuth codes, access and refresh tokens).
pub(crate) fn token(rng: &mut fastrand::Rng, prefix: &str) -> String {
    let mut s = String::from(prefix);
    s.extend((0..32).map(|_| char::from(ALPHANUMERIC[rng.usize(..ALPHANUMERIC.len())])));
    s
}

/// A UUID-shaped trace id, like the `traceId` GHL returns with some bodies. Not seeded: trace ids
/// identify requests, not data.
pub(crate) fn trace_id() -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        fastrand::u32(..),
        fastrand::u16(..),
        fastrand::u16(..0x1000),
        fastrand::u16(0x8000..0xC000),
        fastrand::u64(..1 << 48)
    )
}
