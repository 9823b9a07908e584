//! The storage watch feed's own thread.
//!
//! A change reaches the watch caches through a chain of tasks: the etcd connection, the etcd
//! watch, transcoding, and the cache set's apply loop. On the request runtime every step of that
//! chain waits its turn behind the requests and responses in flight, so under load a write's
//! event reached the caches (and the writer's informer) hundreds of milliseconds after the
//! write's own answer. On a thread of its own the chain runs as the event arrives: the kernel
//! wakes one mostly idle thread ahead of the busy ones.

use tokio::runtime::{Builder, Handle, Runtime};

/// A one-thread runtime for the feed; its tasks stop when it is dropped.
pub struct FeedRuntime(Option<Runtime>);

impl FeedRuntime {
    pub fn start() -> std::io::Result<FeedRuntime> {
        let rt = Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("capstan-feed")
            .enable_all()
            .build()?;
        Ok(FeedRuntime(Some(rt)))
    }

    pub fn handle(&self) -> Handle {
        self.0.as_ref().expect("runtime is held until drop").handle().clone()
    }
}

/// Run `task` on `runtime` when there is one, else on the caller's runtime.
pub fn spawn_on<F>(runtime: Option<&Handle>, task: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    match runtime {
        Some(rt) => drop(rt.spawn(task)),
        None => drop(tokio::spawn(task)),
    }
}

impl Drop for FeedRuntime {
    fn drop(&mut self) {
        // Dropped from async code at shutdown, where a blocking drop would panic.
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::cache::{CacheOptions, CacheSet};
    use crate::storage::contract::{etcd_options, etcd_storage_tuned, sqlite, test_tuning};
    use crate::storage::etcd::EtcdTuning;
    use crate::storage::Storage;
    use crate::testing::TestEtcd;
    use bytes::Bytes;
    use std::future::Future;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    const VALUE: &[u8] = br#"{"metadata":{"name":"a","namespace":"ns"}}"#;

    /// Run `write` on a thread of its own and return what it returns, never yielding meanwhile.
    fn block_on_thread<F: Future<Output = i64> + Send + 'static>(write: F) -> i64 {
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(write)
        })
        .join()
        .unwrap()
    }

    /// A change made elsewhere reaches the caches while the runtime that started them never
    /// yields (a saturated request runtime, at its extreme): only the feed thread can bring it.
    async fn caches_follow_while_the_runtime_is_blocked<F>(storage: Arc<dyn Storage>, feed: &FeedRuntime, write: F)
    where
        F: Future<Output = i64> + Send + 'static,
    {
        let opts = CacheOptions {
            feed: Some(feed.handle()),
            ..CacheOptions::default()
        };
        let caches = CacheSet::start(storage.clone(), "/registry/", &["configmaps"], opts)
            .await
            .unwrap();
        // The feed's watch is open once a first change has arrived (opening it reads storage).
        let first = storage
            .create("/registry/configmaps/ns/first", Bytes::from_static(VALUE))
            .await
            .unwrap();
        assert!(caches.wait_for(first, Duration::from_secs(10)).await);
        let rev = block_on_thread(write);
        let deadline = Instant::now() + Duration::from_secs(10);
        while caches.revision() < rev {
            assert!(Instant::now() < deadline, "the caches never applied revision {rev}");
            std::thread::yield_now();
        }
        let cached = caches.cache("configmaps").get("/registry/configmaps/ns/a");
        assert_eq!(cached.map(|o| o.revision), Some(rev));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_embedded_store_feeds_the_caches_from_the_feed_thread() {
        let dir = tempfile::tempdir().unwrap();
        let feed = FeedRuntime::start().unwrap();
        let storage = sqlite(dir.path());
        let writer = storage.clone();
        let write = async move {
            let value = Bytes::from_static(VALUE);
            writer.create("/registry/configmaps/ns/a", value).await.unwrap()
        };
        caches_follow_while_the_runtime_is_blocked(storage, &feed, write).await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn etcd_feeds_the_caches_from_the_feed_thread() {
        let etcd = TestEtcd::start();
        let feed = FeedRuntime::start().unwrap();
        let tuning = EtcdTuning {
            watch_runtime: Some(feed.handle()),
            ..test_tuning()
        };
        let storage = etcd_storage_tuned(&etcd, &etcd_options(&etcd), tuning).await;
        // The storage's own requests run on the blocked runtime: write with a client of its own.
        let endpoint = etcd.endpoint();
        let write = async move {
            let mut client = etcd_client::Client::connect([endpoint], None).await.unwrap();
            let put = client.put("/registry/configmaps/ns/a", VALUE, None).await.unwrap();
            put.header().unwrap().revision()
        };
        caches_follow_while_the_runtime_is_blocked(storage, &feed, write).await;
    }
}
