//! Where a scheduler or executor finds a capture's bytes: `file://` paths
//! on this machine, `s3://BUCKET` through sockrec-store's client for the
//! bucket (made once, from this process's AWS environment or profile, and
//! kept). Ballista's own registry (`ballista_core::object_store`) makes a
//! new S3 client for every file it opens and reads no profile.

use std::sync::{Arc, Mutex};

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use object_store::ObjectStore;
use url::Url;

#[derive(Default)]
pub struct CaptureStores {
    files: DefaultObjectStoreRegistry,
    buckets: Mutex<sockrec_store::Stores>,
}

impl std::fmt::Debug for CaptureStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureStores").finish_non_exhaustive()
    }
}

impl ObjectStoreRegistry for CaptureStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.files.register_store(url, store)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        if url.scheme() != "s3" {
            return self.files.get_store(url);
        }
        let bucket = url
            .host_str()
            .ok_or_else(|| DataFusionError::Configuration(format!("{url}: no bucket")))?;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        buckets
            .store(bucket)
            .map_err(|e| DataFusionError::External(e.into()))
    }
}
