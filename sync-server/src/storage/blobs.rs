//! Session attachment files (screenshots, logs), named by the SHA-256 of their content and kept
//! per team, behind one trait with two homes: a directory ([`DirectoryBlobs`],
//! `<dir>/<team id>/<aa>/<sha256>`) and an S3-compatible bucket ([`BucketBlobs`],
//! `<prefix>/<team id>/<aa>/<sha256>`, through `object_store`). Either way an upload is hashed as
//! it is spooled to a local temporary file, and only content whose hash is its name is put
//! under that name, so nothing unverified is ever visible there; a retried or duplicated upload
//! changes nothing. The files are the only record, so servers on one PostgreSQL database share
//! one directory or one bucket.

use std::collections::HashSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use object_store::ClientConfigKey;
use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as Key;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

/// Largest attachment accepted: the replica's own limit.
pub const MAX_ATTACHMENT_BYTES: u64 = rf_core::received::MAX_ATTACHMENT_BYTES;

/// Bytes as they arrive from a client or leave the store.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// What a [`Blobs`] method returns.
pub type BlobFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, BlobError>> + Send + 'a>>;

/// Why an attachment could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The client's body ended early or could not be read.
    #[error("the upload was cut short or unreadable: {0}")]
    CutShort(std::io::Error),
    #[error("an attachment may have at most {MAX_ATTACHMENT_BYTES} bytes")]
    TooLarge,
    /// The content's SHA-256 is not its name; nothing was kept.
    #[error("the content's SHA-256 is not the name it was sent under; nothing was kept")]
    HashMismatch,
    /// The disk or the bucket failed (full, unreachable, refused); nothing was kept.
    #[error("{0}")]
    Storage(String),
}

fn storage(what: &str, error: impl std::fmt::Display) -> BlobError {
    BlobError::Storage(format!("{what}: {error}"))
}

/// Whether an upload added a file or found it already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    New,
    AlreadyThere,
}

/// An attachment opened for reading.
pub struct Blob {
    pub length: u64,
    pub content: ByteStream,
}

impl std::fmt::Debug for Blob {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Blob")
            .field("length", &self.length)
            .finish_non_exhaustive()
    }
}

/// Where a team's attachment files live. Names given to these methods are SHA-256 hex (the
/// HTTP layer checks them first).
pub trait Blobs: Send + Sync + std::fmt::Debug {
    /// Stores `upload` as the team's `sha256` if its content hashes to that name and has at
    /// most [`MAX_ATTACHMENT_BYTES`]; otherwise nothing becomes visible under the name.
    fn put<'a>(&'a self, team: Uuid, sha256: &'a str, upload: ByteStream)
    -> BlobFuture<'a, Stored>;
    /// The team's file of that name with its length, or `None` when the team has none.
    fn open<'a>(&'a self, team: Uuid, sha256: &'a str) -> BlobFuture<'a, Option<Blob>>;
    /// Which of `names` the team has.
    fn existing<'a>(&'a self, team: Uuid, names: &'a [String]) -> BlobFuture<'a, HashSet<String>>;
}

/// The attachment store a server uses, cheap to clone.
#[derive(Debug, Clone)]
pub struct Attachments(Arc<dyn Blobs>);

impl Attachments {
    /// Files under `root` on the local (or a shared) file system.
    pub fn in_directory(root: PathBuf) -> Attachments {
        Attachments(Arc::new(DirectoryBlobs { root }))
    }

    /// Objects in the bucket `url` names (`s3://bucket/prefix`), reached with the `AWS_*`
    /// environment variables (endpoint, region, keys). Checks at once that the bucket answers,
    /// so a wrong setting fails at start rather than at the first upload.
    pub async fn in_bucket(url: &str) -> Result<Attachments, BlobError> {
        let blobs = BucketBlobs::from_env(url)?;
        blobs.check().await?;
        Ok(Attachments(Arc::new(blobs)))
    }

    pub fn blobs(&self) -> &dyn Blobs {
        self.0.as_ref()
    }
}

/// The shard folder of a name: its first two hex digits.
fn shard(sha256: &str) -> &str {
    sha256.get(..2).unwrap_or("00")
}

/// Writes `upload` to `path`, hashing as it goes; refuses a body over the limit or whose hash is
/// not `sha256`. The file is synced before this returns; on an error it may be left for the
/// caller to remove. A `private` file is made readable by this user only (on Unix). Returns the
/// number of bytes written.
async fn spool_checked(
    path: &Path,
    sha256: &str,
    mut upload: ByteStream,
    private: bool,
) -> Result<u64, BlobError> {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    // A spool file in the shared temporary directory is readable by this user only.
    #[cfg(unix)]
    if private {
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options
        .open(path)
        .await
        .map_err(|error| storage("cannot create a temporary file", error))?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    while let Some(chunk) = upload.next().await {
        let chunk = chunk.map_err(BlobError::CutShort)?;
        size = size.saturating_add(chunk.len() as u64);
        if size > MAX_ATTACHMENT_BYTES {
            return Err(BlobError::TooLarge);
        }
        hasher.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(|error| storage("cannot write a temporary file", error))?;
    }
    if hex::encode(hasher.finalize()) != sha256 {
        return Err(BlobError::HashMismatch);
    }
    file.sync_all()
        .await
        .map_err(|error| storage("cannot sync a temporary file", error))?;
    Ok(size)
}

/// A temporary file removed when dropped, whatever happened to the upload.
struct Spooled(PathBuf);

impl Drop for Spooled {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Reads a file in chunks of at most `chunk` bytes.
fn file_stream(file: tokio::fs::File, chunk: usize) -> ByteStream {
    Box::pin(futures_util::stream::try_unfold(
        file,
        move |mut file| async move {
            let mut buffer = vec![0; chunk];
            let read = file.read(&mut buffer).await?;
            if read == 0 {
                return Ok::<_, std::io::Error>(None);
            }
            buffer.truncate(read);
            Ok(Some((Bytes::from(buffer), file)))
        },
    ))
}

/// Files per team under `<root>/<team id>/<aa>/<sha256>`. An upload is written to a temporary
/// name beside its final one, synced, renamed, and the directory synced, so a crash never
/// leaves half a file under a real name.
#[derive(Debug)]
pub struct DirectoryBlobs {
    root: PathBuf,
}

impl DirectoryBlobs {
    fn path(&self, team: Uuid, sha256: &str) -> PathBuf {
        self.root
            .join(team.to_string())
            .join(shard(sha256))
            .join(sha256)
    }

    async fn contains(&self, team: Uuid, sha256: &str) -> bool {
        tokio::fs::try_exists(self.path(team, sha256))
            .await
            .unwrap_or(false)
    }

    async fn store(
        &self,
        team: Uuid,
        sha256: &str,
        upload: ByteStream,
    ) -> Result<Stored, BlobError> {
        if self.contains(team, sha256).await {
            return Ok(Stored::AlreadyThere);
        }
        let path = self.path(team, sha256);
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .ok_or_else(|| BlobError::Storage("an attachment path has no folder".into()))?;
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|error| storage("cannot create the attachment folder", error))?;
        let temporary = Spooled(dir.join(format!(".{sha256}.{}.part", Uuid::new_v4().simple())));
        spool_checked(&temporary.0, sha256, upload, false).await?;
        tokio::fs::rename(&temporary.0, &path)
            .await
            .map_err(|error| storage("cannot rename an attachment into place", error))?;
        // The rename is durable once the directory is synced.
        let synced = tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all())
            .await
            .map_err(|error| storage("the directory sync did not finish", error))?;
        synced.map_err(|error| storage("cannot sync the attachment folder", error))?;
        Ok(Stored::New)
    }

    async fn read(&self, team: Uuid, sha256: &str) -> Result<Option<Blob>, BlobError> {
        let file = match tokio::fs::File::open(self.path(team, sha256)).await {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(storage("cannot open an attachment", error)),
        };
        let length = file
            .metadata()
            .await
            .map_err(|error| storage("cannot read an attachment's size", error))?
            .len();
        Ok(Some(Blob {
            length,
            content: file_stream(file, 64 * 1024),
        }))
    }
}

impl Blobs for DirectoryBlobs {
    fn put<'a>(
        &'a self,
        team: Uuid,
        sha256: &'a str,
        upload: ByteStream,
    ) -> BlobFuture<'a, Stored> {
        Box::pin(self.store(team, sha256, upload))
    }

    fn open<'a>(&'a self, team: Uuid, sha256: &'a str) -> BlobFuture<'a, Option<Blob>> {
        Box::pin(self.read(team, sha256))
    }

    fn existing<'a>(&'a self, team: Uuid, names: &'a [String]) -> BlobFuture<'a, HashSet<String>> {
        Box::pin(async move {
            let mut found = HashSet::new();
            for name in names {
                if self.contains(team, name).await {
                    found.insert(name.clone());
                }
            }
            Ok(found)
        })
    }
}

/// Uploads larger than this go up in parts of this size (S3 takes parts of 5 MiB or more).
const PART_BYTES: usize = 8 * 1024 * 1024;
/// Names asked about at once when the server answers which attachments a team lacks.
const HEADS_AT_ONCE: usize = 16;
/// How long the start-up check waits for the bucket to answer.
const CHECK_WITHIN: Duration = Duration::from_secs(20);

/// Objects per team under `<prefix>/<team id>/<aa>/<sha256>` in an S3-compatible bucket. An
/// upload is spooled to a local temporary file while it is hashed, and only a file whose hash
/// is its name is put under the name (one PUT, or a multipart upload, which S3 shows only once
/// it completes), so no reader ever sees unverified content there.
pub struct BucketBlobs {
    store: Arc<dyn ObjectStore>,
    url: String,
    prefix: Key,
}

/// Names the bucket only: the client's settings hold the keys.
impl std::fmt::Debug for BucketBlobs {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("BucketBlobs")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The bucket and the prefix of `s3://bucket/prefix` (the prefix may be empty).
pub fn parse_bucket_url(url: &str) -> Result<(String, String), BlobError> {
    let wrong = |why: &str| {
        BlobError::Storage(format!(
            "--attachments-url {url:?} {why}: give it as s3://bucket or s3://bucket/prefix"
        ))
    };
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| wrong("is not an s3:// URL"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let bucket_is_valid = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    if !bucket_is_valid {
        return Err(wrong(
            "does not name a bucket (3 to 63 lowercase letters, digits, '-' or '.')",
        ));
    }
    if prefix.contains(['?', '#']) {
        return Err(wrong("has a query or fragment"));
    }
    Ok((bucket.to_owned(), prefix.trim_matches('/').to_owned()))
}

impl BucketBlobs {
    /// The bucket `url` names, with endpoint, region and keys from the `AWS_*` environment.
    pub fn from_env(url: &str) -> Result<BucketBlobs, BlobError> {
        let (bucket, prefix) = parse_bucket_url(url)?;
        let prefix = Key::parse(&prefix).map_err(|error| {
            BlobError::Storage(format!(
                "the prefix of --attachments-url {url:?} is not a usable object path: {error}"
            ))
        })?;
        let builder = AmazonS3Builder::from_env();
        let endpoint = builder.get_config_value(&AmazonS3ConfigKey::Endpoint);
        let allow_http = builder
            .get_config_value(&AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp))
            .is_some_and(|value| value.eq_ignore_ascii_case("true"));
        if let Some(endpoint) = endpoint.filter(|endpoint| endpoint.starts_with("http://"))
            && !allow_http
        {
            return Err(BlobError::Storage(format!(
                "the S3 endpoint {endpoint} (AWS_ENDPOINT_URL) is plain HTTP: set \
                 AWS_ALLOW_HTTP=true to use it, or give an https:// endpoint"
            )));
        }
        let store = builder.with_bucket_name(bucket).build().map_err(|error| {
            BlobError::Storage(format!(
                "cannot set up S3 access for {url}: {error}; set AWS_REGION, \
                 AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL for a \
                 server other than AWS, AWS_ALLOW_HTTP=true if it speaks plain HTTP)"
            ))
        })?;
        Ok(BucketBlobs {
            store: Arc::new(store),
            url: url.to_owned(),
            prefix,
        })
    }

    /// Lists the prefix once: the bucket exists, answers and lets these keys read it.
    async fn check(&self) -> Result<(), BlobError> {
        let advice = "check that the bucket exists, that AWS_ENDPOINT_URL and AWS_REGION point \
                      at it (AWS_ALLOW_HTTP=true for a plain-HTTP endpoint) and that \
                      AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY may read and write it";
        match tokio::time::timeout(
            CHECK_WITHIN,
            self.store.list_with_delimiter(Some(&self.prefix)),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(BlobError::Storage(format!(
                "cannot list {}: {error}; {advice}",
                self.url
            ))),
            Err(_) => Err(BlobError::Storage(format!(
                "{} did not answer within {} s; {advice}",
                self.url,
                CHECK_WITHIN.as_secs()
            ))),
        }
    }

    fn key(&self, team: Uuid, sha256: &str) -> Key {
        self.prefix
            .child(team.to_string())
            .child(shard(sha256))
            .child(sha256)
    }

    async fn contains(&self, key: &Key) -> Result<bool, BlobError> {
        match self.store.head(key).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(error) => Err(storage("cannot ask the bucket for an attachment", error)),
        }
    }

    async fn store(
        &self,
        team: Uuid,
        sha256: &str,
        upload: ByteStream,
    ) -> Result<Stored, BlobError> {
        let key = self.key(team, sha256);
        if self.contains(&key).await? {
            return Ok(Stored::AlreadyThere);
        }
        let temporary = Spooled(std::env::temp_dir().join(format!(
            "rf-upload-{sha256}-{}.part",
            Uuid::new_v4().simple()
        )));
        let size = spool_checked(&temporary.0, sha256, upload, true).await?;
        let file = tokio::fs::File::open(&temporary.0)
            .await
            .map_err(|error| storage("cannot reopen a temporary file", error))?;
        if size <= PART_BYTES as u64 {
            let mut content = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            let mut file = file;
            file.read_to_end(&mut content)
                .await
                .map_err(|error| storage("cannot read a temporary file", error))?;
            self.store
                .put(&key, Bytes::from(content).into())
                .await
                .map_err(|error| storage("cannot put an attachment into the bucket", error))?;
        } else {
            self.put_in_parts(&key, file).await?;
        }
        Ok(Stored::New)
    }

    /// A multipart upload: the object appears only when the last part is in and the upload
    /// completes; on a failure the upload is aborted.
    async fn put_in_parts(&self, key: &Key, file: tokio::fs::File) -> Result<(), BlobError> {
        let upload = self
            .store
            .put_multipart(key)
            .await
            .map_err(|error| storage("cannot start a multipart upload", error))?;
        let mut writer = object_store::WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut chunks = file_stream(file, 1024 * 1024);
        let written: Result<(), BlobError> = async {
            while let Some(chunk) = chunks.next().await {
                let chunk =
                    chunk.map_err(|error| storage("cannot read a temporary file", error))?;
                writer
                    .wait_for_capacity(2)
                    .await
                    .map_err(|error| storage("cannot upload a part of an attachment", error))?;
                writer.write(&chunk);
            }
            Ok(())
        }
        .await;
        match written {
            Ok(()) => {
                writer
                    .finish()
                    .await
                    .map_err(|error| storage("cannot complete a multipart upload", error))?;
                Ok(())
            }
            Err(error) => {
                if let Err(abort) = writer.abort().await {
                    tracing::warn!(%abort, "cannot abort a multipart upload");
                }
                Err(error)
            }
        }
    }

    async fn read(&self, team: Uuid, sha256: &str) -> Result<Option<Blob>, BlobError> {
        match self.store.get(&self.key(team, sha256)).await {
            Ok(found) => Ok(Some(Blob {
                length: found.meta.size,
                content: Box::pin(found.into_stream().map_err(std::io::Error::other)),
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(storage("cannot read an attachment from the bucket", error)),
        }
    }

    async fn which_exist(
        &self,
        team: Uuid,
        names: &[String],
    ) -> Result<HashSet<String>, BlobError> {
        let unique: HashSet<String> = names.iter().cloned().collect();
        let answers: Vec<Result<Option<String>, BlobError>> = futures_util::stream::iter(unique)
            .map(|name| async move {
                let exists = self.contains(&self.key(team, &name)).await?;
                Ok::<_, BlobError>(exists.then_some(name))
            })
            .buffer_unordered(HEADS_AT_ONCE)
            .collect()
            .await;
        let mut found = HashSet::new();
        for answer in answers {
            if let Some(name) = answer? {
                found.insert(name);
            }
        }
        Ok(found)
    }
}

impl Blobs for BucketBlobs {
    fn put<'a>(
        &'a self,
        team: Uuid,
        sha256: &'a str,
        upload: ByteStream,
    ) -> BlobFuture<'a, Stored> {
        Box::pin(self.store(team, sha256, upload))
    }

    fn open<'a>(&'a self, team: Uuid, sha256: &'a str) -> BlobFuture<'a, Option<Blob>> {
        Box::pin(self.read(team, sha256))
    }

    fn existing<'a>(&'a self, team: Uuid, names: &'a [String]) -> BlobFuture<'a, HashSet<String>> {
        Box::pin(self.which_exist(team, names))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_bucket_url;

    #[test]
    fn bucket_urls() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            ("s3://rf-attachments", Some(("rf-attachments", ""))),
            ("s3://rf-attachments/", Some(("rf-attachments", ""))),
            (
                "s3://rf-attachments/prod/eu",
                Some(("rf-attachments", "prod/eu")),
            ),
            (
                "s3://rf-attachments/prod/",
                Some(("rf-attachments", "prod")),
            ),
            ("https://rf-attachments/prod", None),
            ("s3://", None),
            ("s3://ab", None),
            ("s3://Upper/x", None),
            ("s3://bucket/x?versionId=1", None),
        ];
        for (url, expected) in cases {
            let parsed = parse_bucket_url(url).ok();
            let expected = expected.map(|(bucket, prefix)| (bucket.to_owned(), prefix.to_owned()));
            assert_eq!(parsed, expected, "{url}");
        }
    }
}
