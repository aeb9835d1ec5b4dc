//! `zoneguard incidents …` and `zoneguard audit verify`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};

use zoneguard::incident::cli::{self as icli, ExportFormat};
use zoneguard::incident::grade::Grade;
use zoneguard::incident::lifecycle::{Action, Status};
use zoneguard::incident::wall_now;
use zoneguard::queue::{audit, Filter};

/// Arguments of `incidents`.
#[derive(Debug, Args)]
pub struct IncidentsArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: IncidentsCommand,
}

/// Store and output options shared by every incidents command.
#[derive(Debug, Args)]
pub struct Common {
    /// The incident store (SQLite file, e.g. DIR/incidents.db of a replay).
    #[arg(long, value_name = "FILE")]
    pub db: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Filters of `list` and `export`.
#[derive(Debug, Args)]
pub struct FilterArgs {
    /// Only this status (new, acknowledged, in_progress, resolved, false_positive).
    #[arg(long)]
    pub status: Option<String>,
    /// Only this grade or more serious (I, II, III, IV).
    #[arg(long)]
    pub grade: Option<String>,
    /// Only incidents of this responsible or touched unit.
    #[arg(long)]
    pub unit: Option<String>,
    /// Only incidents touching this zone id.
    #[arg(long)]
    pub zone: Option<String>,
    /// Last seen at or after (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    pub since: Option<String>,
    /// First seen at or before (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    pub until: Option<String>,
    /// Only open incidents.
    #[arg(long)]
    pub open: bool,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
}

/// One incident and who acts.
#[derive(Debug, Args)]
pub struct Target {
    /// Incident id.
    pub id: i64,
    /// Who is acting (recorded in the timeline and the audit log).
    #[arg(long, default_value_t = default_actor())]
    pub actor: String,
}

fn default_actor() -> String {
    std::env::var("USER").unwrap_or_else(|_| "cli".to_string())
}

/// Export formats.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// JSON array with evidence and timeline.
    Json,
    /// CSV, one incident per line.
    Csv,
}

/// Incident commands (事件处置).
#[derive(Debug, Subcommand)]
pub enum IncidentsCommand {
    /// List incidents (列出事件).
    List {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Show one incident with its evidence and timeline (查看事件).
    Show {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        target: Target,
    },
    /// Acknowledge (确认).
    Ack {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        target: Target,
    },
    /// Assign to a person (指派).
    Assign {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        target: Target,
        /// The assignee.
        user: String,
    },
    /// Start handling (开始处置).
    Start {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        target: Target,
    },
    /// Mark resolved (已解决).
    Resolve {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        target: Target,
        /// Resolution note.
        note: Option<String>,
    },
    /// Mark as a false positive (误报).
    FalsePositive {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        target: Target,
        /// Reason.
        note: Option<String>,
    },
    /// Reopen a resolved or false-positive incident (重新打开).
    Reopen {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        target: Target,
        /// `new` to reopen as new instead of acknowledged.
        to: Option<String>,
    },
    /// Add a comment (备注).
    Comment {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        target: Target,
        /// The comment.
        text: String,
    },
    /// Export incidents (导出).
    Export {
        /// The incident store.
        #[arg(long, value_name = "FILE")]
        db: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Per-unit summary: open, overdue, mean time to acknowledge and resolve (单位汇总).
    Summary {
        #[command(flatten)]
        common: Common,
    },
    /// Notifications that could not be delivered (通知死信).
    DeadLetters {
        #[command(flatten)]
        common: Common,
    },
}

/// Arguments of `audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: AuditCommand,
}

/// Audit log commands (审计).
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the tamper-evident audit chain of a store (校验审计链).
    Verify {
        #[command(flatten)]
        common: Common,
    },
}

fn filter(f: &FilterArgs) -> anyhow::Result<Filter> {
    let status = match &f.status {
        Some(s) => Some(
            Status::parse(s)
                .ok_or_else(|| anyhow::anyhow!("--status: unknown status '{s}' / 未知状态"))?,
        ),
        None => None,
    };
    let min_grade = match &f.grade {
        Some(g) => Some(Grade::parse(g).ok_or_else(|| {
            anyhow::anyhow!("--grade: unknown grade '{g}' (I, II, III, IV) / 未知等级")
        })?),
        None => None,
    };
    let time = |s: &Option<String>, flag: &str| -> anyhow::Result<_> {
        match s {
            Some(s) => Ok(Some(
                icli::parse_time(s).map_err(|e| anyhow::anyhow!("{flag}: {e}"))?,
            )),
            None => Ok(None),
        }
    };
    Ok(Filter {
        status,
        min_grade,
        unit: f.unit.clone(),
        zone: f.zone.clone(),
        since: time(&f.since, "--since")?,
        until: time(&f.until, "--until")?,
        open_only: f.open,
        limit: f.limit,
    })
}

fn act(common: &Common, t: &Target, action: Action, arg: Option<&str>) -> anyhow::Result<ExitCode> {
    let out = icli::transition(
        &common.db,
        t.id,
        action,
        &t.actor,
        arg,
        common.json,
        wall_now(),
    )?;
    println!("{out}");
    Ok(ExitCode::SUCCESS)
}

pub fn run(a: IncidentsArgs) -> anyhow::Result<ExitCode> {
    let now = wall_now();
    match a.command {
        IncidentsCommand::List { common, filter: f } => {
            println!(
                "{}",
                icli::list(&common.db, &filter(&f)?, common.json, now)?
            );
            Ok(ExitCode::SUCCESS)
        }
        IncidentsCommand::Show { common, target } => {
            println!("{}", icli::show(&common.db, target.id, common.json, now)?);
            Ok(ExitCode::SUCCESS)
        }
        IncidentsCommand::Ack { common, target } => act(&common, &target, Action::Ack, None),
        IncidentsCommand::Assign {
            common,
            target,
            user,
        } => act(&common, &target, Action::Assign, Some(&user)),
        IncidentsCommand::Start { common, target } => act(&common, &target, Action::Start, None),
        IncidentsCommand::Resolve {
            common,
            target,
            note,
        } => act(&common, &target, Action::Resolve, note.as_deref()),
        IncidentsCommand::FalsePositive {
            common,
            target,
            note,
        } => act(&common, &target, Action::FalsePositive, note.as_deref()),
        IncidentsCommand::Reopen { common, target, to } => {
            act(&common, &target, Action::Reopen, to.as_deref())
        }
        IncidentsCommand::Comment {
            common,
            target,
            text,
        } => act(&common, &target, Action::Comment, Some(&text)),
        IncidentsCommand::Export {
            db,
            format,
            filter: f,
        } => {
            let fmt = match format {
                Format::Json => ExportFormat::Json,
                Format::Csv => ExportFormat::Csv,
            };
            println!("{}", icli::export(&db, &filter(&f)?, fmt, now)?);
            Ok(ExitCode::SUCCESS)
        }
        IncidentsCommand::Summary { common } => {
            println!("{}", icli::summary(&common.db, common.json, now)?);
            Ok(ExitCode::SUCCESS)
        }
        IncidentsCommand::DeadLetters { common } => {
            println!(
                "{}",
                zoneguard::notify::deadletter::list_cli(&common.db, common.json)?
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn run_audit(a: AuditArgs) -> anyhow::Result<ExitCode> {
    match a.command {
        AuditCommand::Verify { common } => {
            if common.json {
                let out = audit::verify_cli_json(&common.db)?;
                let ok = out.contains("\"ok\":true");
                println!("{out}");
                return Ok(if ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                });
            }
            match audit::verify_cli(&common.db) {
                Ok(s) => {
                    println!("{s}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("zoneguard: audit chain broken / 审计链被破坏: {e}");
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}
