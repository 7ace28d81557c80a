//! The `codex-plus` command line.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use codex_plus::cli::task::{TaskOptions, TaskSpec};
use codex_plus::cli::{self, codex_config, commands, config_cmd, CliError};
use codex_plus::config::{Config, Overrides};
use codex_plus::engine::access::SandboxMode;

// Many small, short-lived allocations per event: jemalloc serves them at a third less CPU
// than glibc's malloc, with the same memory per stream.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "codex-plus",
    version,
    about = "A local proxy for the OpenAI Codex CLI that adds Claude Code's Task subagents, slash commands, hooks and status line"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Global {
    /// Address to listen on (HTTP and TLS on one port).
    #[arg(long, env = "CODEX_PLUS_LISTEN", global = true)]
    listen: Option<SocketAddr>,
    /// Upstream for /v1/... requests.
    #[arg(long, env = "CODEX_PLUS_OPENAI_UPSTREAM", global = true)]
    openai_upstream: Option<String>,
    /// Upstream for /backend-api/... requests.
    #[arg(long, env = "CODEX_PLUS_CHATGPT_UPSTREAM", global = true)]
    chatgpt_upstream: Option<String>,
    /// State directory (CA, ledger, pid and log files). Default: ~/.codex-plus.
    #[arg(long, env = "CODEX_PLUS_HOME", global = true)]
    home: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy in the foreground.
    Serve,
    /// Print the ~/.codex/config.toml lines that point Codex at the proxy.
    CodexConfig {
        /// Write them into the Codex config (other settings kept, old file backed up).
        #[arg(long)]
        install: bool,
        /// One login mode: to print (default: both), or to install (default: from
        /// ~/.codex/auth.json).
        #[arg(long, value_enum)]
        mode: Option<codex_config::Mode>,
        /// The Codex home directory (default: $CODEX_HOME or ~/.codex).
        #[arg(long, env = "CODEX_HOME")]
        codex_home: Option<PathBuf>,
    },
    /// The local certificate authority for ChatGPT-login mode.
    Ca {
        #[command(subcommand)]
        command: CaCommand,
    },
    /// Show a running proxy's status: a short summary, or its JSON.
    Status {
        /// Print the `/status` JSON.
        #[arg(long)]
        json: bool,
    },
    /// Slash commands: list them, or make them reachable from the Codex TUI.
    Commands {
        #[command(subcommand)]
        command: CommandsCommand,
    },
    /// Print the effective configuration (defaults < user file < env < flags) as TOML.
    Config {
        /// Print only this value, by dotted key (e.g. server.listen).
        #[arg(long, value_name = "KEY")]
        get: Option<String>,
    },
    /// Run Task subagents in this process (no proxy needed), showing their progress.
    Task(TaskArgs),
    /// What is wrong with this setup, and how to fix it (non-zero exit on a problem).
    Doctor {
        /// The workspace to look at (default: the current directory).
        #[arg(long)]
        cwd: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// The Codex home directory (default: $CODEX_HOME or ~/.codex).
        #[arg(long, env = "CODEX_HOME")]
        codex_home: Option<PathBuf>,
    },
    /// The running proxy's Tasks: list them, show one with its transcript, follow one
    /// live, or cancel one.
    Tasks {
        #[command(subcommand)]
        command: TasksCommand,
    },
    /// Copy the shipped agents and commands (/consensus, /review, /goal, ...) into this
    /// project, or with --user into your own directories; existing files are kept.
    Init {
        /// Into ~/.claude/agents and ~/.codexplus/commands instead of the project.
        #[arg(long)]
        user: bool,
        /// The project directory (default: the current one).
        #[arg(long)]
        cwd: Option<PathBuf>,
    },
    /// Plan a goal into subtasks, run them in dependency order and print the combined
    /// answer, in this process (no proxy needed).
    Goal(GoalArgs),
    /// Claude Code agent files.
    Agents {
        #[command(subcommand)]
        command: AgentsCommand,
    },
}

#[derive(Args)]
struct TaskArgs {
    /// The agent to run (e.g. Explore, general-purpose, or a .claude/agents name).
    #[arg(required_unless_present = "tasks")]
    subagent_type: Option<String>,
    /// What the subagent should do.
    #[arg(required_unless_present = "tasks")]
    prompt: Option<String>,
    /// Run several tasks in parallel: --task agent=prompt (repeat it).
    #[arg(long = "task", value_name = "AGENT=PROMPT", conflicts_with_all = ["subagent_type", "prompt", "description"])]
    tasks: Vec<String>,
    /// A 3-5 word description (default: the prompt's first words).
    #[arg(long)]
    description: Option<String>,
    /// Print only the result(s) as JSON.
    #[arg(long)]
    json: bool,
    /// The workspace directory (default: the current one).
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// The model, overriding the agent's (e.g. sonnet, gpt-5, anthropic:claude-sonnet-4-5).
    #[arg(long)]
    model: Option<String>,
    /// The sandbox, as in Codex: read-only (no writing tools), workspace-write (Bash
    /// writes only in the workspace and temp dirs, no network) or danger-full-access.
    #[arg(long, value_name = "MODE", default_value = "workspace-write")]
    sandbox: SandboxMode,
}

#[derive(Subcommand)]
enum TasksCommand {
    /// The latest tasks, newest first.
    List {
        /// How many (default 20).
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// One task: its status and its transcript.
    Show { id: String },
    /// Follow a task's progress until it ends.
    Tail { id: String },
    /// Cancel a running task (its output so far is kept).
    Cancel { id: String },
}

#[derive(Args)]
struct GoalArgs {
    /// What should be done.
    goal: String,
    /// The workspace directory: its agents, where the subtasks work (default: the
    /// current one).
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// A model for every agent of the goal.
    #[arg(long)]
    model: Option<String>,
    /// Subtasks running at once (default: [tasks] max_concurrent).
    #[arg(long)]
    max_parallel: Option<usize>,
    /// The subtasks' sandbox, as for `task`.
    #[arg(long, value_name = "MODE", default_value = "workspace-write")]
    sandbox: SandboxMode,
    /// Print only the goal, as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum AgentsCommand {
    /// List the agents a directory sees (project over user over built-in).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// The workspace directory (default: the current one).
        #[arg(long)]
        cwd: Option<PathBuf>,
    },
    /// Check agent files; exits non-zero when any agent is broken.
    Validate {
        /// Files or directories (default: every agent directory the workspace sees).
        paths: Vec<PathBuf>,
        /// The workspace directory (default: the current one).
        #[arg(long)]
        cwd: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum CommandsCommand {
    /// List the slash commands a workspace sees, and where each comes from.
    List {
        /// The workspace (default: the current directory).
        #[arg(long, value_name = "DIR")]
        cwd: Option<PathBuf>,
    },
    /// Write one Codex skill per command, so the TUI offers them as `$name args`.
    Sync {
        /// The workspace (default: the current directory).
        #[arg(long, value_name = "DIR")]
        cwd: Option<PathBuf>,
        /// The Codex home directory (default: $CODEX_HOME or ~/.codex).
        #[arg(long, env = "CODEX_HOME")]
        codex_home: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum CaCommand {
    /// Create the CA if needed and print its certificate's path (for CODEX_CA_CERTIFICATE).
    Path,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // One-shot commands print results; only warnings belong beside them.
    let quiet = matches!(
        cli.command,
        Command::Task(_)
            | Command::Goal(_)
            | Command::Agents { .. }
            | Command::Init { .. }
            | Command::Tasks { .. }
            | Command::Doctor { .. }
    );
    init_logging(if quiet { "warn" } else { "info" });
    let overrides = Overrides {
        home: cli.global.home,
        listen: cli.global.listen,
        openai_upstream: cli.global.openai_upstream,
        chatgpt_upstream: cli.global.chatgpt_upstream,
    };
    match run(cli.command, &overrides) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("codex-plus: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command, overrides: &Overrides) -> Result<ExitCode, CliError> {
    let config = Config::load(overrides)?;
    match command {
        Command::Serve => {
            runtime()?.block_on(cli::serve::run(config))?;
        }
        Command::CodexConfig {
            install,
            mode,
            codex_home,
        } => {
            let listen = config.server.listen;
            if install {
                let codex_home = codex_home
                    .or_else(|| dirs::home_dir().map(|h| h.join(".codex")))
                    .ok_or_else(|| CliError::Other("no home directory: set CODEX_HOME".into()))?;
                let mode = mode.unwrap_or_else(|| codex_config::detect_mode(&codex_home));
                let done = codex_config::install(&codex_home, mode, listen)?;
                if done.changed {
                    println!("wrote {} for {}", done.path.display(), mode.words());
                } else {
                    println!(
                        "{} already points Codex at codex-plus in {}; nothing changed",
                        done.path.display(),
                        mode.words()
                    );
                }
                if let Some(backup) = done.backup {
                    println!("previous file kept as {}", backup.display());
                }
                if mode == codex_config::Mode::Chatgpt {
                    let ca = codex_plus::ca::ensure(&config.home)?;
                    println!("export CODEX_CA_CERTIFICATE={}", ca.cert.display());
                }
            } else {
                // The path printed is a file that exists: made now when it is not yet.
                let ca = match mode {
                    Some(codex_config::Mode::Api) => codex_plus::ca::CaFiles::under(&config.home),
                    _ => codex_plus::ca::ensure(&config.home)?,
                };
                print!("{}", codex_config::render(mode, listen, &ca.cert));
            }
        }
        Command::Ca {
            command: CaCommand::Path,
        } => {
            let files = codex_plus::ca::ensure(&config.home)?;
            println!("{}", files.cert.display());
        }
        Command::Status { json } => {
            let remote = cli::remote::Remote::new(&dial(config.server.listen))?;
            // Fails (non-zero) unless a proxy answers: the Docker HEALTHCHECK relies on it.
            let status = runtime()?.block_on(remote.get("/status"))?;
            if json {
                println!("{status}");
            } else {
                print!("{}", cli::status::summary(&status));
            }
        }
        Command::Commands { command } => {
            let roots = codex_plus::claude::Roots::from_env();
            match command {
                CommandsCommand::List { cwd } => {
                    print!("{}", commands::list(&cwd_or_current(cwd)?, &roots))
                }
                CommandsCommand::Sync { cwd, codex_home } => {
                    let codex_home = codex_home
                        .or_else(|| dirs::home_dir().map(|h| h.join(".codex")))
                        .ok_or_else(|| {
                            CliError::Other("no home directory: set CODEX_HOME".into())
                        })?;
                    let report = commands::sync(&cwd_or_current(cwd)?, &roots, &codex_home)?;
                    print!("{}", report.render());
                }
            }
        }
        Command::Config { get } => match get {
            Some(key) => println!("{}", config_cmd::get(&config, &key)?),
            None => print!("{}", config_cmd::render(&config)?),
        },
        Command::Task(args) => {
            let tasks = if args.tasks.is_empty() {
                vec![TaskSpec {
                    agent: args.subagent_type,
                    prompt: args.prompt.unwrap_or_default(),
                }]
            } else {
                args.tasks
                    .iter()
                    .map(|t| TaskSpec::parse(t))
                    .collect::<Result<_, _>>()?
            };
            let options = TaskOptions {
                tasks,
                description: args.description,
                json: args.json,
                cwd: args.cwd,
                model: args.model,
                sandbox: args.sandbox,
            };
            let all_ok = runtime()?.block_on(cli::task::run(config, options))?;
            if !all_ok {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Doctor {
            cwd,
            json,
            codex_home,
        } => {
            let workspace = cli::task::absolute_dir(cwd.as_deref())?;
            let codex_home = codex_home
                .or_else(|| dirs::home_dir().map(|h| h.join(".codex")))
                .ok_or_else(|| CliError::Other("no home directory: set CODEX_HOME".into()))?;
            let dial = dial(config.server.listen);
            let remote = cli::remote::Remote::new(&dial)?;
            let ca = codex_plus::ca::CaFiles::under(&config.home).cert;
            let report =
                runtime()?.block_on(cli::doctor::run(&remote, dial, codex_home, ca, workspace));
            if json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.render());
            }
            if !report.is_ok() {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Tasks { command } => {
            let remote = cli::remote::Remote::new(&dial(config.server.listen))?;
            let runtime = runtime()?;
            match command {
                TasksCommand::List { limit } => {
                    let tasks =
                        runtime.block_on(remote.get(&format!("/api/tasks?limit={limit}")))?;
                    print!("{}", cli::tasks::list(&tasks));
                }
                TasksCommand::Show { id } => {
                    let task = runtime.block_on(remote.get(&format!("/api/tasks/{id}")))?;
                    let transcript =
                        runtime.block_on(remote.get(&format!("/api/tasks/{id}/transcript")))?;
                    print!("{}", cli::tasks::show(&task, &transcript));
                }
                TasksCommand::Tail { id } => {
                    let mut out = std::io::stdout();
                    runtime.block_on(cli::tasks::tail(&remote, &id, &mut out))?;
                }
                TasksCommand::Cancel { id } => {
                    runtime.block_on(remote.post(&format!("/api/tasks/{id}/cancel")))?;
                    println!("cancelled {id}; its output so far is kept");
                }
            }
        }
        Command::Init { user, cwd } => {
            let (agents, commands) = if user {
                let roots = codex_plus::claude::Roots::from_env();
                let none = || CliError::Other("no home directory: set HOME".into());
                (
                    roots.claude_dir().ok_or_else(none)?.join("agents"),
                    roots.codexplus_dir().ok_or_else(none)?.join("commands"),
                )
            } else {
                let dir = cli::task::absolute_dir(cwd.as_deref())?;
                (dir.join(".claude/agents"), dir.join(".codexplus/commands"))
            };
            let placed = cli::init::init(&agents, &commands)?;
            print!("{}", cli::init::report(&placed));
        }
        Command::Goal(args) => {
            let options = cli::goal::GoalOptions {
                goal: args.goal,
                cwd: args.cwd,
                model: args.model,
                max_parallel: args.max_parallel,
                sandbox: args.sandbox,
                json: args.json,
            };
            if !runtime()?.block_on(cli::goal::run(config, options))? {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Agents { command } => {
            let roots = codex_plus::claude::Roots::from_env();
            match command {
                AgentsCommand::List { json, cwd } => {
                    let cwd = cli::task::absolute_dir(cwd.as_deref())?;
                    print!("{}", cli::agents::list(&cwd, json, &roots));
                }
                AgentsCommand::Validate { paths, cwd } => {
                    let cwd = cli::task::absolute_dir(cwd.as_deref())?;
                    let (report, ok) = cli::agents::check(&paths, &cwd, &roots);
                    print!("{report}");
                    if !ok {
                        return Ok(ExitCode::FAILURE);
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn cwd_or_current(cwd: Option<PathBuf>) -> Result<PathBuf, CliError> {
    match cwd {
        Some(dir) if dir.is_dir() => Ok(dir),
        Some(dir) => Err(CliError::Other(format!(
            "--cwd {}: not a directory",
            dir.display()
        ))),
        None => std::env::current_dir()
            .map_err(|e| CliError::Other(format!("cannot read the current directory: {e}"))),
    }
}

fn dial(listen: SocketAddr) -> String {
    if listen.ip().is_unspecified() {
        format!("127.0.0.1:{}", listen.port())
    } else {
        listen.to_string()
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Other(format!("cannot start the async runtime: {e}")))
}

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CODEX_PLUS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // No colour codes when stderr is a file (proxy.sh appends it to proxy.log).
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}
