//! A per-workspace cache of parsed files, used on every proxied request. A hit is a
//! map lookup and an atomic load: no directory walk, no stat. File changes are noticed
//! with `notify`; where watching is impossible, a cheap signature of the relevant
//! directories is compared at most once per poll interval instead.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, UNIX_EPOCH};

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use super::agent_set::AgentSet;
use super::commands::CommandSet;
use super::diagnostic::Severity;
use super::discovery::{normalized, source_dirs, Roots, WorkspaceMap};
use super::settings::Settings;

/// Something a catalog loads per workspace.
pub trait Loadable: Send + Sync + 'static {
    /// The files and directories whose contents make up the value (they need not exist).
    fn watch_targets(workspace: &Path, roots: &Roots) -> Vec<PathBuf>;
    /// Reads the value; never fails (problems are diagnostics inside it).
    fn load(workspace: &Path, roots: &Roots) -> Self;
    /// Logs what the user must hear about a freshly read value (once per read).
    fn report(&self, _workspace: &Path) {}
}

impl Loadable for AgentSet {
    fn watch_targets(workspace: &Path, roots: &Roots) -> Vec<PathBuf> {
        source_dirs(workspace, roots, "agents")
            .into_iter()
            .map(|d| d.dir)
            .collect()
    }
    fn load(workspace: &Path, roots: &Roots) -> Self {
        AgentSet::load(workspace, roots)
    }
}

impl Loadable for CommandSet {
    fn watch_targets(workspace: &Path, roots: &Roots) -> Vec<PathBuf> {
        ["skills", "commands"]
            .into_iter()
            .flat_map(|kind| source_dirs(workspace, roots, kind))
            .map(|d| d.dir)
            .collect()
    }
    fn load(workspace: &Path, roots: &Roots) -> Self {
        CommandSet::load(workspace, roots)
    }
}

impl Loadable for Settings {
    fn watch_targets(workspace: &Path, roots: &Roots) -> Vec<PathBuf> {
        Settings::paths(workspace, roots)
    }
    fn load(workspace: &Path, roots: &Roots) -> Self {
        Settings::load(workspace, roots)
    }
    /// A settings file that cannot be read or parsed takes its hooks and status line
    /// with it: say so, rather than run without them in silence.
    fn report(&self, workspace: &Path) {
        for d in self
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
        {
            tracing::warn!(workspace = %workspace.display(), "settings: {d}");
        }
    }
}

/// How often an unwatched workspace may be checked for changes.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Cached values of type `T` per workspace directory.
pub struct Catalog<T: Loadable> {
    roots: Roots,
    entries: Mutex<WorkspaceMap<Entry<T>>>,
    hub: Option<Hub>,
    poll_interval: Duration,
}

struct Entry<T> {
    value: Arc<T>,
    state: Arc<WatchState>,
    last_check: Instant,
    signature: u64,
}

/// What the watcher thread knows about one workspace.
struct WatchState {
    targets: Vec<PathBuf>,
    stale: AtomicBool,
    /// Every target has a live watch; otherwise the signature is polled.
    watched: AtomicBool,
}

struct Hub {
    watcher: Mutex<RecommendedWatcher>,
    states: Arc<Mutex<Vec<Arc<WatchState>>>>,
}

impl<T: Loadable> Catalog<T> {
    /// A catalog that watches files; falls back to polling if no watcher can be made.
    pub fn new(roots: Roots) -> Self {
        let states: Arc<Mutex<Vec<Arc<WatchState>>>> = Arc::default();
        let handler_states = Arc::clone(&states);
        let hub = notify::recommended_watcher(move |event: notify::Result<Event>| {
            mark_stale(&lock(&handler_states), event.as_ref().ok());
        })
        .map_err(|e| tracing::warn!("file watching unavailable, polling instead: {e}"))
        .ok()
        .map(|watcher| Hub {
            watcher: Mutex::new(watcher),
            states,
        });
        Self {
            roots,
            entries: Mutex::default(),
            hub,
            poll_interval: DEFAULT_POLL_INTERVAL,
        }
    }

    /// A catalog that never watches and checks for changes at most every `interval`.
    pub fn polling(roots: Roots, interval: Duration) -> Self {
        Self {
            roots,
            entries: Mutex::default(),
            hub: None,
            poll_interval: interval,
        }
    }

    /// Whether changes are noticed through file watching.
    pub fn is_watching(&self) -> bool {
        self.hub.is_some()
    }

    /// The roots this catalog resolves user directories with.
    pub fn roots(&self) -> &Roots {
        &self.roots
    }

    /// The value for `workspace`, loaded on first use and after its files change.
    pub fn get(&self, workspace: &Path) -> Arc<T> {
        let key = normalized(workspace);
        let poll = {
            let entries = lock(&self.entries);
            match entries.get(key.as_os_str()) {
                Some(entry) if !entry.state.stale.load(Ordering::Acquire) => {
                    if entry.state.watched.load(Ordering::Acquire)
                        || entry.last_check.elapsed() < self.poll_interval
                    {
                        return Arc::clone(&entry.value);
                    }
                    Some((Arc::clone(&entry.state), entry.signature))
                }
                _ => None,
            }
        };
        if let Some((state, old)) = poll {
            // Outside the lock: the signature stats the workspace's directories.
            if signature(&state.targets) == old {
                let mut entries = lock(&self.entries);
                if let Some(entry) = entries.get_mut(key.as_os_str()) {
                    entry.last_check = Instant::now();
                    return Arc::clone(&entry.value);
                }
            }
        }
        self.reload(&key)
    }

    /// Forgets `workspace`, so the next `get` reads its files again.
    pub fn invalidate(&self, workspace: &Path) {
        if let Some(entry) = lock(&self.entries).get(normalized(workspace).as_os_str()) {
            entry.state.stale.store(true, Ordering::Release);
        }
    }

    fn reload(&self, key: &Path) -> Arc<T> {
        let existing = lock(&self.entries)
            .get(key.as_os_str())
            .map(|e| Arc::clone(&e.state));
        let state = existing.unwrap_or_else(|| {
            let state = Arc::new(WatchState {
                targets: T::watch_targets(key, &self.roots),
                stale: AtomicBool::new(false),
                watched: AtomicBool::new(false),
            });
            if let Some(hub) = &self.hub {
                lock(&hub.states).push(Arc::clone(&state));
            }
            state
        });
        // Order matters: clear the flag and watch before reading, so a change made
        // while loading marks the entry stale again instead of being lost.
        state.stale.store(false, Ordering::Release);
        let watched = self.watch(&state.targets);
        state.watched.store(watched, Ordering::Release);
        let signature = if watched {
            0
        } else {
            signature(&state.targets)
        };
        let value = Arc::new(T::load(key, &self.roots));
        value.report(key);
        lock(&self.entries).insert(
            key.as_os_str().to_owned(),
            Entry {
                value: Arc::clone(&value),
                state,
                last_check: Instant::now(),
                signature,
            },
        );
        value
    }

    /// Watches every target (or its nearest existing ancestor, to see it appear).
    /// Re-adding a watch is cheap and revives one lost when a directory was replaced.
    fn watch(&self, targets: &[PathBuf]) -> bool {
        let Some(hub) = &self.hub else {
            return false;
        };
        let mut watcher = lock(&hub.watcher);
        let mut all = true;
        for target in targets {
            let Some((path, mode)) = watch_point(target) else {
                all = false;
                continue;
            };
            if let Err(e) = watcher.watch(&path, mode) {
                tracing::debug!("cannot watch {}: {e}; polling it", path.display());
                all = false;
            }
        }
        all
    }
}

/// The three catalogs the proxy needs, sharing one set of roots.
pub struct ClaudeCatalogs {
    pub agents: Catalog<AgentSet>,
    pub commands: Catalog<CommandSet>,
    pub settings: Catalog<Settings>,
}

impl ClaudeCatalogs {
    /// Watching catalogs for `roots`.
    pub fn new(roots: Roots) -> Self {
        Self {
            agents: Catalog::new(roots.clone()),
            commands: Catalog::new(roots.clone()),
            settings: Catalog::new(roots),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves plain data behind; keep going.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Marks the workspaces an event concerns as stale (all of them when the event is an
/// error or asks for a rescan). Reads by our own loader (`open`, `close` without
/// write) are not changes.
fn mark_stale(states: &[Arc<WatchState>], event: Option<&Event>) {
    let Some(event) = event.filter(|e| !e.need_rescan()) else {
        states
            .iter()
            .for_each(|s| s.stale.store(true, Ordering::Release));
        return;
    };
    if let EventKind::Access(kind) = event.kind {
        if kind != AccessKind::Close(AccessMode::Write) {
            return;
        }
    }
    for state in states {
        if event.paths.iter().any(|p| concerns(p, &state.targets)) {
            state.stale.store(true, Ordering::Release);
        }
    }
}

/// A change at `path` matters for a target inside it (`.claude` created) or under it.
fn concerns(path: &Path, targets: &[PathBuf]) -> bool {
    targets
        .iter()
        .any(|t| path.starts_with(t) || t.starts_with(path))
}

/// Where to watch `target`: itself, recursively, when it is a directory; otherwise
/// its nearest existing ancestor, non-recursively.
fn watch_point(target: &Path) -> Option<(PathBuf, RecursiveMode)> {
    if target.is_dir() {
        return Some((target.to_path_buf(), RecursiveMode::Recursive));
    }
    target
        .ancestors()
        .skip(1)
        .find(|dir| dir.is_dir())
        .map(|dir| (dir.to_path_buf(), RecursiveMode::NonRecursive))
}

/// A hash of the names, sizes and modification times under the targets.
fn signature(targets: &[PathBuf]) -> u64 {
    let mut hasher = DefaultHasher::new();
    for target in targets {
        hash_tree(target, &mut hasher, 8);
    }
    hasher.finish()
}

fn hash_tree(path: &Path, hasher: &mut DefaultHasher, depth: usize) {
    path.hash(hasher);
    let Ok(meta) = std::fs::metadata(path) else {
        0u8.hash(hasher);
        return;
    };
    meta.len().hash(hasher);
    meta.is_dir().hash(hasher);
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .hash(hasher);
    if meta.is_dir() && depth > 0 {
        let mut children: Vec<PathBuf> = std::fs::read_dir(path)
            .map(|dir| dir.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        children.sort();
        for child in children {
            hash_tree(&child, hasher, depth - 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, ModifyKind};

    fn state(targets: &[&str]) -> Arc<WatchState> {
        Arc::new(WatchState {
            targets: targets.iter().map(PathBuf::from).collect(),
            stale: AtomicBool::new(false),
            watched: AtomicBool::new(true),
        })
    }

    fn event(kind: EventKind, path: &str) -> Event {
        Event::new(kind).add_path(PathBuf::from(path))
    }

    #[test]
    fn events_mark_only_the_workspaces_they_concern() {
        let a = state(&["/w/a/.claude/agents"]);
        let b = state(&["/w/b/.claude/agents"]);
        let states = [Arc::clone(&a), Arc::clone(&b)];
        mark_stale(
            &states,
            Some(&event(EventKind::Modify(ModifyKind::Any), "/w/a/README.md")),
        );
        assert!(!a.stale.load(Ordering::Acquire));
        mark_stale(
            &states,
            Some(&event(
                EventKind::Create(CreateKind::Folder),
                "/w/a/.claude",
            )),
        );
        assert!(a.stale.load(Ordering::Acquire));
        assert!(!b.stale.load(Ordering::Acquire));
        mark_stale(
            &states,
            Some(&event(
                EventKind::Modify(ModifyKind::Any),
                "/w/b/.claude/agents/x/y.md",
            )),
        );
        assert!(b.stale.load(Ordering::Acquire));
    }

    #[test]
    fn reads_are_not_changes_but_errors_are() {
        let a = state(&["/w/.claude/agents"]);
        let states = [Arc::clone(&a)];
        let open = EventKind::Access(AccessKind::Open(AccessMode::Any));
        mark_stale(&states, Some(&event(open, "/w/.claude/agents/x.md")));
        assert!(!a.stale.load(Ordering::Acquire));
        let written = EventKind::Access(AccessKind::Close(AccessMode::Write));
        mark_stale(&states, Some(&event(written, "/w/.claude/agents/x.md")));
        assert!(a.stale.load(Ordering::Acquire));
        a.stale.store(false, Ordering::Release);
        mark_stale(&states, None);
        assert!(a.stale.load(Ordering::Acquire));
    }

    #[test]
    fn watch_point_is_the_target_or_its_nearest_existing_ancestor() -> std::io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let agents = tmp.path().join(".claude/agents");
        assert_eq!(
            watch_point(&agents),
            Some((tmp.path().to_path_buf(), RecursiveMode::NonRecursive))
        );
        std::fs::create_dir_all(&agents)?;
        assert_eq!(
            watch_point(&agents),
            Some((agents.clone(), RecursiveMode::Recursive))
        );
        let file = tmp.path().join(".claude/settings.json");
        std::fs::write(&file, "{}")?;
        assert_eq!(
            watch_point(&file),
            Some((tmp.path().join(".claude"), RecursiveMode::NonRecursive))
        );
        Ok(())
    }

    #[test]
    fn signature_changes_with_content_size_and_new_files() -> std::io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join("agents");
        let targets = vec![dir.clone()];
        let empty = signature(&targets);
        std::fs::create_dir_all(&dir)?;
        let created = signature(&targets);
        assert_ne!(empty, created);
        std::fs::write(dir.join("a.md"), "one")?;
        let one = signature(&targets);
        assert_ne!(created, one);
        assert_eq!(one, signature(&targets));
        std::fs::write(dir.join("a.md"), "three")?;
        assert_ne!(one, signature(&targets));
        Ok(())
    }
}
