//! Captures in object storage: `sockrec query -i s3://BUCKET/PREFIX/`
//! reads them where they are, and `sockrec upload` puts a finished capture
//! at `PREFIX/HOST/START.parquet`.
//!
//! The client is the object_store crate's, the one DataFusion reads
//! through, so a query's scans go to the store as the footer checks here
//! do. It is set up as AWS's own tools are, from the environment:
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//! `AWS_REGION` (or `AWS_DEFAULT_REGION`), `AWS_ENDPOINT_URL` for any
//! S3-compatible store (MinIO, Ceph, R2...), `AWS_ALLOW_HTTP=true` for one
//! without TLS; and, for what the environment leaves out, the section of
//! `AWS_PROFILE` (else `default`) in `~/.aws/credentials` and
//! `~/.aws/config` ([`profile`]). Without keys it asks the instance
//! metadata service, as on EC2.
//!
//! Every object goes through the checks of a local capture
//! ([`CaptureInfo::from_tail`]: Parquet, a footer, sockrec's metadata of a
//! version we read), with the same one-line errors, and the store's own
//! refusals are one line too: no such bucket, no such object, access
//! denied, store unreachable.

pub mod profile;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use futures::TryStreamExt as _;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::buffered::BufWriter;
use object_store::path::Path as Key;
use object_store::{
    BackoffConfig, ClientConfigKey, ObjectMeta, ObjectStore, ObjectStoreExt as _, RetryConfig,
};
// The URL scheme of the stores sockrec reads, and which inputs name one
// (in sockrec-capture: the analyzer tells them apart without this crate).
pub use sockrec_capture::is_object_url;
use sockrec_capture::{CaptureInfo, Location, OBJECT_SCHEME as SCHEME};
use tokio::io::AsyncWriteExt as _;
use url::Url;

/// Bytes fetched from an object's end at first: a capture's footer is a
/// few KiB (one entry per row group and column), so one request usually
/// holds it.
const FIRST_TAIL: u64 = 64 * 1024;

/// `s3://BUCKET/KEY` taken apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectUrl {
    pub bucket: String,
    /// The key, or a prefix (empty, or ending in `/`).
    pub key: String,
}

impl ObjectUrl {
    pub fn parse(input: &str) -> Result<ObjectUrl> {
        let rest = input
            .strip_prefix(SCHEME)
            .ok_or_else(|| anyhow!("{input}: not an s3:// URL"))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            bail!("{input}: no bucket in the URL (s3://BUCKET/KEY)");
        }
        Ok(ObjectUrl {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }

    /// The store's root URL, as DataFusion looks stores up by it.
    pub fn bucket_url(&self) -> Url {
        Url::parse(&format!("{SCHEME}{}", self.bucket)).expect("an s3:// URL with a host")
    }

    fn of_key(&self, key: &str) -> String {
        format!("{SCHEME}{}/{key}", self.bucket)
    }

    fn is_prefix(&self) -> bool {
        self.key.is_empty() || self.key.ends_with('/')
    }
}

/// One client per bucket, made when first needed and kept for the
/// session (and handed to DataFusion with [`Stores::registered`]).
#[derive(Default)]
pub struct Stores {
    by_bucket: BTreeMap<String, Arc<dyn ObjectStore>>,
    /// Whether the environment or profile gave keys (else the instance
    /// metadata service is asked, and its refusal needs saying so).
    keys: bool,
}

impl Stores {
    pub fn new() -> Stores {
        Stores::default()
    }

    /// The client for `bucket`.
    pub fn store(&mut self, bucket: &str) -> Result<Arc<dyn ObjectStore>> {
        if let Some(store) = self.by_bucket.get(bucket) {
            return Ok(store.clone());
        }
        let (builder, keys) = profile::apply(AmazonS3Builder::from_env())?;
        self.keys = keys;
        let store: Arc<dyn ObjectStore> = Arc::new(
            builder
                .with_bucket_name(bucket)
                // A few quick retries, not object_store's default of ten
                // over three minutes: an unreachable store is one line
                // within seconds, never what looks like a hang.
                .with_retry(RetryConfig {
                    backoff: BackoffConfig::default(),
                    max_retries: 3,
                    retry_timeout: Duration::from_secs(15),
                })
                // A key, not `with_client_options`, which would replace
                // the options the environment set (AWS_ALLOW_HTTP...).
                .with_config(
                    AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
                    "5s",
                )
                .build()
                .map_err(|e| anyhow!("s3://{bucket}: {}", short(&e)))?,
        );
        self.by_bucket.insert(bucket.to_string(), store.clone());
        Ok(store)
    }

    /// Each bucket's root URL and client, to register in a DataFusion
    /// session (`SessionContext::register_object_store`).
    pub fn registered(&self) -> impl Iterator<Item = (Url, Arc<dyn ObjectStore>)> + '_ {
        self.by_bucket.iter().map(|(bucket, store)| {
            let url = ObjectUrl {
                bucket: bucket.clone(),
                key: String::new(),
            };
            (url.bucket_url(), store.clone())
        })
    }

    /// The captures `input` names, checked: `s3://BUCKET/KEY` is that
    /// object; `s3://BUCKET/PREFIX/` (or a key that is no object but a
    /// "directory") every `*.parquet` object under the prefix, by key, as
    /// a local directory gives its files.
    pub async fn captures(&mut self, input: &str) -> Result<Vec<CaptureInfo>> {
        let found = self.captures_of(input).await;
        found.map_err(|e| self.without_keys(e))
    }

    /// An error, with a word on where the keys came from when there were
    /// none to send.
    fn without_keys(&self, e: anyhow::Error) -> anyhow::Error {
        if self.keys || !e.to_string().contains("access denied") {
            return e;
        }
        anyhow!(
            "{e}; no AWS keys in the environment (AWS_ACCESS_KEY_ID...) or an AWS profile, so these were the instance metadata service's"
        )
    }

    async fn captures_of(&mut self, input: &str) -> Result<Vec<CaptureInfo>> {
        let url = ObjectUrl::parse(input)?;
        let store = self.store(&url.bucket)?;
        let objects = if url.is_prefix() {
            list(&store, &url, input).await?
        } else {
            match store.head(&Key::from(url.key.as_str())).await {
                Ok(meta) => vec![meta],
                Err(object_store::Error::NotFound { .. }) => {
                    let dir = ObjectUrl {
                        key: format!("{}/", url.key),
                        ..url.clone()
                    };
                    let found = list(&store, &dir, input).await;
                    match found {
                        Ok(found) => found,
                        Err(_) => bail!("{input}: no such object"),
                    }
                }
                Err(e) => return Err(store_error(input, &url, e)),
            }
        };
        let mut out = Vec::with_capacity(objects.len());
        for meta in objects {
            let shown = url.of_key(meta.location.as_ref());
            out.push(open(&store, &meta, shown).await?);
        }
        Ok(out)
    }

    /// Puts the capture at `file` (whose footer `info` is) under `to`
    /// (`s3://BUCKET/PREFIX/`) as `PREFIX/HOST/START.parquet`, START the
    /// recording's start (`20261207T215733Z`), so a fleet's captures sort
    /// by host, then time. An object already there is kept unless `force`.
    /// Large files go up in parts (object_store's multipart writer).
    /// Returns the object's URL.
    pub async fn upload(
        &mut self,
        file: &Path,
        info: &CaptureInfo,
        to: &str,
        force: bool,
    ) -> Result<String> {
        let put = self.put_capture(file, info, to, force).await;
        put.map_err(|e| self.without_keys(e))
    }

    async fn put_capture(
        &mut self,
        file: &Path,
        info: &CaptureInfo,
        to: &str,
        force: bool,
    ) -> Result<String> {
        let url = ObjectUrl::parse(to)?;
        if !url.is_prefix() {
            bail!("{to}: end the destination with / (captures go under it as HOST/START.parquet)");
        }
        let key = format!("{}{}", url.key, object_name(info));
        let shown = url.of_key(&key);
        let store = self.store(&url.bucket)?;
        let key = Key::from(key.as_str());
        match store.head(&key).await {
            Ok(_) if !force => bail!("{shown}: already exists (--force replaces it)"),
            Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(store_error(&shown, &url, e)),
        }
        let mut reader = tokio::fs::File::open(file)
            .await
            .with_context(|| format!("{}", file.display()))?;
        let mut writer = BufWriter::new(store, key);
        let copied = tokio::io::copy(&mut reader, &mut writer).await;
        let closed = match copied {
            Ok(_) => writer.shutdown().await,
            Err(e) => Err(e),
        };
        if let Err(e) = closed {
            // A multipart upload left open costs storage until aborted.
            let _ = writer.abort().await;
            let e = match e.downcast::<object_store::Error>() {
                Ok(e) => store_error(&shown, &url, e),
                Err(e) => anyhow!("{shown}: {e}"),
            };
            return Err(e);
        }
        Ok(shown)
    }
}

/// `HOST/START.parquet` for a capture (see [`Stores::upload`]).
pub fn object_name(info: &CaptureInfo) -> String {
    let start = std::time::UNIX_EPOCH
        + Duration::from_nanos(u64::try_from(info.meta.start_ns).unwrap_or(0));
    let stamp: String = humantime::format_rfc3339_seconds(start)
        .to_string()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    // A host name is the recorder's (one path segment; a `/` in it would
    // make another level).
    let host = info.meta.host.replace('/', "_");
    format!("{host}/{stamp}.parquet")
}

/// The `*.parquet` objects under `url`'s prefix, by key; none is an error.
async fn list(
    store: &Arc<dyn ObjectStore>,
    url: &ObjectUrl,
    input: &str,
) -> Result<Vec<ObjectMeta>> {
    let prefix = Key::from(url.key.as_str());
    let prefix = (!url.key.is_empty()).then_some(&prefix);
    let mut found: Vec<ObjectMeta> = store
        .list(prefix)
        .try_filter(|m| futures::future::ready(m.location.as_ref().ends_with(".parquet")))
        .try_collect()
        .await
        .map_err(|e| store_error(input, url, e))?;
    if found.is_empty() {
        bail!("{input}: no *.parquet capture under this prefix");
    }
    found.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(found)
}

/// The footer of the object `meta`, checked as a local capture's.
async fn open(
    store: &Arc<dyn ObjectStore>,
    meta: &ObjectMeta,
    shown: String,
) -> Result<CaptureInfo> {
    let size = meta.size;
    let url = ObjectUrl::parse(&shown)?;
    let location = Location::Object(shown.clone());
    if size < 8 {
        // Too short to hold Parquet's magic and footer length.
        return CaptureInfo::from_tail(location, size, bytes::Bytes::new());
    }
    let fetch = |n: u64| {
        let store = store.clone();
        let key = meta.location.clone();
        async move { store.get_range(&key, size - n..size).await }
    };
    let mut tail = fetch(size.min(FIRST_TAIL))
        .await
        .map_err(|e| store_error(&shown, &url, e))?;
    let need = match CaptureInfo::footer_len(&tail, size) {
        Ok(need) => need,
        Err(e) => {
            // Parquet's magic at the start but not at the end: a file cut
            // short (a recorder killed mid-flush, an upload cut off), as
            // `CaptureInfo::open` tells a local one.
            let head = store.get_range(&meta.location, 0..4).await;
            if head.is_ok_and(|h| h.as_ref() == b"PAR1") {
                bail!(
                    "{shown}: damaged Parquet file (no valid footer: it does not end with Parquet's magic)"
                );
            }
            bail!("{shown}: {e}");
        }
    };
    if need > tail.len() as u64 {
        tail = fetch(need)
            .await
            .map_err(|e| store_error(&shown, &url, e))?;
    }
    CaptureInfo::from_tail(location, size, tail)
}

/// A store's refusal as one line that starts with what was asked for.
pub fn store_error(input: &str, url: &ObjectUrl, e: object_store::Error) -> anyhow::Error {
    let text = short(&e);
    if text.contains("NoSuchBucket") {
        return anyhow!("{input}: no such bucket {:?}", url.bucket);
    }
    // "... Server returned non-2xx status code: 403 Forbidden: CODE: MESSAGE"
    let status = text.split_once("status code: ").map(|(_, s)| s);
    let denied = status.is_some_and(|s| s.starts_with("401") || s.starts_with("403"));
    match e {
        object_store::Error::NotFound { .. } => anyhow!("{input}: no such object"),
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => {
            anyhow!("{input}: access denied ({})", status.unwrap_or(&text))
        }
        _ if denied => anyhow!("{input}: access denied ({})", status.unwrap_or(&text)),
        _ => anyhow!("{input}: {text}"),
    }
}

/// An object_store error without the XML body some stores append, on one
/// line: the status and the store's code and message are what tell.
fn short(e: &object_store::Error) -> String {
    let mut text = e.to_string().replace('\n', " ");
    // "<?xml ...><Error><Code>AccessDenied</Code><Message>...": keep the
    // code and the message.
    if let Some(at) = text.find("<?xml") {
        let xml = text[at..].to_string();
        let tag = |name: &str| {
            let open = format!("<{name}>");
            let from = xml.find(&open)? + open.len();
            let to = xml[from..].find('<')? + from;
            Some(xml[from..to].to_string())
        };
        text.truncate(at);
        let text = text.trim_end().trim_end_matches(':').to_string();
        return match (tag("Code"), tag("Message")) {
            (Some(code), Some(message)) => format!("{text}: {code}: {message}"),
            (Some(code), None) => format!("{text}: {code}"),
            _ => text,
        };
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_a_bucket_and_a_key_or_prefix() {
        let u = ObjectUrl::parse("s3://caps/fleet/host-a/x.parquet").unwrap();
        assert_eq!(
            (u.bucket.as_str(), u.key.as_str()),
            ("caps", "fleet/host-a/x.parquet")
        );
        assert!(!u.is_prefix());
        assert!(ObjectUrl::parse("s3://caps/fleet/").unwrap().is_prefix());
        assert!(ObjectUrl::parse("s3://caps").unwrap().is_prefix());
        assert_eq!(
            ObjectUrl::parse("s3://caps").unwrap().bucket_url().as_str(),
            "s3://caps"
        );
        let e = ObjectUrl::parse("s3:///x").unwrap_err().to_string();
        assert_eq!(e, "s3:///x: no bucket in the URL (s3://BUCKET/KEY)");
        assert!(is_object_url("s3://b/k") && !is_object_url("caps/s3://x"));
    }
}
