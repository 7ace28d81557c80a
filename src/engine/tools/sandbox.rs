//! The OS sandbox subagent Bash runs under, matching the session's sandbox mode.
//!
//! | mode                 | writes                                     | network            |
//! |----------------------|--------------------------------------------|--------------------|
//! | `read-only`          | none (device nodes such as `/dev/null`)    | restricted         |
//! | `workspace-write`    | workspace roots, `/tmp`, `$TMPDIR`, `/dev/shm`, device nodes | restricted unless allowed |
//! | `danger-full-access` | unconfined                                 | unconfined         |
//!
//! Reads stay allowed everywhere, as in Codex's own sandbox. [`SandboxPolicy`] is the
//! pure part (which paths, network on or off); [`Prepared`] applies it on Linux:
//!
//! - Landlock for the filesystem; on ABI 4+ also TCP bind/connect when the network is
//!   restricted; on ABI 6+ signals to processes outside the sandbox (the proxy) and,
//!   without network, abstract Unix sockets.
//! - seccomp for the network: no sockets but `AF_UNIX`, no `connect`/`bind`/`listen`/
//!   `accept`, no `sendto` with an address; `io_uring` (which opens sockets without
//!   the `socket` call) and `AF_VSOCK` never.
//!
//! The proxy is multi-threaded, so between `fork` and `exec` the child may neither
//! allocate nor take a lock. The Landlock ruleset and the BPF program are therefore
//! built in the parent; the child only makes raw system calls: `setsid`,
//! `prctl(PR_SET_NO_NEW_PRIVS)`, `landlock_restrict_self` and `prctl(PR_SET_SECCOMP)`.
//!
//! Why not run commands through Codex's `codex sandbox` (`codex sandbox linux` before):
//! that is one more process per call (~77 ms for `true` with Codex 0.169 on the test
//! machine, against ~1.5 ms unsandboxed), depends on where Codex is installed and on
//! its version, and Tasks from `/api/tasks` or `codex-plus task` may have no Codex at
//! all. Here the ruleset
//! takes ~50 µs to build and the whole sandbox adds about 1 ms per call, most of it the
//! `fork` that a pre-exec step needs instead of `posix_spawn`
//! (`cargo bench --bench engine -- sandbox`).
//!
//! Where there is no such sandbox (not Linux, no Landlock, Landlock older than
//! [`MIN_LANDLOCK_ABI`], a failed set-up), Bash in a restricted mode is refused with a
//! [`refused`] error; it never runs unconfined.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use super::ToolError;
use crate::engine::access::SandboxMode;

/// Landlock ABI 3 (Linux 6.2) is the first that also controls truncation: below it,
/// `truncate(2)` could empty any file the user owns.
pub const MIN_LANDLOCK_ABI: u32 = 3;

/// Device nodes a shell writes to in every restricted mode.
pub const DEVICES: [&str; 4] = ["/dev/null", "/dev/zero", "/dev/full", "/dev/tty"];

/// What a command may do, computed from the session's sandbox mode. Pure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxPolicy {
    /// `danger-full-access`: no OS sandbox.
    Unconfined,
    Confined(Confinement),
}

/// The limits of a confined command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confinement {
    /// The mode it came from, for messages.
    pub mode: SandboxMode,
    /// Directories (with everything under them) it may change.
    pub writable: Vec<PathBuf>,
    /// Device nodes it may open for writing.
    pub devices: Vec<PathBuf>,
    /// Whether it may use the network.
    pub network: bool,
}

impl SandboxPolicy {
    /// The policy for `mode`: `roots` are the workspace roots, `temp_dirs` what
    /// [`temp_dirs`] gives; `network` is the session's network access.
    pub fn new(mode: SandboxMode, roots: &[PathBuf], temp_dirs: &[PathBuf], network: bool) -> Self {
        let writable: Vec<PathBuf> = match mode {
            SandboxMode::DangerFullAccess => return Self::Unconfined,
            SandboxMode::ReadOnly => Vec::new(),
            SandboxMode::WorkspaceWrite => {
                let mut dirs: Vec<PathBuf> = Vec::new();
                for dir in roots.iter().chain(temp_dirs) {
                    if dir.is_absolute() && !dirs.contains(dir) {
                        dirs.push(dir.clone());
                    }
                }
                dirs
            }
        };
        Self::Confined(Confinement {
            mode,
            writable,
            devices: DEVICES.iter().map(PathBuf::from).collect(),
            network,
        })
    }

    /// The policy for a tool call: the process's temp directories included.
    pub fn for_session(mode: SandboxMode, roots: &[PathBuf], network: bool) -> Self {
        Self::new(mode, roots, &temp_dirs(), network)
    }
}

/// The temp directories workspace-write lets commands write to.
pub fn temp_dirs() -> Vec<PathBuf> {
    temp_dirs_from(std::env::var_os("TMPDIR").as_deref())
}

/// `/tmp`, `$TMPDIR` and `/dev/shm`. A relative `$TMPDIR`, or `/`, which would make
/// everything writable, is ignored.
pub fn temp_dirs_from(tmpdir: Option<&OsStr>) -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("/tmp")];
    if let Some(dir) = tmpdir.map(Path::new) {
        let usable = dir.is_absolute() && dir.parent().is_some();
        if usable && !dirs.iter().any(|d| d == dir) {
            dirs.push(dir.to_path_buf());
        }
    }
    dirs.push(PathBuf::from("/dev/shm"));
    dirs
}

/// Why a confined command cannot run here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    #[error("this system has no sandbox the proxy can use (it needs Linux with Landlock)")]
    Unsupported,
    #[error(
        "the kernel does not offer Landlock (not built in, or not enabled with `lsm=` at boot)"
    )]
    NoLandlock,
    #[error("the kernel's Landlock is ABI {found}; restricting writes fully needs ABI {MIN_LANDLOCK_ABI} (Linux 6.2 or later)")]
    OldLandlock { found: u32 },
    #[error("setting up the sandbox failed: {0}")]
    Setup(String),
}

/// The error result the model gets when Bash cannot be confined as `mode` asks.
pub fn refused(mode: SandboxMode, error: &SandboxError) -> ToolError {
    ToolError::Denied(format!(
        "Bash cannot run in this session's {mode} sandbox: {error}. Commands are never run \
         unconfined, so use Read, Grep, Glob, Edit and Write instead. To run commands \
         without a sandbox, start the session with the danger-full-access sandbox (Codex: \
         --sandbox danger-full-access; /api/tasks and `codex-plus task`: sandbox \
         danger-full-access)."
    ))
}

/// The kernel's Landlock ABI when it is enough for the restricted modes; the same
/// check [`Prepared::new`] makes.
pub fn support() -> Result<u32, SandboxError> {
    imp::support()
}

pub use imp::Prepared;

#[cfg(target_os = "linux")]
mod imp {
    use std::collections::BTreeMap;
    use std::io;
    use std::os::fd::{AsRawFd, OwnedFd, RawFd};
    use std::path::Path;
    use std::sync::{Arc, OnceLock};

    use landlock::{
        Access, AccessFs, AccessNet, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset,
        RulesetAttr, RulesetCreatedAttr, Scope, ABI,
    };
    use seccompiler::{
        BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
        SeccompRule, TargetArch,
    };

    use super::{Confinement, SandboxError, MIN_LANDLOCK_ABI};

    /// The newest ABI this code was tested with: access rights added later are left
    /// unhandled rather than denied untested.
    const TESTED_ABI: ABI = ABI::V7;

    /// On x86_64, the x32 ABI's numbers for the same calls.
    #[cfg(target_arch = "x86_64")]
    const X32_SYSCALL_BIT: i64 = 0x4000_0000;

    /// A sandbox built in the parent, entered by the child between fork and exec.
    #[derive(Debug)]
    pub struct Prepared {
        ruleset: OwnedFd,
        filter: Arc<[libc::sock_filter]>,
        filter_len: u16,
    }

    impl Prepared {
        /// Builds the Landlock ruleset for `confinement` and picks its seccomp program.
        pub fn new(confinement: &Confinement) -> Result<Self, SandboxError> {
            let abi = landlock_abi(support()?);
            let filter = seccomp_program(confinement.network)?;
            let filter_len = u16::try_from(filter.len())
                .map_err(|_| SandboxError::Setup("the seccomp program is too long".into()))?;
            Ok(Self {
                ruleset: ruleset(confinement, abi)?,
                filter,
                filter_len,
            })
        }

        /// Makes `command` enter the sandbox before it execs, in a session of its own
        /// (no controlling terminal to inject input into; its id is its process group,
        /// so a timeout still kills everything it started).
        pub fn install(self: Arc<Self>, command: &mut tokio::process::Command) {
            let ruleset = self.ruleset.as_raw_fd();
            // SAFETY: the closure runs in the forked child; it neither allocates nor
            // locks (see `enter`), and `self`, moved in, keeps the fd and program alive.
            unsafe {
                command.pre_exec(move || enter(ruleset, &self.filter, self.filter_len));
            }
        }
    }

    /// Runs in the child after fork: raw system calls only.
    fn enter(ruleset: RawFd, filter: &[libc::sock_filter], len: u16) -> io::Result<()> {
        let fail = || Err(io::Error::last_os_error());
        let program = libc::sock_fprog {
            len,
            filter: filter.as_ptr().cast_mut(),
        };
        // SAFETY: plain system calls on a valid fd and on a program that lives in
        // `filter` for the duration of the call; the kernel copies it.
        unsafe {
            if libc::setsid() < 0 {
                return fail();
            }
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return fail();
            }
            if libc::syscall(libc::SYS_landlock_restrict_self, ruleset, 0) != 0 {
                return fail();
            }
            let mode = libc::c_ulong::from(libc::SECCOMP_MODE_FILTER);
            let program: *const libc::sock_fprog = &program;
            if libc::prctl(libc::PR_SET_SECCOMP, mode, program) != 0 {
                return fail();
            }
        }
        Ok(())
    }

    pub fn support() -> Result<u32, SandboxError> {
        static VERSION: OnceLock<libc::c_long> = OnceLock::new();
        let version = *VERSION.get_or_init(|| {
            // SAFETY: LANDLOCK_CREATE_RULESET_VERSION with no attribute only answers the ABI.
            unsafe {
                libc::syscall(
                    libc::SYS_landlock_create_ruleset,
                    std::ptr::null::<u8>(),
                    0usize,
                    1u32,
                )
            }
        });
        match u32::try_from(version) {
            Ok(0) | Err(_) => Err(SandboxError::NoLandlock),
            Ok(found) if found < MIN_LANDLOCK_ABI => Err(SandboxError::OldLandlock { found }),
            Ok(found) => Ok(found),
        }
    }

    fn landlock_abi(version: u32) -> ABI {
        match version {
            0 => ABI::Unsupported,
            1 => ABI::V1,
            2 => ABI::V2,
            3 => ABI::V3,
            4 => ABI::V4,
            5 => ABI::V5,
            6 => ABI::V6,
            _ => TESTED_ABI,
        }
    }

    fn setup(error: impl std::fmt::Display) -> SandboxError {
        SandboxError::Setup(error.to_string())
    }

    /// Reads everywhere, writes only under `confinement`'s paths; every right the ABI
    /// has is required (`HardRequirement`), so none is silently dropped.
    fn ruleset(confinement: &Confinement, abi: ABI) -> Result<OwnedFd, SandboxError> {
        let all = AccessFs::from_all(abi);
        let file = AccessFs::from_file(abi);
        let mut ruleset = Ruleset::default()
            .set_compatibility(CompatLevel::HardRequirement)
            .handle_access(all)
            .map_err(setup)?;
        if !confinement.network && abi >= ABI::V4 {
            ruleset = ruleset
                .handle_access(AccessNet::from_all(ABI::V4))
                .map_err(setup)?;
        }
        if abi >= ABI::V6 {
            let scopes = if confinement.network {
                Scope::Signal.into()
            } else {
                Scope::from_all(ABI::V6)
            };
            ruleset = ruleset.scope(scopes).map_err(setup)?;
        }
        let mut created = ruleset.create().map_err(setup)?;
        let root = PathFd::new("/").map_err(setup)?;
        created = created
            .add_rule(PathBeneath::new(root, AccessFs::from_read(abi)))
            .map_err(setup)?;
        let dirs = confinement.writable.iter().map(|p| (p, false));
        let devices = confinement.devices.iter().map(|p| (p, true));
        for (path, device) in dirs.chain(devices) {
            // A path that is missing or unopenable gets no rule: less access, never more.
            let Ok(meta) = std::fs::metadata(path) else {
                continue;
            };
            let access = if meta.is_dir() && !device { all } else { file };
            let Ok(fd) = PathFd::new(Path::new(path)) else {
                continue;
            };
            created = created
                .add_rule(PathBeneath::new(fd, access))
                .map_err(setup)?;
        }
        Option::<OwnedFd>::from(created)
            .ok_or_else(|| SandboxError::Setup("Landlock gave no ruleset".into()))
    }

    /// The program for `network`, compiled once per process.
    fn seccomp_program(network: bool) -> Result<Arc<[libc::sock_filter]>, SandboxError> {
        type Program = Result<Arc<[libc::sock_filter]>, SandboxError>;
        static OPEN: OnceLock<Program> = OnceLock::new();
        static CLOSED: OnceLock<Program> = OnceLock::new();
        let cell = if network { &OPEN } else { &CLOSED };
        cell.get_or_init(|| compile(network)).clone()
    }

    /// Denied calls return EPERM; everything else is allowed.
    fn compile(network: bool) -> Result<Arc<[libc::sock_filter]>, SandboxError> {
        let arg = |index: u8, op: SeccompCmpOp, value: u64| {
            let len = if index == 0 {
                SeccompCmpArgLen::Dword
            } else {
                SeccompCmpArgLen::Qword
            };
            SeccompCondition::new(index, len, op, value).map_err(setup)
        };
        let rule = |conditions| SeccompRule::new(conditions).map_err(setup);
        let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
        // An empty list denies the call whatever its arguments.
        for nr in [
            libc::SYS_io_uring_setup,
            libc::SYS_io_uring_enter,
            libc::SYS_io_uring_register,
        ] {
            rules.insert(nr, Vec::new());
        }
        let family = if network {
            rule(vec![arg(0, SeccompCmpOp::Eq, libc::AF_VSOCK as u64)?])?
        } else {
            rule(vec![arg(0, SeccompCmpOp::Ne, libc::AF_UNIX as u64)?])?
        };
        rules.insert(libc::SYS_socket, vec![family.clone()]);
        rules.insert(libc::SYS_socketpair, vec![family]);
        if !network {
            // Also Unix sockets by path or abstract name: a session bus or a Docker
            // socket would be a way out.
            for nr in [
                libc::SYS_connect,
                libc::SYS_bind,
                libc::SYS_listen,
                libc::SYS_accept,
                libc::SYS_accept4,
            ] {
                rules.insert(nr, Vec::new());
            }
            let addressed = rule(vec![arg(4, SeccompCmpOp::Ne, 0)?])?;
            rules.insert(libc::SYS_sendto, vec![addressed]);
        }
        #[cfg(target_arch = "x86_64")]
        {
            let x32: Vec<_> = rules
                .iter()
                .map(|(nr, r)| (nr | X32_SYSCALL_BIT, r.clone()))
                .collect();
            rules.extend(x32);
        }
        let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(setup)?;
        let filter = SeccompFilter::new(
            rules,
            SeccompAction::Allow,
            SeccompAction::Errno(libc::EPERM as u32),
            arch,
        )
        .map_err(setup)?;
        let program: BpfProgram = filter.try_into().map_err(setup)?;
        Ok(program
            .iter()
            .map(|i| libc::sock_filter {
                code: i.code,
                jt: i.jt,
                jf: i.jf,
                k: i.k,
            })
            .collect())
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::{Confinement, SandboxError};

    /// No sandbox outside Linux: [`Prepared::new`] always refuses.
    #[derive(Debug)]
    pub struct Prepared {
        _never: (),
    }

    impl Prepared {
        pub fn new(_: &Confinement) -> Result<Self, SandboxError> {
            Err(SandboxError::Unsupported)
        }

        pub fn install(self: std::sync::Arc<Self>, _: &mut tokio::process::Command) {}
    }

    pub fn support() -> Result<u32, SandboxError> {
        Err(SandboxError::Unsupported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(list: &[&str]) -> Vec<PathBuf> {
        list.iter().map(PathBuf::from).collect()
    }

    fn confined(policy: SandboxPolicy) -> Confinement {
        match policy {
            SandboxPolicy::Confined(c) => c,
            SandboxPolicy::Unconfined => panic!("expected a confined policy"),
        }
    }

    #[test]
    fn danger_full_access_is_unconfined() {
        let roots = paths(&["/w"]);
        for network in [false, true] {
            let policy = SandboxPolicy::new(
                SandboxMode::DangerFullAccess,
                &roots,
                &paths(&["/tmp"]),
                network,
            );
            assert_eq!(policy, SandboxPolicy::Unconfined);
        }
    }

    #[test]
    fn read_only_writes_nothing_but_device_nodes() {
        let c = confined(SandboxPolicy::new(
            SandboxMode::ReadOnly,
            &paths(&["/w", "/extra"]),
            &paths(&["/tmp", "/dev/shm"]),
            false,
        ));
        assert_eq!(c.mode, SandboxMode::ReadOnly);
        assert!(c.writable.is_empty(), "{:?}", c.writable);
        assert_eq!(
            c.devices,
            paths(&["/dev/null", "/dev/zero", "/dev/full", "/dev/tty"])
        );
        assert!(!c.network);
    }

    #[test]
    fn workspace_write_writes_the_roots_and_temp_dirs_once_each() {
        let c = confined(SandboxPolicy::new(
            SandboxMode::WorkspaceWrite,
            &paths(&["/w", "relative", "/extra", "/w"]),
            &paths(&["/tmp", "/var/tmp/me", "/dev/shm", "/extra"]),
            false,
        ));
        assert_eq!(
            c.writable,
            paths(&["/w", "/extra", "/tmp", "/var/tmp/me", "/dev/shm"])
        );
        assert_eq!(c.devices.len(), DEVICES.len());
        assert!(!c.network, "restricted unless the session allows it");
        let open = confined(SandboxPolicy::new(
            SandboxMode::WorkspaceWrite,
            &paths(&["/w"]),
            &[],
            true,
        ));
        assert!(open.network);
        assert_eq!(open.writable, paths(&["/w"]));
    }

    #[test]
    fn temp_dirs_take_an_absolute_tmpdir_other_than_the_root() {
        let tmp = |v: Option<&str>| temp_dirs_from(v.map(OsStr::new));
        assert_eq!(tmp(None), paths(&["/tmp", "/dev/shm"]));
        assert_eq!(
            tmp(Some("/run/user/1000/tmp")),
            paths(&["/tmp", "/run/user/1000/tmp", "/dev/shm"])
        );
        for ignored in ["/", "tmp", "", "/tmp"] {
            assert_eq!(
                tmp(Some(ignored)),
                paths(&["/tmp", "/dev/shm"]),
                "{ignored:?}"
            );
        }
    }

    #[test]
    fn the_refusal_says_why_and_what_to_do() {
        let text = refused(SandboxMode::WorkspaceWrite, &SandboxError::NoLandlock).to_string();
        assert!(text.starts_with("permission denied: Bash cannot run in this session's workspace-write sandbox: the kernel does not offer Landlock"), "{text}");
        assert!(text.contains("never run unconfined"), "{text}");
        assert!(text.contains("danger-full-access"), "{text}");
        let old = SandboxError::OldLandlock { found: 2 }.to_string();
        assert!(old.contains("ABI 2") && old.contains("ABI 3"), "{old}");
    }
}
