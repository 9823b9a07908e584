//! The log backend: JSON lines to a file (or stdout) with lumberjack-style size rotation,
//! and the blocking / blocking-strict / batch delivery modes.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Where serialized events (one JSON object each, no newline) end up.
pub trait Sink: Send {
    fn write_batch(&mut self, lines: &[Vec<u8>]) -> io::Result<()>;
}

/// Rotation settings (`--audit-log-max*`, `--audit-log-compress`).
#[derive(Debug, Clone, Default)]
pub struct Rotation {
    /// MB; 0 = 100 MB (lumberjack's default).
    pub max_size_mb: u64,
    /// 0 = keep all.
    pub max_backups: usize,
    /// days; 0 = no age limit.
    pub max_age_days: u64,
    pub compress: bool,
}

/// `-` (stdout) or a rotating file.
pub enum LogFile {
    Stdout,
    File(RotatingFile),
}

impl LogFile {
    pub fn open(path: &Path, rot: Rotation) -> io::Result<LogFile> {
        if path == Path::new("-") {
            return Ok(LogFile::Stdout);
        }
        Ok(LogFile::File(RotatingFile::open(path, rot)?))
    }
}

impl Sink for LogFile {
    fn write_batch(&mut self, lines: &[Vec<u8>]) -> io::Result<()> {
        let mut buf = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for l in lines {
            buf.extend_from_slice(l);
            buf.push(b'\n');
        }
        match self {
            LogFile::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(&buf)?;
                out.flush()
            }
            LogFile::File(f) => f.write(&buf),
        }
    }
}

pub struct RotatingFile {
    path: PathBuf,
    rot: Rotation,
    file: File,
    size: u64,
    limit: u64,
}

fn open_append(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

impl RotatingFile {
    pub fn open(path: &Path, rot: Rotation) -> io::Result<RotatingFile> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                let mut b = std::fs::DirBuilder::new();
                b.recursive(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::DirBuilderExt;
                    b.mode(0o700);
                }
                b.create(dir)?;
            }
        }
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        let mb = if rot.max_size_mb == 0 { 100 } else { rot.max_size_mb };
        Ok(RotatingFile {
            path: path.to_path_buf(),
            rot,
            file,
            size,
            limit: mb.saturating_mul(1024 * 1024),
        })
    }

    #[cfg(test)]
    fn with_max_bytes(path: &Path, rot: Rotation, max: u64) -> io::Result<RotatingFile> {
        let mut f = RotatingFile::open(path, rot)?;
        f.limit = max;
        Ok(f)
    }

    pub fn write(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.size > 0 && self.size + buf.len() as u64 > self.limit {
            self.rotate()?;
        }
        self.file.write_all(buf)?;
        self.size += buf.len() as u64;
        Ok(())
    }

    /// `<stem>-<UTC 2006-01-02T15-04-05.000><.ext>` next to the log, as lumberjack names backups.
    fn backup_name(&self, t: SystemTime) -> PathBuf {
        let (stem, ext) = split_name(&self.path);
        let dir = self.path.parent().unwrap_or(Path::new(""));
        let mut t = t;
        loop {
            let ts = humantime::format_rfc3339_millis(t).to_string();
            let ts = ts.trim_end_matches('Z').replace(':', "-");
            let p = dir.join(format!("{stem}-{ts}{ext}"));
            let gz = PathBuf::from(format!("{}.gz", p.display()));
            if !p.exists() && !gz.exists() {
                return p;
            }
            t += Duration::from_millis(1);
        }
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        let backup = self.backup_name(SystemTime::now());
        std::fs::rename(&self.path, &backup)?;
        self.file = open_append(&self.path)?;
        self.size = 0;
        if self.rot.compress {
            if let Err(e) = gzip_file(&backup) {
                tracing::warn!("audit log: compressing {}: {e}", backup.display());
            }
        }
        self.cleanup();
        Ok(())
    }

    /// The rotated files, newest first.
    pub fn backups(&self) -> Vec<PathBuf> {
        let (stem, ext) = split_name(&self.path);
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let prefix = format!("{stem}-");
        let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let Some(n) = p.file_name().and_then(|n| n.to_str()) else {
                    return false;
                };
                let n = n.strip_suffix(".gz").unwrap_or(n);
                n.strip_prefix(&prefix)
                    .and_then(|r| r.strip_suffix(ext.as_str()))
                    .is_some_and(|ts| ts.len() == 23 && ts.as_bytes().get(10) == Some(&b'T'))
            })
            .collect();
        out.sort();
        out.reverse();
        out
    }

    fn cleanup(&self) {
        let backups = self.backups();
        let mut remove = Vec::new();
        let mut keep = Vec::new();
        let cutoff = (self.rot.max_age_days > 0)
            .then(|| SystemTime::now().checked_sub(Duration::from_secs(self.rot.max_age_days * 86400)))
            .flatten();
        for (i, b) in backups.into_iter().enumerate() {
            if self.rot.max_backups > 0 && i >= self.rot.max_backups {
                remove.push(b);
                continue;
            }
            if let Some(cut) = cutoff {
                let old = std::fs::metadata(&b).and_then(|m| m.modified()).is_ok_and(|m| m < cut);
                if old {
                    remove.push(b);
                    continue;
                }
            }
            keep.push(b);
        }
        for r in remove {
            let _ = std::fs::remove_file(r);
        }
    }
}

fn split_name(path: &Path) -> (String, String) {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("audit.log");
    match name.rfind('.') {
        Some(i) if i > 0 => (name[..i].to_string(), name[i..].to_string()),
        _ => (name.to_string(), String::new()),
    }
}

/// Replace `path` by `path.gz` (mode 0600).
fn gzip_file(path: &Path) -> io::Result<()> {
    let gz = PathBuf::from(format!("{}.gz", path.display()));
    let data = std::fs::read(path)?;
    let out = OpenOptions::new().create(true).truncate(true).write(true).open(&gz)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        out.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::default());
    enc.write_all(&data)?;
    enc.finish()?.sync_all()?;
    std::fs::remove_file(path)
}

/// Delivery mode (`--audit-log-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Blocking,
    BlockingStrict,
    Batch,
}

impl Mode {
    pub fn parse(s: &str) -> Result<Mode, String> {
        match s {
            "blocking" => Ok(Mode::Blocking),
            "blocking-strict" => Ok(Mode::BlockingStrict),
            "batch" => Ok(Mode::Batch),
            o => Err(format!(
                "invalid audit log mode {o:?}, allowed modes are \"batch\", \"blocking\", \"blocking-strict\""
            )),
        }
    }
}

#[derive(Debug, Clone)]
pub struct BatchConfig {
    pub buffer_size: usize,
    pub max_size: usize,
    pub max_wait: Duration,
    /// `(qps, burst)` when `--audit-log-batch-throttle-enable` is set.
    pub throttle: Option<(f64, u64)>,
    /// `--audit-<backend>-truncate-max-batch-size` when truncation is on: a batch is written in
    /// pieces of at most this many bytes.
    pub max_bytes: Option<usize>,
}

impl BatchConfig {
    /// Upstream's `validateBatchConfig` for plugin `log`.
    pub fn validate(&self) -> Result<(), String> {
        if self.buffer_size == 0 {
            return Err("invalid audit batch log buffer size 0, must be a positive number".into());
        }
        if self.max_size == 0 {
            return Err("invalid audit batch log max batch size 0, must be a positive number".into());
        }
        if let Some((qps, burst)) = self.throttle {
            if qps <= 0.0 {
                return Err(format!(
                    "invalid audit batch log throttle QPS {qps}, must be greater than 0"
                ));
            }
            if burst == 0 {
                return Err("invalid audit batch log throttle burst 0, must be greater than 0".into());
            }
        }
        Ok(())
    }
}

/// A token bucket: `burst` tokens, refilled at `qps`.
struct Bucket {
    qps: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// Block until a token is available, then take it.
    fn accept(&mut self) {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.qps).min(self.burst);
        self.at = now;
        if self.tokens < 1.0 {
            let wait = (1.0 - self.tokens) / self.qps;
            std::thread::sleep(Duration::from_secs_f64(wait.min(3600.0)));
            self.tokens = 1.0;
            self.at = Instant::now();
        }
        self.tokens -= 1.0;
    }
}

use crate::metrics::AuditCounters as Counters;

/// A backend in one of the three modes.
pub struct Backend {
    mode: Mode,
    plugin: &'static str,
    direct: Option<Mutex<Box<dyn Sink>>>,
    queue: Mutex<Option<SyncSender<Vec<u8>>>>,
    worker: Mutex<Option<std::thread::JoinHandle<()>>>,
    pub counters: Arc<Counters>,
    /// Whether [`Backend::process`] counts `apiserver_audit_event_total` (the first backend does).
    count_events: bool,
}

/// A sink that keeps nothing.
struct Discard;

impl Sink for Discard {
    fn write_batch(&mut self, _: &[Vec<u8>]) -> io::Result<()> {
        Ok(())
    }
}

impl Backend {
    pub fn new(sink: Box<dyn Sink>, mode: Mode, batch: BatchConfig, counters: Arc<Counters>) -> Backend {
        let _ = counters
            .plugin
            .set(if mode == Mode::Batch { "buffered" } else { "log" });
        if mode != Mode::Batch {
            return Backend {
                mode,
                plugin: "log",
                direct: Some(Mutex::new(sink)),
                queue: Mutex::new(None),
                worker: Mutex::new(None),
                counters,
                count_events: true,
            };
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(batch.buffer_size.max(1));
        let c = counters.clone();
        let worker = std::thread::Builder::new()
            .name("audit-batch".into())
            .spawn(move || batch_loop(rx, sink, batch, c))
            .ok();
        Backend {
            mode,
            plugin: "buffered",
            direct: None,
            queue: Mutex::new(Some(tx)),
            worker: Mutex::new(worker),
            counters,
            count_events: true,
        }
    }

    /// A blocking backend that drops everything (when only the webhook is configured); it
    /// still counts events.
    pub fn discard(counters: Arc<Counters>) -> Backend {
        let cfg = BatchConfig {
            buffer_size: 1,
            max_size: 1,
            max_wait: Duration::ZERO,
            throttle: None,
            max_bytes: None,
        };
        Backend::new(Box::new(Discard), Mode::Blocking, cfg, counters)
    }

    /// Do not count events here (a second backend for the same events).
    pub fn without_event_count(mut self) -> Backend {
        self.count_events = false;
        self
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn plugin(&self) -> &'static str {
        self.plugin
    }

    /// Hand one serialized event over. False when it was not stored (write error, or batch
    /// buffer full); the error counter has then been bumped. Never blocks in batch mode.
    pub fn process(&self, line: Vec<u8>) -> bool {
        if self.count_events {
            self.counters.events.fetch_add(1, Ordering::Relaxed);
        }
        let ok = if let Some(direct) = &self.direct {
            match direct.lock() {
                Ok(mut s) => match s.write_batch(std::slice::from_ref(&line)) {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::error!("Error in audit plugin 'log' affecting 1 audit events: {e}");
                        false
                    }
                },
                Err(_) => false,
            }
        } else {
            let q = self.queue.lock().ok().and_then(|q| q.clone());
            match q.map(|q| q.try_send(line)) {
                Some(Ok(())) => true,
                Some(Err(TrySendError::Full(_))) => {
                    tracing::error!(
                        "Error in audit plugin 'buffered' affecting 1 audit events: audit buffer queue blocked"
                    );
                    false
                }
                _ => false,
            }
        };
        if !ok {
            self.counters.errors.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    /// Count an event that was generated but could not be handed over (e.g. too large).
    pub fn drop_event(&self) {
        if self.count_events {
            self.counters.events.fetch_add(1, Ordering::Relaxed);
        }
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Stop accepting events and write out what is buffered.
    pub fn shutdown(&self) {
        if let Ok(mut q) = self.queue.lock() {
            q.take();
        }
        if let Some(w) = self.worker.lock().ok().and_then(|mut w| w.take()) {
            let _ = w.join();
        }
    }
}

fn batch_loop(rx: Receiver<Vec<u8>>, mut sink: Box<dyn Sink>, cfg: BatchConfig, counters: Arc<Counters>) {
    let max = cfg.max_size.max(1);
    let mut bucket = cfg.throttle.filter(|(q, _)| *q > 0.0).map(|(qps, burst)| Bucket {
        qps,
        burst: burst.max(1) as f64,
        tokens: burst.max(1) as f64,
        at: Instant::now(),
    });
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        let deadline = Instant::now() + cfg.max_wait;
        while batch.len() < max {
            // Take what is already queued; wait for more only up to max-wait.
            match rx.try_recv() {
                Ok(e) => {
                    batch.push(e);
                    continue;
                }
                Err(std::sync::mpsc::TryRecvError::Disconnected) => break,
                Err(std::sync::mpsc::TryRecvError::Empty) => {}
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            match rx.recv_timeout(deadline - now) {
                Ok(e) => batch.push(e),
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        if let Some(b) = bucket.as_mut() {
            b.accept();
        }
        for piece in split_by_bytes(&batch, cfg.max_bytes) {
            if let Err(e) = sink.write_batch(piece) {
                tracing::error!(
                    "Error in audit plugin 'buffered' affecting {} audit events: {e}",
                    piece.len()
                );
                counters.errors.fetch_add(piece.len() as u64, Ordering::Relaxed);
            }
        }
    }
}

/// Consecutive runs of `batch` whose sizes add up to at most `max` bytes (one event per run
/// at least; events were already truncated to fit).
fn split_by_bytes(batch: &[Vec<u8>], max: Option<usize>) -> Vec<&[Vec<u8>]> {
    let Some(max) = max else {
        return vec![batch];
    };
    let mut out = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, e) in batch.iter().enumerate() {
        if i > start && size + e.len() > max {
            out.push(&batch[start..i]);
            (start, size) = (i, 0);
        }
        size += e.len();
    }
    if start < batch.len() {
        out.push(&batch[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn rotation_keeps_maxbackup_and_compresses() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("logs").join("audit.log");
        let rot = Rotation {
            max_size_mb: 1,
            max_backups: 3,
            max_age_days: 0,
            compress: true,
        };
        let mut f = RotatingFile::with_max_bytes(&path, rot, 1000).expect("open");
        let line = vec![b'x'; 99];
        let mut lf_line = line.clone();
        lf_line.push(b'\n');
        for _ in 0..100 {
            f.write(&lf_line).expect("write");
        }
        // 100 lines of 100 bytes, 10 per file: the current file holds the last 10.
        assert_eq!(std::fs::metadata(&path).expect("meta").len(), 1000);
        let backups = f.backups();
        assert_eq!(backups.len(), 3, "{backups:?}");
        for b in &backups {
            let name = b.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            assert!(name.starts_with("audit-") && name.ends_with(".log.gz"), "{name}");
            let mut s = String::new();
            flate2::read::GzDecoder::new(File::open(b).expect("open gz"))
                .read_to_string(&mut s)
                .expect("gunzip");
            assert_eq!(s.len(), 1000);
            assert!(std::fs::metadata(b).expect("meta").len() < 1000);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            let mode = std::fs::metadata(path.parent().expect("dir"))
                .expect("meta")
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o700);
        }
    }

    #[test]
    fn rotation_without_compress_or_limit_keeps_all() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.log");
        let mut f = RotatingFile::with_max_bytes(&path, Rotation::default(), 10).expect("open");
        for _ in 0..5 {
            f.write(b"0123456789").expect("write");
        }
        let b = f.backups();
        assert_eq!(b.len(), 4);
        assert!(b.iter().all(|p| p.extension().and_then(|e| e.to_str()) == Some("log")));
    }

    /// A sink that holds its first write until released, and records everything.
    struct Gated {
        entered: std::sync::mpsc::Sender<()>,
        release: Arc<Mutex<Option<Receiver<()>>>>,
        got: Arc<Mutex<Vec<Vec<u8>>>>,
    }

    impl Sink for Gated {
        fn write_batch(&mut self, lines: &[Vec<u8>]) -> io::Result<()> {
            if let Some(r) = self.release.lock().ok().and_then(|mut r| r.take()) {
                let _ = self.entered.send(());
                let _ = r.recv();
            }
            if let Ok(mut g) = self.got.lock() {
                g.extend(lines.iter().cloned());
            }
            Ok(())
        }
    }

    type Gate = (Backend, Receiver<()>, SyncSender<()>, Arc<Mutex<Vec<Vec<u8>>>>);

    fn gated(buffer: usize) -> Gate {
        let (etx, erx) = std::sync::mpsc::channel();
        let (rtx, rrx) = std::sync::mpsc::sync_channel(1);
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = Gated {
            entered: etx,
            release: Arc::new(Mutex::new(Some(rrx))),
            got: got.clone(),
        };
        let cfg = BatchConfig {
            buffer_size: buffer,
            max_size: 400,
            max_wait: Duration::from_millis(20),
            throttle: None,
            max_bytes: None,
        };
        (
            Backend::new(Box::new(sink), Mode::Batch, cfg, Arc::default()),
            erx,
            rtx,
            got,
        )
    }

    #[test]
    fn batch_config_validation_and_throttle() {
        let ok = BatchConfig {
            buffer_size: 10000,
            max_size: 1,
            max_wait: Duration::ZERO,
            throttle: None,
            max_bytes: None,
        };
        assert_eq!(ok.validate(), Ok(()));
        let bad = BatchConfig {
            buffer_size: 0,
            ..ok.clone()
        };
        assert_eq!(
            bad.validate().unwrap_err(),
            "invalid audit batch log buffer size 0, must be a positive number"
        );
        let bad = BatchConfig {
            throttle: Some((0.0, 1)),
            ..ok.clone()
        };
        assert_eq!(
            bad.validate().unwrap_err(),
            "invalid audit batch log throttle QPS 0, must be greater than 0"
        );
        // 20 batches of one at 100 qps with burst 10: the last 10 wait ~0.1s in all.
        let mut b = Bucket {
            qps: 100.0,
            burst: 10.0,
            tokens: 10.0,
            at: Instant::now(),
        };
        let t = Instant::now();
        for _ in 0..10 {
            b.accept();
        }
        assert!(t.elapsed() < Duration::from_millis(50));
        for _ in 0..10 {
            b.accept();
        }
        assert!(t.elapsed() >= Duration::from_millis(90), "{:?}", t.elapsed());
    }

    #[test]
    fn batch_burst_loses_nothing_while_buffer_holds() {
        let (b, entered, release, got) = gated(10000);
        assert!(b.process(b"first".to_vec()));
        entered.recv().expect("worker writing");
        let started = Instant::now();
        for i in 0..5000 {
            assert!(b.process(format!("{{\"n\":{i}}}").into_bytes()));
        }
        // The writer is stuck, yet the burst never blocked.
        assert!(started.elapsed() < Duration::from_secs(2));
        release.send(()).expect("release");
        b.shutdown();
        let got = got.lock().expect("lock");
        assert_eq!(got.len(), 5001);
        assert_eq!(got[5000], b"{\"n\":4999}".to_vec());
        assert_eq!(b.counters.events.load(Ordering::Relaxed), 5001);
        assert_eq!(b.counters.errors.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn batch_full_buffer_drops_and_counts() {
        let (b, entered, release, got) = gated(1000);
        assert!(b.process(b"first".to_vec()));
        entered.recv().expect("worker writing");
        let accepted = (0..5000).filter(|i| b.process(format!("{i}").into_bytes())).count();
        assert_eq!(accepted, 1000);
        release.send(()).expect("release");
        b.shutdown();
        assert_eq!(got.lock().expect("lock").len(), 1001);
        assert_eq!(b.counters.events.load(Ordering::Relaxed), 5001);
        assert_eq!(b.counters.errors.load(Ordering::Relaxed), 4000);
        // After shutdown nothing is accepted, and that counts as an error too.
        assert!(!b.process(b"late".to_vec()));
    }

    #[test]
    fn batches_split_at_the_byte_limit() {
        let batch: Vec<Vec<u8>> = [40, 40, 30, 100, 10].iter().map(|n| vec![b'x'; *n]).collect();
        let sizes = |max| -> Vec<usize> { split_by_bytes(&batch, max).iter().map(|p| p.len()).collect() };
        assert_eq!(sizes(None), vec![5]);
        // 40+40 ≤ 100 and +30 would exceed; 30+100 and 100+10 exceed too.
        assert_eq!(sizes(Some(100)), vec![2, 1, 1, 1]);
        assert_eq!(sizes(Some(110)), vec![3, 2]);
        // An event larger than the limit still goes out alone.
        assert_eq!(sizes(Some(35)), vec![1, 1, 1, 1, 1]);
    }
}
