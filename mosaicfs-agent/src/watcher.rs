//! The filesystem watcher (plan 4.10, 11.4): `notify` events on every
//! directory of the watch paths, debounced per path, turned into
//! [`Change`]s for the crawler.
//!
//! - Each directory gets its own non-recursive watch, so the agent knows
//!   exactly which directories are watched; new and renamed directories are
//!   added as they appear.
//! - A path is reported once it has been quiet for `debounce` (500 ms).
//! - A rename inside the watch paths (inotify's paired `MOVED_FROM`/`MOVED_TO`)
//!   is one [`Change::Renamed`], so the crawler moves the document instead of
//!   deleting and recreating it.
//! - More than `storm_rate` events per second for `storm_secs` seconds is a
//!   storm: per-event work stops, and one full crawl runs once it calms down
//!   (or after [`STORM_MAX`]).
//! - When the kernel refuses more watches (`fs.inotify.max_user_watches`),
//!   the rest stay unwatched, counted in `agent_status`, and the periodic
//!   crawl covers them; a warning names the setting and the value to set.

use crate::crawler::Change;
use crate::status::StatusBoard;
use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind, RenameMode};
use notify::{RecursiveMode, Watcher as _};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The value `mosaicfs-agent init` and the warning recommend.
pub const RECOMMENDED_MAX_USER_WATCHES: u64 = 524_288;
/// Longest a storm may defer its full crawl.
pub const STORM_MAX: Duration = Duration::from_secs(60);
/// Queue between notify's thread and the debouncer.
const EVENT_QUEUE: usize = 65_536;
/// How often pending paths are checked.
const TICK: Duration = Duration::from_millis(100);

/// Tuning of the watcher; [`Default`] is the plan's.
#[derive(Debug, Clone)]
pub struct WatcherOptions {
    /// Quiet time before a path is reported.
    pub debounce: Duration,
    /// Events per second that count as a storm second.
    pub storm_rate: u64,
    /// Consecutive storm seconds before the watcher switches to a full crawl.
    pub storm_secs: u32,
    /// Pretend the kernel refuses watches beyond this many (tests of the
    /// inotify limit without changing the machine's sysctl).
    pub max_watches: Option<usize>,
}

impl Default for WatcherOptions {
    fn default() -> Self {
        WatcherOptions {
            debounce: Duration::from_millis(500),
            storm_rate: 1_000,
            storm_secs: 5,
            max_watches: None,
        }
    }
}

/// What the watcher asks of the crawl loop.
#[derive(Debug)]
pub enum WatchMsg {
    /// Apply these changes.
    Changes(Vec<Change>),
    /// Run one full crawl (after a storm or a kernel queue overflow).
    FullCrawl(&'static str),
}

/// Why the watcher could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the filesystem watcher: {0}")]
pub struct WatcherError(#[from] notify::Error);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pending {
    /// Created, modified, removed or moved away: the crawler looks at it.
    Touched,
    /// Renamed from this path.
    RenamedFrom(PathBuf),
}

/// The watch set: which directories are watched and which could not be.
struct Watches {
    watcher: notify::RecommendedWatcher,
    watched: HashSet<PathBuf>,
    unwatched: HashSet<PathBuf>,
    limit_hit: bool,
    cap: Option<usize>,
    kernel_limit: Option<u64>,
    near_limit_warned: bool,
    node_id: String,
}

impl Watches {
    /// Watches `dir` and every directory below it.
    fn add_tree(&mut self, dir: &Path) {
        let dirs = walkdir::WalkDir::new(dir)
            .follow_links(false)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_dir())
            .map(walkdir::DirEntry::into_path);
        for d in dirs {
            if self.watched.contains(&d) {
                continue;
            }
            if self.limit_hit {
                self.unwatched.insert(d);
                continue;
            }
            let refused = self.cap.is_some_and(|c| self.watched.len() >= c);
            let result = if refused {
                Err(notify::Error::new(notify::ErrorKind::MaxFilesWatch))
            } else {
                self.watcher.watch(&d, RecursiveMode::NonRecursive)
            };
            match result {
                Ok(()) => {
                    self.unwatched.remove(&d);
                    self.watched.insert(d);
                }
                Err(e) if is_limit(&e) => {
                    self.limit_hit = true;
                    tracing::warn!(node_id = %self.node_id, operation = "watch",
                        path = %d.display(), watched = self.watched.len(),
                        "the kernel refuses more inotify watches; directories beyond the limit \
                         are covered by the periodic crawl only. Raise fs.inotify.max_user_watches \
                         (sysctl -w fs.inotify.max_user_watches={RECOMMENDED_MAX_USER_WATCHES})");
                    self.unwatched.insert(d);
                }
                Err(e) => {
                    tracing::debug!(node_id = %self.node_id, operation = "watch",
                        path = %d.display(), error = %e, "cannot watch directory");
                }
            }
        }
        self.check_near_limit();
    }

    /// Forgets `dir` and everything below it (moved away or deleted).
    fn remove_tree(&mut self, dir: &Path) {
        let gone: Vec<PathBuf> = self
            .watched
            .iter()
            .filter(|p| p.starts_with(dir))
            .cloned()
            .collect();
        for p in gone {
            // The kernel drops the watch of a deleted directory by itself.
            let _ = self.watcher.unwatch(&p);
            self.watched.remove(&p);
        }
        self.unwatched.retain(|p| !p.starts_with(dir));
    }

    fn check_near_limit(&mut self) {
        let Some(limit) = self.kernel_limit else {
            return;
        };
        let used = self.watched.len() as u64;
        if !self.near_limit_warned && used * 10 >= limit * 9 {
            self.near_limit_warned = true;
            tracing::warn!(node_id = %self.node_id, operation = "watch", watched = used, limit,
                "this agent holds over 90% of fs.inotify.max_user_watches; raise it \
                 (sysctl -w fs.inotify.max_user_watches={RECOMMENDED_MAX_USER_WATCHES})");
        }
    }
}

fn is_limit(e: &notify::Error) -> bool {
    match &e.kind {
        notify::ErrorKind::MaxFilesWatch => true,
        notify::ErrorKind::Io(io) => io.raw_os_error() == Some(28), // ENOSPC
        _ => false,
    }
}

/// `/proc/sys/fs/inotify/max_user_watches`, where there is one.
pub fn kernel_watch_limit() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Storm detection over one-second buckets.
struct StormMeter {
    rate: u64,
    secs: u32,
    bucket_start: Instant,
    count: u64,
    hot: u32,
}

impl StormMeter {
    fn new(rate: u64, secs: u32, now: Instant) -> StormMeter {
        StormMeter {
            rate,
            secs,
            bucket_start: now,
            count: 0,
            hot: 0,
        }
    }

    /// Closes the buckets that ended before `now`.
    fn roll(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.bucket_start);
        if elapsed < Duration::from_secs(1) {
            return;
        }
        let whole = elapsed.as_secs();
        if self.count > self.rate && whole == 1 {
            self.hot += 1;
        } else {
            // A quiet second, or several seconds without events at all.
            self.hot = 0;
        }
        self.count = 0;
        self.bucket_start += Duration::from_secs(whole);
    }

    fn event(&mut self, now: Instant) {
        self.roll(now);
        self.count += 1;
    }

    fn storming(&self) -> bool {
        self.hot >= self.secs
    }
}

/// Starts watching `roots` and runs until cancelled, sending debounced
/// changes to `out`. Returns an error only when notify cannot start at all.
pub async fn run(
    node_id: String,
    roots: Vec<PathBuf>,
    options: WatcherOptions,
    out: mpsc::Sender<WatchMsg>,
    status: StatusBoard,
    cancel: CancellationToken,
) -> Result<(), WatcherError> {
    let (etx, mut erx) = mpsc::channel::<(Instant, notify::Result<notify::Event>)>(EVENT_QUEUE);
    let watcher = notify::recommended_watcher(move |ev| {
        // notify calls this on its own thread; blocking here lets the kernel
        // queue absorb bursts (and overflow into a rescan if it must).
        let _ = etx.blocking_send((Instant::now(), ev));
    })?;
    let mut watches = Watches {
        watcher,
        watched: HashSet::new(),
        unwatched: HashSet::new(),
        limit_hit: false,
        cap: options.max_watches,
        kernel_limit: kernel_watch_limit(),
        near_limit_warned: false,
        node_id: node_id.clone(),
    };
    let started = Instant::now();
    for root in &roots {
        if root.is_dir() {
            watches.add_tree(root);
        }
    }
    tracing::info!(
        node_id,
        operation = "watch",
        watched = watches.watched.len(),
        unwatched = watches.unwatched.len(),
        duration_ms = started.elapsed().as_millis() as u64,
        "watching the watch paths"
    );

    let mut pending: HashMap<PathBuf, (Pending, Instant, Instant)> = HashMap::new();
    let mut meter = StormMeter::new(options.storm_rate, options.storm_secs, Instant::now());
    let mut storm_since: Option<Instant> = None;
    let mut events_total: u64 = 0;
    let mut storms: u64 = 0;
    let mut report = true;
    let mut last_report = Instant::now();
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            ev = erx.recv() => {
                // The rate is measured at the time notify saw the event, not
                // when this loop got to it (it may have been busy sending).
                let Some((now, ev)) = ev else { return Ok(()) };
                events_total += 1;
                meter.event(now);
                match ev {
                    Ok(ev) => {
                        if ev.need_rescan() {
                            tracing::warn!(node_id, operation = "watch",
                                "the kernel's event queue overflowed; running a full crawl");
                            status.error("watcher", "warn", "inotify queue overflow; full crawl");
                            pending.clear();
                            let _ = out.send(WatchMsg::FullCrawl("queue overflow")).await;
                            continue;
                        }
                        track_directories(&mut watches, &ev, &mut report);
                        if storm_since.is_none() {
                            record(&mut pending, ev, now);
                        }
                    }
                    Err(e) => {
                        if is_limit(&e) {
                            watches.limit_hit = true;
                            report = true;
                        }
                        tracing::warn!(node_id, operation = "watch", error = %e, "watcher error");
                    }
                }
                if storm_since.is_none() && meter.storming() {
                    storms += 1;
                    storm_since = Some(now);
                    report = true;
                    tracing::warn!(node_id, operation = "watch", rate = options.storm_rate,
                        secs = options.storm_secs, dropped = pending.len(),
                        "event storm: per-event processing stops; one full crawl follows");
                    pending.clear();
                }
            }
            _ = tick.tick() => {
                let now = Instant::now();
                meter.roll(now);
                if let Some(since) = storm_since {
                    // A second at or under the rate has closed since the storm.
                    let calm = meter.hot == 0;
                    if calm || now.saturating_duration_since(since) >= STORM_MAX {
                        tracing::info!(node_id, operation = "watch",
                            duration_ms = now.saturating_duration_since(since).as_millis() as u64,
                            "event storm over; running one full crawl");
                        storm_since = if calm { None } else { Some(now) };
                        report = true;
                        if out.send(WatchMsg::FullCrawl("event storm")).await.is_err() {
                            return Ok(());
                        }
                    }
                    continue;
                }
                let ready = take_ready(&mut pending, now, options.debounce);
                if !ready.is_empty() && out.send(WatchMsg::Changes(ready)).await.is_err() {
                    return Ok(());
                }
                if report || last_report.elapsed() >= Duration::from_secs(60) {
                    report = false;
                    last_report = Instant::now();
                    let degraded = !watches.unwatched.is_empty();
                    let (state, detail) = if storm_since.is_some() {
                        ("degraded", Some("event storm: waiting to run a full crawl".to_string()))
                    } else if degraded {
                        ("degraded", Some(format!(
                            "{} directories unwatched (fs.inotify.max_user_watches reached); \
                             covered by the periodic crawl", watches.unwatched.len())))
                    } else {
                        ("ok", None)
                    };
                    status.set("watcher", state, detail, json!({
                        "watched_directories": watches.watched.len(),
                        "unwatched_directories": watches.unwatched.len(),
                        "events": events_total,
                        "storms": storms,
                        "max_user_watches": watches.kernel_limit,
                    }));
                }
            }
        }
    }
}

/// Adds watches for directories that appear and drops those that go.
fn track_directories(watches: &mut Watches, ev: &notify::Event, report: &mut bool) {
    let before = (watches.watched.len(), watches.unwatched.len());
    match ev.kind {
        EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(RenameMode::To)) => {
            for p in &ev.paths {
                if std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()) {
                    watches.add_tree(p);
                }
            }
        }
        EventKind::Modify(ModifyKind::Name(RenameMode::From)) | EventKind::Remove(_) => {
            for p in &ev.paths {
                watches.remove_tree(p);
            }
        }
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
            if let [from, to] = ev.paths.as_slice() {
                watches.remove_tree(from);
                if std::fs::symlink_metadata(to).is_ok_and(|m| m.is_dir()) {
                    watches.add_tree(to);
                }
            }
        }
        _ => {}
    }
    if before != (watches.watched.len(), watches.unwatched.len()) {
        *report = true;
    }
}

/// Records one event in the pending map.
fn record(
    pending: &mut HashMap<PathBuf, (Pending, Instant, Instant)>,
    ev: notify::Event,
    now: Instant,
) {
    fn touch(
        pending: &mut HashMap<PathBuf, (Pending, Instant, Instant)>,
        p: PathBuf,
        what: Option<Pending>,
        now: Instant,
    ) {
        let entry = pending
            .entry(p)
            .or_insert_with(|| (Pending::Touched, now, now));
        if let Some(w) = what {
            entry.0 = w;
        }
        entry.2 = now;
    }
    match ev.kind {
        // Opening or reading changes nothing we index.
        EventKind::Access(AccessKind::Open(_) | AccessKind::Close(AccessMode::Read))
        | EventKind::Access(AccessKind::Read) => {}
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
            let mut paths = ev.paths.into_iter();
            let (Some(from), Some(to)) = (paths.next(), paths.next()) else {
                return;
            };
            // A chain of renames (a → b → c) is one move from the first name.
            let origin = match pending.remove(&from) {
                Some((Pending::RenamedFrom(o), ..)) => o,
                _ => from,
            };
            touch(pending, to, Some(Pending::RenamedFrom(origin)), now);
        }
        _ => {
            for p in ev.paths {
                touch(pending, p, None, now);
            }
        }
    }
}

/// Pending paths quiet for `debounce` (or waiting for ten times that), as
/// changes; renames first, so a file created inside a just-renamed
/// directory is seen at its new path.
fn take_ready(
    pending: &mut HashMap<PathBuf, (Pending, Instant, Instant)>,
    now: Instant,
    debounce: Duration,
) -> Vec<Change> {
    let ready: Vec<PathBuf> = pending
        .iter()
        .filter(|(_, (_, first, last))| {
            now.saturating_duration_since(*last) >= debounce
                || now.saturating_duration_since(*first) >= debounce * 10
        })
        .map(|(p, _)| p.clone())
        .collect();
    let mut renames = Vec::new();
    let mut others = Vec::new();
    for p in ready {
        match pending.remove(&p) {
            Some((Pending::RenamedFrom(from), ..)) => renames.push(Change::Renamed { from, to: p }),
            Some((Pending::Touched, ..)) => others.push(Change::Changed(p)),
            None => {}
        }
    }
    renames.extend(others);
    renames
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::CreateKind;

    fn ev(kind: EventKind, paths: &[&str]) -> notify::Event {
        let mut e = notify::Event::new(kind);
        for p in paths {
            e = e.add_path(PathBuf::from(p));
        }
        e
    }

    fn name(mode: RenameMode) -> EventKind {
        EventKind::Modify(ModifyKind::Name(mode))
    }

    #[test]
    fn a_rename_pair_becomes_one_rename_and_chains_collapse() {
        let t0 = Instant::now();
        let mut p = HashMap::new();
        record(&mut p, ev(name(RenameMode::From), &["/w/a"]), t0);
        record(&mut p, ev(name(RenameMode::To), &["/w/b"]), t0);
        record(&mut p, ev(name(RenameMode::Both), &["/w/a", "/w/b"]), t0);
        record(&mut p, ev(name(RenameMode::From), &["/w/b"]), t0);
        record(&mut p, ev(name(RenameMode::To), &["/w/c"]), t0);
        record(&mut p, ev(name(RenameMode::Both), &["/w/b", "/w/c"]), t0);
        let mut changes = take_ready(
            &mut p,
            t0 + Duration::from_secs(1),
            Duration::from_millis(500),
        );
        changes.sort_by_key(|c| format!("{c:?}"));
        assert_eq!(
            changes,
            [Change::Renamed {
                from: "/w/a".into(),
                to: "/w/c".into()
            },]
        );
    }

    #[test]
    fn a_path_is_reported_once_it_has_been_quiet_for_the_debounce() {
        let t0 = Instant::now();
        let d = Duration::from_millis(500);
        let mut p = HashMap::new();
        record(
            &mut p,
            ev(EventKind::Create(CreateKind::File), &["/w/f"]),
            t0,
        );
        record(
            &mut p,
            ev(EventKind::Modify(ModifyKind::Any), &["/w/f"]),
            t0 + Duration::from_millis(400),
        );
        assert!(take_ready(&mut p, t0 + Duration::from_millis(800), d).is_empty());
        assert_eq!(
            take_ready(&mut p, t0 + Duration::from_millis(900), d),
            [Change::Changed("/w/f".into())]
        );
        record(
            &mut p,
            ev(
                EventKind::Access(AccessKind::Open(AccessMode::Any)),
                &["/w/g"],
            ),
            t0,
        );
        assert!(p.is_empty(), "opening a file is not a change");
    }

    #[test]
    fn a_storm_is_five_consecutive_seconds_over_the_rate() {
        let t0 = Instant::now();
        let mut m = StormMeter::new(1000, 5, t0);
        for s in 0..5u64 {
            for i in 0..1500u64 {
                m.event(t0 + Duration::from_secs(s) + Duration::from_micros(i * 600));
            }
            assert!(!m.storming(), "not yet at second {s}");
        }
        m.roll(t0 + Duration::from_secs(5));
        assert!(m.storming());
        // A quiet second ends it.
        m.roll(t0 + Duration::from_secs(7));
        assert!(!m.storming());
        // Fast but short bursts are not a storm.
        let mut m = StormMeter::new(1000, 5, t0);
        for s in 0..10u64 {
            let n = if s % 2 == 0 { 5000 } else { 10 };
            for i in 0..n {
                m.event(t0 + Duration::from_secs(s) + Duration::from_micros(i * 100));
            }
        }
        m.roll(t0 + Duration::from_secs(10));
        assert!(!m.storming());
    }
}
