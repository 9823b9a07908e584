//! Watching a configuration file for changes, as upstream's config controllers do for
//! `--authentication-config` and `--authorization-config` (fsnotify events plus a resync
//! tick): a short poll stands in for the events. Each changed content is handed over once; a
//! content whose check asked to be retried (an unreadable file, issuers not answering) is
//! offered again only after the resync period.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// How often the file is read (upstream reacts to fsnotify events at once).
pub const POLL: Duration = Duration::from_secs(2);
/// Upstream's resync tick: when a retried content is checked again.
pub const RESYNC: Duration = Duration::from_secs(60);

/// What the check of one content decided.
pub enum Outcome {
    /// Applied or rejected: not offered again until the file changes.
    Settled,
    /// Offer the same content again after [`RESYNC`].
    RetryLater,
}

/// Spawn the watch on the current runtime (none: nothing is watched, as in unit tests).
/// `owner` keeps the watch alive; once it is dropped the task ends. `tracked` is the content
/// already in effect. `check` gets the owner and the file's content, or the read error.
pub fn spawn<T, F, Fut>(path: PathBuf, tracked: String, owner: Weak<T>, check: F)
where
    T: Send + Sync + 'static,
    F: FnMut(Arc<T>, std::io::Result<String>) -> Fut + Send + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    spawn_every(POLL, RESYNC, path, tracked, owner, check)
}

fn spawn_every<T, F, Fut>(
    poll: Duration,
    resync: Duration,
    path: PathBuf,
    tracked: String,
    owner: Weak<T>,
    mut check: F,
) where
    T: Send + Sync + 'static,
    F: FnMut(Arc<T>, std::io::Result<String>) -> Fut + Send + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    if tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    tokio::spawn(async move {
        let mut tracked = tracked;
        // The content (None: unreadable) whose retry waits for the resync tick.
        let mut retry: Option<(Option<String>, Instant)> = None;
        let mut tick = tokio::time::interval(poll);
        loop {
            tick.tick().await;
            let Some(owner) = owner.upgrade() else { return };
            let read = std::fs::read_to_string(&path);
            let content = read.as_ref().ok().cloned();
            if content.as_ref() == Some(&tracked) {
                retry = None;
                continue;
            }
            if retry
                .as_ref()
                .is_some_and(|(c, at)| *c == content && at.elapsed() < resync)
            {
                continue;
            }
            match check(owner, read).await {
                Outcome::Settled => {
                    retry = None;
                    if let Some(c) = content {
                        tracked = c;
                    }
                }
                Outcome::RetryLater => retry = Some((content, Instant::now())),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    const TICK: Duration = Duration::from_millis(10);

    #[tokio::test]
    async fn changes_are_offered_once_and_retries_wait_for_resync() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, "a").expect("write");
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let owner = Arc::new(());
        let s = seen.clone();
        let resync = Duration::from_millis(400);
        spawn_every(
            TICK,
            resync,
            path.clone(),
            "a".into(),
            Arc::downgrade(&owner),
            move |_, read| {
                let s = s.clone();
                async move {
                    let text = read.unwrap_or_else(|_| "<unreadable>".into());
                    s.lock().expect("lock").push(text.clone());
                    if text == "retry" {
                        Outcome::RetryLater
                    } else {
                        Outcome::Settled
                    }
                }
            },
        );
        let seen_now = || seen.lock().expect("lock").clone();
        // Wait (bounded) until `n` contents were offered.
        let until = |n: usize| {
            let seen = seen.clone();
            async move {
                for _ in 0..500 {
                    if seen.lock().expect("lock").len() >= n {
                        return;
                    }
                    tokio::time::sleep(TICK).await;
                }
            }
        };
        tokio::time::sleep(TICK * 5).await;
        assert!(seen_now().is_empty(), "the tracked content is not offered");
        std::fs::write(&path, "b").expect("write");
        until(1).await;
        std::fs::write(&path, "retry").expect("write");
        until(2).await;
        tokio::time::sleep(TICK * 5).await;
        assert_eq!(seen_now(), ["b", "retry"], "a retry waits for the resync");
        until(3).await;
        assert_eq!(seen_now(), ["b", "retry", "retry"], "retried after the resync");
        std::fs::remove_file(&path).expect("remove");
        until(4).await;
        assert_eq!(seen_now().last().map(String::as_str), Some("<unreadable>"));
        drop(owner);
        let n = seen_now().len();
        std::fs::write(&path, "c").expect("write");
        tokio::time::sleep(TICK * 10).await;
        assert_eq!(seen_now().len(), n, "the watch ends with its owner");
    }
}
