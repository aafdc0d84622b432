//! `FileBackend`: one sealed file per credential in a private directory, for single machines.
//!
//! Writes are atomic (temporary file in the same directory, fsync, rename, fsync of the
//! directory), so a crash leaves the old or the new value, never a torn one. Every change to a
//! credential (save, delete, lease) happens under an advisory `flock` on its `.lock` file, which
//! makes the compare-and-swap atomic across processes; the operating system drops that lock
//! when a process dies. The lease itself is a `.lease` file with a holder token and an expiry,
//! so a dead holder's lease ends after its time to live. A pending login is taken by renaming
//! its file to a name only the taker knows: of many takers, one rename wins.

use std::{
    fs,
    io::{ErrorKind, Write},
    os::unix::fs::{DirBuilderExt, PermissionsExt},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use async_trait::async_trait;

use crate::{
    Backend, DeleteOutcome, LeaseHolder, RawRecord, RecordKind, SaveOutcome, StorageId, StoreError,
    Version,
    store::{millis, wall_clock_millis},
};

const BACKEND: &str = "file";
/// Mode of the store directory: only its owner may list or enter it.
const DIRECTORY_MODE: u32 = 0o700;

/// Sealed records as files in one directory (mode 0700, files 0600).
#[derive(Debug, Clone)]
pub struct FileBackend {
    directory: Arc<PathBuf>,
}

impl FileBackend {
    /// Uses `directory`, creating it with mode 0700; an existing directory that others may
    /// read or enter is refused.
    pub async fn open(directory: impl AsRef<Path>) -> Result<Self, StoreError> {
        let directory = directory.as_ref().to_path_buf();
        let checked = directory.clone();
        blocking("open", move || {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(DIRECTORY_MODE)
                .create(&checked)
                .map_err(io("create directory"))?;
            let mode = fs::metadata(&checked)
                .map_err(io("open"))?
                .permissions()
                .mode()
                & 0o777;
            if mode & 0o077 != 0 {
                return Err(StoreError::Permissions {
                    path: checked,
                    mode,
                    expected: DIRECTORY_MODE,
                });
            }
            remove_abandoned_files(&checked);
            Ok(())
        })
        .await?;
        Ok(Self {
            directory: Arc::new(directory),
        })
    }

    /// The store directory.
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    fn path(&self, id: &StorageId, extension: &str) -> PathBuf {
        self.directory.join(format!("{id}.{extension}"))
    }

    /// Runs `work` on the blocking pool with the credential's `.lock` file locked.
    async fn locked<T: Send + 'static>(
        &self,
        operation: &'static str,
        id: &StorageId,
        work: impl FnOnce(&Path) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let lock_path = self.path(id, "lock");
        let directory = self.directory.clone();
        blocking(operation, move || {
            let lock_file = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&lock_path)
                .map_err(io(operation))?;
            fs::set_permissions(&lock_path, fs::Permissions::from_mode(0o600))
                .map_err(io(operation))?;
            fs4::FileExt::lock(&lock_file).map_err(io(operation))?;
            // The lock is released when `lock_file` is dropped at the end of this closure.
            let result = work(&directory);
            drop(lock_file);
            result
        })
        .await
    }
}

async fn blocking<T: Send + 'static>(
    operation: &'static str,
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| StoreError::backend(BACKEND, operation, error))?
}

fn io(operation: &'static str) -> impl Fn(std::io::Error) -> StoreError {
    move |error| StoreError::backend(BACKEND, operation, error)
}

/// Reads a whole file, `None` when it does not exist.
fn read_optional(path: &Path, operation: &'static str) -> Result<Option<Vec<u8>>, StoreError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
        Err(error) => Err(io(operation)(error)),
    }
}

/// Replaces `target` atomically: temporary file (0600) in the same directory, fsync, rename,
/// fsync of the directory.
fn write_atomically(
    directory: &Path,
    target: &Path,
    bytes: &[u8],
    operation: &'static str,
) -> Result<(), StoreError> {
    let mut temporary = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(directory)
        .map_err(io(operation))?;
    temporary.write_all(bytes).map_err(io(operation))?;
    temporary.as_file().sync_all().map_err(io(operation))?;
    temporary
        .persist(target)
        .map_err(|error| io(operation)(error.error))?;
    sync_directory(directory, operation)
}

fn sync_directory(directory: &Path, operation: &'static str) -> Result<(), StoreError> {
    fs::File::open(directory)
        .and_then(|handle| handle.sync_all())
        .map_err(io(operation))
}

fn remove(path: &Path, directory: &Path, operation: &'static str) -> Result<bool, StoreError> {
    match fs::remove_file(path) {
        Ok(()) => sync_directory(directory, operation).map(|()| true),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(false),
        Err(error) => Err(io(operation)(error)),
    }
}

/// `[version: u64 big-endian][envelope]`.
fn encode_record(record: &RawRecord) -> Vec<u8> {
    let mut bytes = record.version.get().to_be_bytes().to_vec();
    bytes.extend_from_slice(&record.envelope);
    bytes
}

fn decode_record(bytes: Vec<u8>, operation: &'static str) -> Result<RawRecord, StoreError> {
    let Some((version, envelope)) = bytes.split_first_chunk::<8>() else {
        return Err(StoreError::corrupt(
            BACKEND,
            operation,
            format!("credential file has {} bytes", bytes.len()),
        ));
    };
    let version = Version::new(u64::from_be_bytes(*version)).ok_or_else(|| {
        StoreError::corrupt(BACKEND, operation, "credential file has an invalid version")
    })?;
    Ok(RawRecord {
        version,
        envelope: envelope.to_vec(),
    })
}

fn read_record(path: &Path, operation: &'static str) -> Result<Option<RawRecord>, StoreError> {
    read_optional(path, operation)?
        .map(|bytes| decode_record(bytes, operation))
        .transpose()
}

/// `[expires at, unix ms: i64 big-endian][envelope]` for pending logins.
fn decode_expiring<'a>(
    bytes: &'a [u8],
    operation: &'static str,
) -> Result<(i64, &'a [u8]), StoreError> {
    let Some((expires_at, envelope)) = bytes.split_first_chunk::<8>() else {
        return Err(StoreError::corrupt(
            BACKEND,
            operation,
            "pending-login file is truncated",
        ));
    };
    Ok((i64::from_be_bytes(*expires_at), envelope))
}

/// A lease file: `<holder> <expires at, unix ms>`.
fn read_lease(path: &Path, operation: &'static str) -> Result<Option<(String, i64)>, StoreError> {
    let Some(bytes) = read_optional(path, operation)? else {
        return Ok(None);
    };
    let text = String::from_utf8(bytes).ok();
    let parsed = text.as_deref().and_then(|text| {
        let (holder, expires_at) = text.trim_end().split_once(' ')?;
        Some((holder.to_owned(), expires_at.parse().ok()?))
    });
    parsed
        .map(Some)
        .ok_or_else(|| StoreError::corrupt(BACKEND, operation, "lease file is malformed"))
}

#[async_trait]
impl Backend for FileBackend {
    async fn load(&self, id: &StorageId) -> Result<Option<RawRecord>, StoreError> {
        // Renames are atomic, so a reader needs no lock: it sees the old or the new file.
        let path = self.path(id, "cred");
        blocking("load", move || read_record(&path, "load")).await
    }

    async fn save(
        &self,
        id: &StorageId,
        record: RawRecord,
        expected: Option<Version>,
    ) -> Result<SaveOutcome, StoreError> {
        let path = self.path(id, "cred");
        self.locked("save", id, move |directory| {
            let current = read_record(&path, "save")?;
            if current.as_ref().map(|current| current.version) != expected {
                return Ok(SaveOutcome::Conflict(current));
            }
            write_atomically(directory, &path, &encode_record(&record), "save")?;
            Ok(SaveOutcome::Saved)
        })
        .await
    }

    async fn delete(
        &self,
        id: &StorageId,
        expected: Option<Version>,
    ) -> Result<DeleteOutcome, StoreError> {
        let path = self.path(id, "cred");
        self.locked("delete", id, move |directory| {
            if let Some(expected) = expected {
                let current = read_record(&path, "delete")?;
                if current.as_ref().map(|current| current.version) != Some(expected) {
                    return Ok(DeleteOutcome::Conflict(current));
                }
            }
            Ok(match remove(&path, directory, "delete")? {
                true => DeleteOutcome::Deleted,
                false => DeleteOutcome::Absent,
            })
        })
        .await
    }

    async fn try_acquire_lease(
        &self,
        id: &StorageId,
        holder: &LeaseHolder,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let (path, holder) = (self.path(id, "lease"), holder.as_str().to_owned());
        self.locked("acquire lease", id, move |directory| {
            let now = wall_clock_millis();
            if let Some((_, expires_at)) = read_lease(&path, "acquire lease")? {
                if expires_at > now {
                    return Ok(false);
                }
            }
            let lease = format!("{holder} {}\n", now.saturating_add(millis(ttl)));
            write_atomically(directory, &path, lease.as_bytes(), "acquire lease")?;
            Ok(true)
        })
        .await
    }

    async fn release_lease(
        &self,
        id: &StorageId,
        holder: &LeaseHolder,
    ) -> Result<bool, StoreError> {
        let (path, holder) = (self.path(id, "lease"), holder.as_str().to_owned());
        self.locked("release lease", id, move |directory| {
            match read_lease(&path, "release lease")? {
                Some((current, _)) if current == holder => {
                    remove(&path, directory, "release lease")
                }
                _ => Ok(false),
            }
        })
        .await
    }

    async fn put_pending(
        &self,
        id: &StorageId,
        envelope: Vec<u8>,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let path = self.path(id, "pending");
        let directory = self.directory.clone();
        blocking("put pending login", move || {
            let now = wall_clock_millis();
            sweep_expired_pending(&directory, now)?;
            let mut bytes = now.saturating_add(millis(ttl)).to_be_bytes().to_vec();
            bytes.extend_from_slice(&envelope);
            write_atomically(&directory, &path, &bytes, "put pending login")
        })
        .await
    }

    async fn take_pending(&self, id: &StorageId) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path(id, "pending");
        let directory = self.directory.clone();
        blocking("take pending login", move || {
            let mut claim = [0u8; 16];
            getrandom::fill(&mut claim).map_err(|_| StoreError::Random)?;
            let claimed = directory.join(format!(".taken-{}", hex::encode(claim)));
            match fs::rename(&path, &claimed) {
                Ok(()) => (),
                Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
                Err(error) => return Err(io("take pending login")(error)),
            }
            let bytes = fs::read(&claimed).map_err(io("take pending login"));
            remove(&claimed, &directory, "take pending login")?;
            let bytes = bytes?;
            let (expires_at, envelope) = decode_expiring(&bytes, "take pending login")?;
            Ok((expires_at > wall_clock_millis()).then(|| envelope.to_vec()))
        })
        .await
    }

    async fn list(&self, kind: RecordKind) -> Result<Vec<StorageId>, StoreError> {
        let directory = self.directory.clone();
        blocking("list records", move || {
            let extension = match kind {
                RecordKind::Credential => "cred",
                RecordKind::Pending => "pending",
            };
            let now = wall_clock_millis();
            let mut listed = Vec::new();
            for entry in fs::read_dir(&*directory).map_err(io("list records"))? {
                let path = entry.map_err(io("list records"))?.path();
                if path.extension().is_none_or(|found| found != extension) {
                    continue;
                }
                let Some(id) = path
                    .file_stem()
                    .and_then(|stem| stem.to_str())
                    .and_then(StorageId::from_stored)
                else {
                    continue;
                };
                if kind == RecordKind::Pending {
                    let live = read_optional(&path, "list records")?.is_some_and(|bytes| {
                        decode_expiring(&bytes, "list records").is_ok_and(|(at, _)| at > now)
                    });
                    if !live {
                        continue;
                    }
                }
                listed.push(id);
            }
            Ok(listed)
        })
        .await
    }

    async fn peek_pending(&self, id: &StorageId) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path(id, "pending");
        blocking("read pending login", move || {
            let Some(bytes) = read_optional(&path, "read pending login")? else {
                return Ok(None);
            };
            let (expires_at, envelope) = decode_expiring(&bytes, "read pending login")?;
            Ok((expires_at > wall_clock_millis()).then(|| envelope.to_vec()))
        })
        .await
    }

    /// Claims the file by renaming it (as a take does, so no taker can get it meanwhile), checks
    /// it, and renames a re-sealed copy with the same expiry into its place. A login completed in
    /// that instant finds no pending login and has to be begun again.
    async fn replace_pending(
        &self,
        id: &StorageId,
        expected: &[u8],
        envelope: Vec<u8>,
    ) -> Result<bool, StoreError> {
        let path = self.path(id, "pending");
        let directory = self.directory.clone();
        let expected = expected.to_vec();
        blocking("re-seal pending login", move || {
            let operation = "re-seal pending login";
            let mut claim = [0u8; 16];
            getrandom::fill(&mut claim).map_err(|_| StoreError::Random)?;
            let claimed = directory.join(format!(".taken-{}", hex::encode(claim)));
            match fs::rename(&path, &claimed) {
                Ok(()) => (),
                Err(error) if error.kind() == ErrorKind::NotFound => return Ok(false),
                Err(error) => return Err(io(operation)(error)),
            }
            let bytes = fs::read(&claimed).map_err(io(operation))?;
            let (expires_at, current) = decode_expiring(&bytes, operation)?;
            let replace = current == expected.as_slice() && expires_at > wall_clock_millis();
            let mut written = expires_at.to_be_bytes().to_vec();
            written.extend_from_slice(if replace { &envelope } else { current });
            write_atomically(&directory, &path, &written, operation)?;
            remove(&claimed, &directory, operation)?;
            Ok(replace)
        })
        .await
    }
}

/// How old a temporary or claimed file must be before `open` treats it as abandoned.
const ABANDONED_AFTER: Duration = Duration::from_secs(15 * 60);

/// Removes temporary files of writes and claims of takes that a killed process left behind
/// (they hold only ciphertext, but they should not pile up). Best effort: a file another process
/// is still using is young and stays.
fn remove_abandoned_files(directory: &Path) {
    let Ok(entries) = fs::read_dir(directory) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(".tmp-") || name.starts_with(".taken-")) {
            continue;
        }
        let age = entry
            .metadata()
            .and_then(|metadata| metadata.modified())
            .ok()
            .and_then(|at| at.elapsed().ok());
        if age.is_some_and(|age| age > ABANDONED_AFTER) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Removes pending-login files whose time to live has passed (and leaves unreadable ones).
fn sweep_expired_pending(directory: &Path, now: i64) -> Result<(), StoreError> {
    for entry in fs::read_dir(directory).map_err(io("put pending login"))? {
        let path = entry.map_err(io("put pending login"))?.path();
        if path
            .extension()
            .is_none_or(|extension| extension != "pending")
        {
            continue;
        }
        let expired = fs::read(&path).ok().and_then(|bytes| {
            decode_expiring(&bytes, "put pending login")
                .ok()
                .map(|(at, _)| at <= now)
        });
        if expired == Some(true) {
            // Another process may take or sweep it at the same time; either way it is gone.
            let _ = fs::remove_file(&path);
        }
    }
    Ok(())
}

#[cfg(feature = "__testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "__testing")))]
#[async_trait]
impl crate::conformance::RawPeek for FileBackend {
    /// Every file name and every file's bytes, as on disk.
    async fn raw_bytes(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        let directory = self.directory.clone();
        blocking("read raw files", move || {
            let mut raw = Vec::new();
            for entry in fs::read_dir(&*directory).map_err(io("read raw files"))? {
                let path = entry.map_err(io("read raw files"))?.path();
                raw.push(path.as_os_str().as_encoded_bytes().to_vec());
                if let Some(bytes) = read_optional(&path, "read raw files")? {
                    raw.push(bytes);
                }
            }
            Ok(raw)
        })
        .await
    }
}
