//! Where token pairs live across restarts: the `TokenStore` trait (a Redis backend follows, see
//! ROADMAP) and its embedded default, one encrypted file per location, and one per agency
//! (Company) install under [`company_key`].
//!
//! A file is replaced atomically (temp file, fsync, rename, fsync of the directory), so a crash
//! leaves the old pair or the new one, never half of either. Each record is sealed with
//! XChaCha20-Poly1305 under `TOKEN_STORE_KEY`, bound to its location (associated data), so a file
//! copied over another location's fails to open instead of lending its tokens.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::XChaCha20Poly1305;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use futures_util::FutureExt as _;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::grant::AgencyGrant;

/// File format tag: bumps if the layout ever changes.
const MAGIC: &[u8] = b"GHLT1";
const NONCE_LEN: usize = 24;
const EXTENSION: &str = "tok";

/// Store keys of agencies' own pairs start with this. Never a location id: `:` is not allowed in one.
const COMPANY_KEY_PREFIX: &str = "company:";

/// The store key of an agency's own pair.
pub fn company_key(company_id: &str) -> String {
    format!("{COMPANY_KEY_PREFIX}{company_id}")
}

/// The company id of an agency's store key; `None` for a location's.
pub fn company_of(key: &str) -> Option<&str> {
    key.strip_prefix(COMPANY_KEY_PREFIX)
}

/// One location's token pair (or an agency's, keyed by [`company_key`]) and what GHL told us about it.
#[derive(Clone)]
pub struct TokenRecord {
    /// The location id, or [`company_key`] for an agency's own pair.
    pub location_id: String,
    pub company_id: Option<String>,
    pub user_id: Option<String>,
    /// Space-separated, as GHL's token response gives them.
    pub scopes: String,
    pub access_token: SecretString,
    pub refresh_token: SecretString,
    pub expires_at: DateTime<Utc>,
    pub status: TokenStatus,
    pub updated_at: DateTime<Utc>,
    /// How many pairs GHL has issued for this location that were stored (install 1, +1 per
    /// refresh): compared with GHL's count it tells a pair lost in flight from any other loss.
    pub generation: u64,
    /// `Some` on an agency's own pair: the locations it approved. A location pair minted from it
    /// has an empty refresh token and names the company in `company_id`.
    pub agency: Option<AgencyGrant>,
}

impl TokenRecord {
    pub fn is_company(&self) -> bool {
        self.agency.is_some()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenStatus {
    Active,
    /// GHL refused the refresh token: only a new install brings the location back.
    NeedsReinstall,
}

impl fmt::Display for TokenStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Active => "active",
            Self::NeedsReinstall => "needs_reinstall",
        })
    }
}

impl fmt::Debug for TokenRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRecord")
            .field("location_id", &self.location_id)
            .field("scopes", &self.scopes)
            .field("expires_at", &self.expires_at)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// The plaintext inside the sealed file; exists only between (de)serialization and sealing.
#[derive(Serialize, Deserialize)]
struct Sealed {
    location_id: String,
    company_id: Option<String>,
    user_id: Option<String>,
    scopes: String,
    access_token: String,
    refresh_token: String,
    expires_at: DateTime<Utc>,
    status: TokenStatus,
    updated_at: DateTime<Utc>,
    #[serde(default)]
    generation: u64,
    #[serde(default)]
    agency: Option<AgencyGrant>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("token store I/O on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("token record {path} cannot be opened: wrong TOKEN_STORE_KEY or a damaged file")]
    Undecryptable { path: PathBuf },
    #[error("token store task failed")]
    Join,
    #[error("the token store {path} does not exist or is not a directory: check TOKEN_STORE")]
    Missing { path: PathBuf },
    /// The shared store (`--redis-url`): unreachable, or a record there does not open.
    #[error("shared token store: {0}")]
    Shared(String),
}

/// Every record of a store that could be read, and the files that could not (wrong key or
/// damaged): one bad file must not hide the others.
#[derive(Debug, Default)]
pub struct Listing {
    pub records: Vec<TokenRecord>,
    pub damaged: Vec<Damaged>,
}

/// A record file that does not open; only its path and location are known, never its contents.
#[derive(Debug)]
pub struct Damaged {
    pub path: PathBuf,
    /// The location its file name encodes, when it is one of ours.
    pub location: Option<String>,
}

/// Per-location persistence of token pairs. `put` returns only once the record is durable.
pub trait TokenStore: Send + Sync + 'static {
    fn get<'a>(&'a self, location: &'a str) -> BoxFuture<'a, Result<Option<TokenRecord>, StoreError>>;
    fn put<'a>(&'a self, record: &'a TokenRecord) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Every record; fails on the first that does not open.
    fn list(&self) -> BoxFuture<'_, Result<Vec<TokenRecord>, StoreError>>;
    /// Every record that opens, and the files that do not.
    fn scan(&self) -> BoxFuture<'_, Result<Listing, StoreError>>;
    /// True when there was a record to delete.
    fn delete<'a>(&'a self, location: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// True while `location` has a record: cheaper than `get` (no decryption), so a running
    /// server can notice an operator's revoke.
    fn contains<'a>(&'a self, location: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// Takes `key`'s refresh lease: `Some(fencing token)`, or `None` while another replica holds
    /// it. One process owns the embedded store, so it always grants (its mutex is the lease).
    fn lease<'a>(&'a self, _key: &'a str) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        std::future::ready(Ok(Some(0))).boxed()
    }
    /// Writes a refreshed `record` only while `fence` still holds its lease, and releases it.
    /// `Ok(false)`: the lease was lost (expired, taken over), nothing was written.
    fn put_fenced<'a>(&'a self, record: &'a TokenRecord, _fence: u64) -> BoxFuture<'a, Result<bool, StoreError>> {
        async move { self.put(record).await.map(|()| true) }.boxed()
    }
    /// Gives `key`'s lease back (a refresh that failed), if `fence` still holds it.
    fn release<'a>(&'a self, _key: &'a str, _fence: u64) -> BoxFuture<'a, ()> {
        std::future::ready(()).boxed()
    }
}

/// The 32-byte key of `TOKEN_STORE_KEY` (64 hex digits or base64). `Debug` never shows it.
#[derive(Clone)]
pub struct StoreKey([u8; 32]);

impl StoreKey {
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoreKey([redacted])")
    }
}

impl std::str::FromStr for StoreKey {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim();
        let bytes = if raw.len() == 64 && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32).map(|i| u8::from_str_radix(&raw[2 * i..2 * i + 2], 16).unwrap_or(0)).collect()
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(raw)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw))
                .map_err(|_| "TOKEN_STORE_KEY must be 32 bytes as 64 hex digits or base64 (e.g. `openssl rand -hex 32`)".to_owned())?
        };
        let key: [u8; 32] = bytes.try_into().map_err(|_| "TOKEN_STORE_KEY must be exactly 32 bytes (64 hex digits)".to_owned())?;
        Ok(Self(key))
    }
}

/// Seals and opens records under `TOKEN_STORE_KEY`, bound to their key (associated data): what
/// every store keeps, on disk or in Redis, is only ever this.
#[derive(Clone)]
pub struct Sealer(XChaCha20Poly1305);

impl Sealer {
    pub fn new(key: &StoreKey) -> Self {
        Self(XChaCha20Poly1305::new(key.bytes().into()))
    }

    /// `MAGIC`, nonce, ciphertext; `None` only if serialization or encryption fails.
    pub fn seal(&self, record: &TokenRecord) -> Option<Vec<u8>> {
        let sealed = Sealed {
            location_id: record.location_id.clone(),
            company_id: record.company_id.clone(),
            user_id: record.user_id.clone(),
            scopes: record.scopes.clone(),
            access_token: record.access_token.expose_secret().to_owned(),
            refresh_token: record.refresh_token.expose_secret().to_owned(),
            expires_at: record.expires_at,
            status: record.status,
            updated_at: record.updated_at,
            generation: record.generation,
            agency: record.agency.clone(),
        };
        let plaintext = serde_json::to_vec(&sealed).ok()?;
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = self.0.encrypt(&nonce, Payload { msg: &plaintext, aad: record.location_id.as_bytes() }).ok()?;
        let mut out = Vec::with_capacity(MAGIC.len() + NONCE_LEN + ciphertext.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Some(out)
    }

    /// The record sealed for `expected`; `None` under another key, for another location, or damaged.
    pub fn open(&self, bytes: &[u8], expected: &str) -> Option<TokenRecord> {
        let rest = bytes.strip_prefix(MAGIC)?;
        if rest.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let plaintext = self.0.decrypt(nonce.into(), Payload { msg: ciphertext, aad: expected.as_bytes() }).ok()?;
        let sealed: Sealed = serde_json::from_slice(&plaintext).ok()?;
        Some(TokenRecord {
            location_id: sealed.location_id,
            company_id: sealed.company_id,
            user_id: sealed.user_id,
            scopes: sealed.scopes,
            access_token: SecretString::from(sealed.access_token),
            refresh_token: SecretString::from(sealed.refresh_token),
            expires_at: sealed.expires_at,
            status: sealed.status,
            updated_at: sealed.updated_at,
            generation: sealed.generation,
            agency: sealed.agency,
        })
    }
}

/// The embedded store: `<dir>/<hex location id>.tok`, one sealed record each.
#[derive(Clone)]
pub struct FileStore {
    inner: Arc<FileInner>,
}

struct FileInner {
    dir: PathBuf,
    sealer: Sealer,
}

impl FileStore {
    /// Creates the directory (owner-only) if needed and clears temp files a crash left behind.
    pub fn open(dir: impl Into<PathBuf>, key: &StoreKey) -> Result<Self, StoreError> {
        let dir = dir.into();
        let io = |source| StoreError::Io { path: dir.clone(), source };
        std::fs::create_dir_all(&dir).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        }
        for entry in std::fs::read_dir(&dir).map_err(io)?.flatten() {
            if entry.path().extension().is_some_and(|e| e == "tmp") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(Self::at(dir, key))
    }

    /// The store of an existing directory, for the `tokens` commands: a mistyped `TOKEN_STORE`
    /// fails instead of creating an empty store, and nothing is cleared or re-permissioned under
    /// a server that may be writing to it.
    pub fn open_existing(dir: impl Into<PathBuf>, key: &StoreKey) -> Result<Self, StoreError> {
        let dir = dir.into();
        if !dir.is_dir() {
            return Err(StoreError::Missing { path: dir });
        }
        Ok(Self::at(dir, key))
    }

    fn at(dir: PathBuf, key: &StoreKey) -> Self {
        Self { inner: Arc::new(FileInner { dir, sealer: Sealer::new(key) }) }
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    async fn blocking<T: Send + 'static>(&self, work: impl FnOnce(&FileInner) -> Result<T, StoreError> + Send + 'static) -> Result<T, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || work(&inner)).await.map_err(|_| StoreError::Join)?
    }
}

impl FileInner {
    /// Location ids become hex file names: nothing a caller sends can walk out of the directory.
    fn path_of(&self, location: &str) -> PathBuf {
        let name: String = location.bytes().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{name}.{EXTENSION}"))
    }

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
        move |source| StoreError::Io { path: path.to_owned(), source }
    }

    fn seal(&self, record: &TokenRecord) -> Result<Vec<u8>, StoreError> {
        self.sealer.seal(record).ok_or_else(|| StoreError::Undecryptable { path: self.path_of(&record.location_id) })
    }

    fn open_sealed(&self, path: &Path, bytes: &[u8], location: Option<&str>) -> Result<TokenRecord, StoreError> {
        let bad = || StoreError::Undecryptable { path: path.to_owned() };
        // The file name says which location the record must be for.
        let expected = match location {
            Some(location) => location.to_owned(),
            None => location_of(path).ok_or_else(bad)?,
        };
        self.sealer.open(bytes, &expected).ok_or_else(bad)
    }

    fn read(&self, location: &str) -> Result<Option<TokenRecord>, StoreError> {
        let path = self.path_of(location);
        match std::fs::read(&path) {
            Ok(bytes) => self.open_sealed(&path, &bytes, Some(location)).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Self::io(&path)(e)),
        }
    }

    /// Temp file, fsync, rename over the old file, fsync the directory: durable once this returns.
    fn write(&self, record: &TokenRecord) -> Result<(), StoreError> {
        let bytes = self.seal(record)?;
        let path = self.path_of(&record.location_id);
        let tmp = self.dir.join(format!(".{}.{:016x}.tmp", record.location_id.len(), fastrand::u64(..)));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let result = (|| {
            let mut file = options.open(&tmp).map_err(Self::io(&tmp))?;
            file.write_all(&bytes).map_err(Self::io(&tmp))?;
            file.sync_all().map_err(Self::io(&tmp))?;
            std::fs::rename(&tmp, &path).map_err(Self::io(&path))?;
            sync_dir(&self.dir)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    fn list(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let listing = self.scan()?;
        match listing.damaged.into_iter().next() {
            Some(damaged) => Err(StoreError::Undecryptable { path: damaged.path }),
            None => Ok(listing.records),
        }
    }

    /// An I/O error on the directory fails; a file that does not open is reported in `damaged`.
    fn scan(&self) -> Result<Listing, StoreError> {
        let mut listing = Listing::default();
        for entry in std::fs::read_dir(&self.dir).map_err(Self::io(&self.dir))? {
            let path = entry.map_err(Self::io(&self.dir))?.path();
            if path.extension().is_none_or(|e| e != EXTENSION) {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(Self::io(&path))?;
            match self.open_sealed(&path, &bytes, None) {
                Ok(record) => listing.records.push(record),
                Err(_) => listing.damaged.push(Damaged { location: location_of(&path), path }),
            }
        }
        listing.records.sort_by(|a, b| a.location_id.cmp(&b.location_id));
        listing.damaged.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(listing)
    }

    fn delete(&self, location: &str) -> Result<bool, StoreError> {
        let path = self.path_of(location);
        match std::fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.dir).map(|()| true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Self::io(&path)(e)),
        }
    }
}

/// The location a file name encodes, if it is one of ours.
fn location_of(path: &Path) -> Option<String> {
    let stem = path.file_stem()?.to_str()?;
    if stem.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..stem.len() / 2).map(|i| u8::from_str_radix(&stem[2 * i..2 * i + 2], 16).ok()).collect();
    String::from_utf8(bytes?).ok()
}

/// A rename is durable only once its directory entry is: fsync the directory too.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(FileInner::io(dir))?;
    Ok(())
}

impl TokenStore for FileStore {
    fn get<'a>(&'a self, location: &'a str) -> BoxFuture<'a, Result<Option<TokenRecord>, StoreError>> {
        let location = location.to_owned();
        self.blocking(move |inner| inner.read(&location)).boxed()
    }

    fn put<'a>(&'a self, record: &'a TokenRecord) -> BoxFuture<'a, Result<(), StoreError>> {
        let record = record.clone();
        self.blocking(move |inner| inner.write(&record)).boxed()
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<TokenRecord>, StoreError>> {
        self.blocking(|inner| inner.list()).boxed()
    }

    fn scan(&self) -> BoxFuture<'_, Result<Listing, StoreError>> {
        self.blocking(|inner| inner.scan()).boxed()
    }

    fn delete<'a>(&'a self, location: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        let location = location.to_owned();
        self.blocking(move |inner| inner.delete(&location)).boxed()
    }

    fn contains<'a>(&'a self, location: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        let location = location.to_owned();
        self.blocking(move |inner| Ok(inner.path_of(&location).exists())).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> StoreKey {
        StoreKey([byte; 32])
    }

    fn record(location: &str) -> TokenRecord {
        TokenRecord {
            location_id: location.into(),
            company_id: Some("co".into()),
            user_id: None,
            scopes: "contacts.readonly".into(),
            access_token: SecretString::from("at-plaintext-canary"),
            refresh_token: SecretString::from("rt-plaintext-canary"),
            expires_at: Utc::now(),
            status: TokenStatus::Active,
            updated_at: Utc::now(),
            generation: 1,
            agency: None,
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("ghl-store-unit-{name}-{}-{:x}", std::process::id(), fastrand::u64(..)))
    }

    #[tokio::test]
    async fn records_round_trip_encrypted_and_only_under_their_key() {
        let dir = temp_dir("roundtrip");
        let store = FileStore::open(&dir, &key(1)).unwrap();
        store.put(&record("loc/../1")).await.unwrap();
        let back = store.get("loc/../1").await.unwrap().unwrap();
        assert_eq!(back.refresh_token.expose_secret(), "rt-plaintext-canary");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains("canary") && !text.contains("contacts"), "plaintext on disk");
        }
        assert_eq!(store.list().await.unwrap().len(), 1);
        let wrong = FileStore::open(&dir, &key(2)).unwrap();
        assert!(matches!(wrong.get("loc/../1").await, Err(StoreError::Undecryptable { .. })));
        assert!(store.delete("loc/../1").await.unwrap());
        assert!(store.get("loc/../1").await.unwrap().is_none());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn store_keys_parse_hex_and_base64_and_refuse_other_lengths() {
        assert!("00".repeat(32).parse::<StoreKey>().is_ok());
        assert!(base64::engine::general_purpose::STANDARD.encode([7u8; 32]).parse::<StoreKey>().is_ok());
        assert!("abcd".parse::<StoreKey>().is_err());
        assert_eq!(format!("{:?}", key(9)), "StoreKey([redacted])");
    }
}
