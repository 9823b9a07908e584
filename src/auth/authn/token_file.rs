//! Static bearer tokens (`--token-auth-file`): upstream's CSV `token,user,uid,"group1,group2"`.
//! The file is re-read when its mtime/size changes (polled) and on SIGHUP; a broken new file
//! keeps the previous tokens. Tokens never appear in logs.

use crate::request::UserInfo;
use anyhow::anyhow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

/// Split one CSV record (Go encoding/csv with TrimLeadingSpace): commas separate fields, a field
/// may be double-quoted with `""` as an escaped quote.
fn csv_fields(line: &str) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err(anyhow!("extraneous or missing \" in quoted-field")),
                }
            }
            match chars.next() {
                None => {
                    out.push(field);
                    return Ok(out);
                }
                Some(',') => out.push(field),
                Some(_) => return Err(anyhow!("extraneous or missing \" in quoted-field")),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        out.push(field);
                        return Ok(out);
                    }
                    Some(',') => break,
                    Some('"') => return Err(anyhow!("bare \" in non-quoted-field")),
                    Some(c) => field.push(c),
                }
            }
            out.push(field);
        }
    }
}

/// Parse the whole file: token → user. Errors name the file and line, never the token.
pub fn parse(text: &str, path: &Path) -> anyhow::Result<HashMap<String, UserInfo>> {
    let mut tokens = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let rec = csv_fields(line).map_err(|e| anyhow!("{}: line {}: {e}", path.display(), i + 1))?;
        if rec.len() < 3 {
            return Err(anyhow!(
                "token file '{}' must have at least 3 columns (token, user name, user uid), found {}",
                path.display(),
                rec.len()
            ));
        }
        if rec[0].is_empty() {
            tracing::warn!("skipped line {} of {}, empty token", i + 1, path.display());
            continue;
        }
        let mut user = UserInfo::new(rec[1].clone(), Vec::new());
        user.uid = rec[2].clone();
        if let Some(g) = rec.get(3).filter(|g| !g.is_empty()) {
            user.groups = g.split(',').map(str::to_string).collect();
        }
        if tokens.insert(rec[0].clone(), user).is_some() {
            tracing::warn!(
                "duplicate token has been found in token file '{}', record number '{}'",
                path.display(),
                i + 1
            );
        }
    }
    Ok(tokens)
}

type Stamp = Option<(SystemTime, u64)>;

fn stamp(p: &Path) -> Stamp {
    let m = std::fs::metadata(p).ok()?;
    Some((m.modified().ok()?, m.len()))
}

pub struct TokenFile {
    path: PathBuf,
    tokens: RwLock<HashMap<String, UserInfo>>,
    seen: Mutex<Stamp>,
}

impl TokenFile {
    /// Load the file (an error at startup is fatal, as upstream).
    pub fn load(path: &Path) -> anyhow::Result<Arc<TokenFile>> {
        let seen = stamp(path);
        let text = std::fs::read_to_string(path).map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?;
        Ok(Arc::new(TokenFile {
            tokens: RwLock::new(parse(&text, path)?),
            path: path.to_path_buf(),
            seen: Mutex::new(seen),
        }))
    }

    pub fn lookup(&self, token: &str) -> Option<UserInfo> {
        self.tokens
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            .cloned()
    }

    /// Re-read the file now (SIGHUP). A file that does not parse keeps the current tokens.
    pub fn reload(&self) {
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = stamp(&self.path);
        let parsed = std::fs::read_to_string(&self.path)
            .map_err(anyhow::Error::from)
            .and_then(|t| parse(&t, &self.path));
        match parsed {
            Ok(t) => {
                let n = t.len();
                *self.tokens.write().unwrap_or_else(|e| e.into_inner()) = t;
                tracing::info!(file = %self.path.display(), tokens = n, "token file reloaded");
            }
            Err(e) => tracing::warn!(error = %e, "token file not reloaded; keeping the previous tokens"),
        }
    }

    fn reload_if_changed(&self) {
        let now = stamp(&self.path);
        if *self.seen.lock().unwrap_or_else(|e| e.into_inner()) != now {
            self.reload();
        }
    }

    /// Poll for changes every `every`, and reload on SIGHUP.
    pub fn spawn_watchers(self: &Arc<Self>, every: Duration) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                me.reload_if_changed();
            }
        });
        let me = self.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut hup) = signal(SignalKind::hangup()) else {
                return;
            };
            while hup.recv().await.is_some() {
                me.reload();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upstream_format() {
        let p = Path::new("t.csv");
        let t = parse(
            "abc,alice,1001,\"dev,ops\"\n\ndef, bob,1002\n ghi,carol,1003,\"a \"\"q\"\"\",extra\n",
            p,
        )
        .unwrap();
        assert_eq!(t["abc"].name, "alice");
        assert_eq!(t["abc"].uid, "1001");
        assert_eq!(t["abc"].groups, vec!["dev", "ops"]);
        assert_eq!(t["def"].name, "bob");
        assert!(t["def"].groups.is_empty());
        assert_eq!(t["ghi"].groups, vec!["a \"q\""]);
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn rejects_short_records_and_bad_quotes_and_skips_empty_tokens() {
        let p = Path::new("t.csv");
        let e = parse("abc,alice\n", p).unwrap_err().to_string();
        assert_eq!(
            e,
            "token file 't.csv' must have at least 3 columns (token, user name, user uid), found 2"
        );
        assert!(parse("abc,\"alice,1\n", p).is_err());
        assert!(parse("a\"bc,alice,1\n", p).is_err());
        assert!(parse(",alice,1\n", p).unwrap().is_empty());
        // Later duplicates win.
        assert_eq!(parse("t,a,1\nt,b,2\n", p).unwrap()["t"].name, "b");
    }

    #[test]
    fn reload_keeps_old_tokens_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tokens.csv");
        std::fs::write(&p, "one,alice,1\n").unwrap();
        let f = TokenFile::load(&p).unwrap();
        assert_eq!(f.lookup("one").unwrap().name, "alice");
        std::fs::write(&p, "two,bob,2\n").unwrap();
        f.reload();
        assert!(f.lookup("one").is_none());
        assert_eq!(f.lookup("two").unwrap().name, "bob");
        std::fs::write(&p, "broken\n").unwrap();
        f.reload();
        assert_eq!(f.lookup("two").unwrap().name, "bob");
    }
}
