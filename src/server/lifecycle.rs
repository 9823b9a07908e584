//! Running as a service: logging setup (text/JSON, `--v`, `--log-file` with rotation), the pid
//! file, systemd `Type=notify` readiness (`READY=1` / `STOPPING=1` over `$NOTIFY_SOCKET`), and
//! the graceful shutdown sequence on SIGTERM/SIGINT (`--shutdown-delay-duration`).

use crate::config::ServeOptions;
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Keeps the background log writer alive; drop it last (it flushes the log file).
pub type LogGuard = Option<tracing_appender::non_blocking::WorkerGuard>;

/// The `capstan=<level>` default filter for a klog-style `--v`.
pub fn level_for(verbosity: u8) -> &'static str {
    match verbosity {
        0..=1 => "info",
        2..=4 => "debug",
        _ => "trace",
    }
}

/// Install the global tracing subscriber. `CAPSTAN_LOG` (an EnvFilter directive) overrides `--v`.
/// With `--log-file`, logs go to that file (rotated by `--log-file-rotation`, keeping
/// `--log-file-max-files`), and warnings and errors also to stderr.
pub fn init_logging(opts: &ServeOptions) -> anyhow::Result<LogGuard> {
    use std::io::IsTerminal;
    use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriterExt};

    let filter = tracing_subscriber::EnvFilter::try_from_env("CAPSTAN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("capstan={},warn", level_for(opts.verbosity))));
    let (writer, guard, ansi) = match &opts.log_file {
        None => (
            BoxMakeWriter::new(Watched(std::io::stderr)),
            None,
            std::io::stderr().is_terminal(),
        ),
        Some(path) => {
            let (dir, prefix) = split_log_path(path)?;
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("--log-file: cannot create directory {}", dir.display()))?;
            use tracing_appender::rolling::Rotation;
            let rotation = match opts.log_file_rotation.as_str() {
                "never" => Rotation::NEVER,
                "minutely" => Rotation::MINUTELY,
                "hourly" => Rotation::HOURLY,
                _ => Rotation::DAILY,
            };
            let mut builder = tracing_appender::rolling::Builder::new()
                .rotation(rotation)
                .filename_prefix(prefix);
            if opts.log_file_max_files > 0 {
                builder = builder.max_log_files(opts.log_file_max_files);
            }
            let appender = builder
                .build(&dir)
                .with_context(|| format!("--log-file: cannot open {}", path.display()))?;
            let (nb, guard) = tracing_appender::non_blocking(appender);
            let w = std::io::stderr.with_max_level(tracing::Level::WARN).and(nb);
            (BoxMakeWriter::new(Watched(w)), Some(guard), false)
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    // A subscriber may already be installed (tests): keep it.
    if opts.logging_format == "json" {
        let b = builder.json().with_filter_reloading();
        let handle = b.reload_handle();
        if b.try_init().is_ok() {
            let _ = LOG_RELOAD.set(Box::new(move |f| handle.reload(f).map_err(|e| e.to_string())));
        }
    } else {
        let b = builder.with_filter_reloading();
        let handle = b.reload_handle();
        if b.try_init().is_ok() {
            let _ = LOG_RELOAD.set(Box::new(move |f| handle.reload(f).map_err(|e| e.to_string())));
        }
    }
    Ok(guard)
}

/// Log writes in progress, for the `log` health check (upstream's `LogHealthz`): logging is
/// blocked when a write has not returned for [`LOG_BLOCKED_AFTER`] (a stderr pipe nobody reads,
/// a stuck disk), and every request that logs would hang behind it.
pub struct LogWatch {
    in_flight: std::sync::atomic::AtomicUsize,
    /// When the oldest write still in progress began (ms since the epoch; 0: none).
    since_ms: std::sync::atomic::AtomicI64,
}

/// Upstream fails `log` after two minutes without a completed flush.
pub const LOG_BLOCKED_AFTER: Duration = Duration::from_secs(120);

pub static LOG_WATCH: LogWatch = LogWatch::new();

impl LogWatch {
    pub const fn new() -> LogWatch {
        LogWatch {
            in_flight: std::sync::atomic::AtomicUsize::new(0),
            since_ms: std::sync::atomic::AtomicI64::new(0),
        }
    }

    fn begin(&self) -> LogWrite<'_> {
        if self.in_flight.fetch_add(1, Ordering::AcqRel) == 0 {
            self.since_ms.store(crate::util::unix_millis(), Ordering::Release);
        }
        LogWrite(self)
    }

    /// Ok, or "logging blocked" when a write has been in progress for longer than `limit`.
    pub fn check(&self, now_ms: i64, limit: Duration) -> Result<(), String> {
        let since = self.since_ms.load(Ordering::Acquire);
        if since != 0 && now_ms - since > limit.as_millis() as i64 {
            return Err("logging blocked".into());
        }
        Ok(())
    }
}

impl Default for LogWatch {
    fn default() -> Self {
        LogWatch::new()
    }
}

/// One log write in progress.
struct LogWrite<'a>(&'a LogWatch);

impl Drop for LogWrite<'_> {
    fn drop(&mut self) {
        // The last writer out clears the mark; otherwise the remaining ones restart it.
        let now = if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            0
        } else {
            crate::util::unix_millis()
        };
        self.0.since_ms.store(now, Ordering::Release);
    }
}

/// A log writer whose writes [`LOG_WATCH`] times.
struct Watched<M>(M);

impl<'a, M: tracing_subscriber::fmt::MakeWriter<'a>> tracing_subscriber::fmt::MakeWriter<'a> for Watched<M> {
    type Writer = WatchedWriter<M::Writer>;
    fn make_writer(&'a self) -> Self::Writer {
        WatchedWriter(self.0.make_writer())
    }
    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        WatchedWriter(self.0.make_writer_for(meta))
    }
}

struct WatchedWriter<W>(W);

impl<W: std::io::Write> std::io::Write for WatchedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _w = LOG_WATCH.begin();
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let _w = LOG_WATCH.begin();
        self.0.flush()
    }
}

type Reloader = Box<dyn Fn(tracing_subscriber::EnvFilter) -> Result<(), String> + Send + Sync>;
static LOG_RELOAD: std::sync::OnceLock<Reloader> = std::sync::OnceLock::new();

/// Change the log level at run time (SIGHUP after `--v` changed). `CAPSTAN_LOG` still wins.
pub fn set_verbosity(verbosity: u8) -> Result<(), String> {
    if std::env::var_os("CAPSTAN_LOG").is_some() {
        return Err("CAPSTAN_LOG is set and overrides --v".into());
    }
    let reload = LOG_RELOAD.get().ok_or("logging was not set up by capstan")?;
    reload(tracing_subscriber::EnvFilter::new(format!(
        "capstan={},warn",
        level_for(verbosity)
    )))
}

/// Settings applied on SIGHUP without a restart.
pub const RELOADABLE: &[&str] = &["logging.verbosity"];

/// Changed settings between two loads, as (applied on reload, restart required) config keys.
pub fn reload_changes(old: &ServeOptions, new: &ServeOptions) -> (Vec<String>, Vec<String>) {
    let mut keys: Vec<&String> = old.settings.keys().chain(new.settings.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut applied = Vec::new();
    let mut restart = Vec::new();
    for k in keys {
        if old.settings.get(k) == new.settings.get(k) {
            continue;
        }
        if RELOADABLE.contains(&k.as_str()) {
            applied.push(k.clone());
        } else {
            restart.push(k.clone());
        }
    }
    (applied, restart)
}

/// Something re-read on SIGHUP besides the config (audit policy, certificates): a name for the
/// log and a reload that reports whether anything changed.
pub type FileReloader = (&'static str, Box<dyn Fn() -> Result<bool, String> + Send + Sync>);

/// On SIGHUP, read the configuration again (same flags, current environment and files), apply
/// what can change safely (the log level), run `reloaders` (files that are also polled, re-read
/// at once) and name the changed settings that need a restart.
pub async fn reload_on_sighup(mut current: ServeOptions, reloaders: Vec<FileReloader>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot install the SIGHUP handler; configuration reload is off");
        return;
    };
    while hup.recv().await.is_some() {
        for (what, reload) in &reloaders {
            match reload() {
                Ok(true) => tracing::info!("SIGHUP: {what} reloaded"),
                Ok(false) => {}
                Err(e) => tracing::warn!("SIGHUP: {what} not reloaded, keeping the previous one: {e}"),
            }
        }
        let env: Vec<(String, String)> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let new = match crate::config::load(&current.args, &env, &current.default_config) {
            Ok((_, new)) => new,
            Err(e) => {
                tracing::error!("SIGHUP: configuration not reloaded, keeping the running one: {e}");
                continue;
            }
        };
        let (applied, restart) = reload_changes(&current, &new);
        for key in &applied {
            if key == "logging.verbosity" {
                match set_verbosity(new.verbosity) {
                    Ok(()) => current.verbosity = new.verbosity,
                    Err(e) => {
                        tracing::warn!("SIGHUP: log level not changed: {e}");
                        continue;
                    }
                }
            }
            if let Some(v) = new.settings.get(key) {
                current.settings.insert(key.clone(), v.clone());
            }
        }
        tracing::info!(applied = ?applied, "SIGHUP: configuration reloaded");
        if !restart.is_empty() {
            tracing::warn!("SIGHUP: restart required for changed settings: {}", restart.join(", "));
        }
    }
}

fn split_log_path(path: &Path) -> anyhow::Result<(PathBuf, String)> {
    let prefix = path
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty())
        .with_context(|| format!("--log-file={}: needs a file name", path.display()))?
        .to_string();
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    Ok((dir, prefix))
}

/// Send a state string to systemd (`READY=1`, `STOPPING=1`, `STATUS=…`) when `$NOTIFY_SOCKET` is
/// set. Returns whether a message was sent. Supports path and abstract (`@name`) sockets.
pub fn sd_notify(state: &str) -> std::io::Result<bool> {
    match std::env::var_os("NOTIFY_SOCKET") {
        Some(sock) if !sock.is_empty() => notify_socket(Path::new(&sock), state).map(|()| true),
        _ => Ok(false),
    }
}

/// Send one datagram to a notify socket.
pub fn notify_socket(socket: &Path, state: &str) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::UnixDatagram;
    let sock = UnixDatagram::unbound()?;
    let bytes = socket.as_os_str().as_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.send_to_addr(state.as_bytes(), &addr)?;
            return Ok(());
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = name;
            return Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "abstract NOTIFY_SOCKET needs Linux",
            ));
        }
    }
    sock.send_to(state.as_bytes(), socket)?;
    Ok(())
}

/// Tell systemd the server is ready.
pub fn notify_ready(status: &str) {
    let msg = format!("READY=1\nSTATUS={status}\nMAINPID={}", std::process::id());
    match sd_notify(&msg) {
        Ok(true) => tracing::debug!("sent READY=1 to systemd"),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "cannot notify systemd (NOTIFY_SOCKET) of readiness"),
    }
}

/// The pid file, removed again when dropped.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
}

impl PidFile {
    /// Write our pid to `path`. Fails if the file names another live process.
    pub fn create(path: &Path) -> anyhow::Result<PidFile> {
        let me = std::process::id();
        if let Ok(old) = std::fs::read_to_string(path) {
            if let Ok(pid) = old.trim().parse::<i32>() {
                // SAFETY: kill with signal 0 only checks that the process exists.
                let alive = pid > 0 && pid as u32 != me && unsafe { libc::kill(pid, 0) } == 0;
                if alive {
                    anyhow::bail!(
                        "--pid-file {}: process {pid} is still running; stop it or remove the file",
                        path.display()
                    );
                }
            }
        }
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("--pid-file: cannot create directory {}", dir.display()))?;
        }
        std::fs::write(path, format!("{me}\n"))
            .with_context(|| format!("--pid-file: cannot write {}", path.display()))?;
        Ok(PidFile {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// After `--shutdown-delay-duration`, how long in-flight requests may take to finish before the
/// remaining connections are closed (watches are ended at once).
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Wait for SIGTERM or SIGINT; returns its name.
pub async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (mut term, mut int) = match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(t), Ok(i)) => (t, i),
        _ => {
            tracing::warn!("cannot install signal handlers; shut down with SIGKILL");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

/// The shutdown sequence after a signal, as upstream: `/readyz` fails at once (`shutting_down`),
/// systemd hears `STOPPING=1`, and the server keeps serving for `delay` so load balancers can
/// drain it; a second signal cuts the delay short. The caller then stops the listeners, ends
/// the watches and waits up to [`DRAIN_TIMEOUT`] for in-flight requests.
pub async fn begin_shutdown(shutting_down: &AtomicBool, delay: Duration, signal: &str) {
    shutting_down.store(true, Ordering::Release);
    if let Err(e) = sd_notify("STOPPING=1") {
        tracing::warn!(error = %e, "cannot notify systemd (NOTIFY_SOCKET) of shutdown");
    }
    tracing::info!(signal, delay = ?delay, "shutting down: /readyz now fails");
    if delay.is_zero() {
        return;
    }
    tokio::select! {
        _ = tokio::time::sleep(delay) => {}
        s = wait_for_signal() => tracing::warn!(signal = s, "second signal: skipping the rest of --shutdown-delay-duration"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_datagram_reaches_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let server = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        notify_socket(&path, "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn notify_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("capstan-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = std::os::unix::net::UnixDatagram::bind_addr(&addr).unwrap();
        notify_socket(Path::new(&format!("@{name}")), "STOPPING=1").unwrap();
        let mut buf = [0u8; 64];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");
    }

    #[test]
    fn pid_file_written_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/capstan.pid");
        {
            let _p = PidFile::create(&path).unwrap();
            assert_eq!(
                std::fs::read_to_string(&path).unwrap(),
                format!("{}\n", std::process::id())
            );
        }
        assert!(!path.exists());
        // A stale pid file (no such process) is replaced.
        std::fs::write(&path, "999999999\n").unwrap();
        let _p = PidFile::create(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap().trim(),
            std::process::id().to_string()
        );
    }

    #[test]
    fn reload_splits_applied_from_restart_required() {
        let old = ServeOptions::default();
        let mut new = ServeOptions::default();
        new.settings.insert("logging.verbosity".into(), serde_json::json!(4));
        new.settings.insert("secure-port".into(), serde_json::json!(7443));
        new.settings
            .insert("audit.policy-file".into(), serde_json::json!("/p.yaml"));
        let (applied, restart) = reload_changes(&old, &new);
        assert_eq!(applied, vec!["logging.verbosity"]);
        assert_eq!(restart, vec!["audit.policy-file", "secure-port"]);
        assert_eq!(reload_changes(&old, &old), (vec![], vec![]));
    }

    #[test]
    fn a_log_write_that_does_not_return_fails_the_log_check() {
        use std::io::{Read, Write};
        use std::os::fd::FromRawFd;
        // A pipe nobody reads: the write blocks once the pipe buffer is full.
        let mut fds = [0; 2];
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let (mut rx, tx) = unsafe { (std::fs::File::from_raw_fd(fds[0]), std::fs::File::from_raw_fd(fds[1])) };
        let start = crate::util::unix_millis();
        assert!(LOG_WATCH.check(start, LOG_BLOCKED_AFTER).is_ok());
        let writer = std::thread::spawn(move || {
            let mut w = WatchedWriter(tx);
            w.write_all(&vec![b'x'; 1 << 20]).unwrap();
        });
        crate::testing::eventually("the log write to block", Duration::from_secs(10), || {
            LOG_WATCH
                .check(crate::util::unix_millis() + 121_000, LOG_BLOCKED_AFTER)
                .is_err()
        });
        assert_eq!(
            LOG_WATCH.check(crate::util::unix_millis() + 121_000, LOG_BLOCKED_AFTER),
            Err("logging blocked".into())
        );
        // Within the two minutes it still passes.
        assert!(LOG_WATCH.check(crate::util::unix_millis(), LOG_BLOCKED_AFTER).is_ok());
        // Drain the pipe: the write returns and the check passes again.
        let mut sink = Vec::new();
        rx.read_to_end(&mut sink).unwrap();
        writer.join().unwrap();
        assert_eq!(sink.len(), 1 << 20);
        assert!(LOG_WATCH
            .check(crate::util::unix_millis() + 121_000, LOG_BLOCKED_AFTER)
            .is_ok());
    }

    #[test]
    fn log_path_split() {
        let (d, p) = split_log_path(Path::new("/var/log/capstan/server.log")).unwrap();
        assert_eq!((d, p.as_str()), (PathBuf::from("/var/log/capstan"), "server.log"));
        let (d, _) = split_log_path(Path::new("server.log")).unwrap();
        assert_eq!(d, PathBuf::from("."));
    }

    #[tokio::test]
    async fn shutdown_sets_the_flag_and_waits_the_delay() {
        let flag = AtomicBool::new(false);
        let t = std::time::Instant::now();
        begin_shutdown(&flag, Duration::from_millis(200), "SIGTERM").await;
        assert!(flag.load(Ordering::Acquire));
        assert!(t.elapsed() >= Duration::from_millis(200));
    }
}
