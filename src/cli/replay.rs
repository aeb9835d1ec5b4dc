//! `zoneguard replay`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, ValueEnum};

use zoneguard::output::{EveWriter, EventTypes};
use zoneguard::pipeline::{replay, Engine, EngineOptions, ReplayOptions, ReplaySummary};

/// Checksum validation mode, as Suricata's `-k`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ChecksumMode {
    /// Do not validate checksums (default, as `suricata -k none`).
    None,
    /// Validate IP, TCP, UDP and ICMP checksums.
    All,
}

/// Arguments of `replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Config file (YAML). Without it: built-in defaults, no zones.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Capture file (pcap or pcapng); repeat for several, processed in order.
    #[arg(
        short = 'r',
        long = "read",
        value_name = "PCAP",
        required_unless_present = "syslog"
    )]
    pub pcaps: Vec<PathBuf>,
    /// Syslog file (one message per line, or octet-counted); repeatable.
    /// Its lines go through the parser and the Sigma log rules exactly as
    /// the daemon's listeners would.
    #[arg(long = "syslog", value_name = "LOGFILE")]
    pub syslog: Vec<PathBuf>,
    /// Parse the --syslog files with the options (`expect_hostname`,
    /// `bad_hostname`) of this listener of the config's `syslog.listeners`
    /// (按该监听器的解析选项读取日志文件).
    #[arg(long = "syslog-listener", value_name = "NAME")]
    pub syslog_listener: Option<String>,
    /// The --syslog files' RFC 3164 lines carry no host name: the word
    /// after the time stamp is the program (设备不发送主机名).
    #[arg(long = "no-hostname")]
    pub no_hostname: bool,
    /// In the --syslog files, a word after an RFC 3164 time stamp matching
    /// this PCRE2 pattern is not a host name (匹配的词不作主机名).
    #[arg(long = "bad-hostname", value_name = "RE")]
    pub bad_hostname: Option<String>,
    /// Output directory for eve.json (created if missing).
    #[arg(short = 'l', long = "log-dir", value_name = "DIR")]
    pub log_dir: PathBuf,
    /// Worker threads (default: the number of cores). The records written
    /// are the same for any number.
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Checksum validation (`none` or `all`).
    #[arg(short = 'k', long = "checksum", value_enum, default_value = "none")]
    pub checksum: ChecksumMode,
    /// Record types to write, comma-separated (default: all):
    /// alert,flow,anomaly,stats,dns,http,tls,ssh.
    #[arg(long = "eve-types", value_name = "LIST")]
    pub eve_types: Option<String>,
    /// Signature rule file; repeatable. Only these rules are loaded (no
    /// rule directories of the config, no indicator lists, no Sigma
    /// rules), as `suricata -S`; the zone policy still applies with `-c`.
    #[arg(short = 'S', long = "signatures", value_name = "RULEFILE")]
    pub rules: Vec<PathBuf>,
    /// Print nothing but errors.
    #[arg(short, long)]
    pub quiet: bool,
    /// Per-rule profiling: prints the costliest rules on standard error
    /// after the replay and writes every checked rule to
    /// `DIR/rule_perf.json` (checks, matches, time).
    #[arg(long = "profile-rules")]
    pub profile_rules: bool,
    /// How many rules `--profile-rules` prints (default 20).
    #[arg(
        long = "profile-rules-top",
        value_name = "N",
        default_value_t = 20,
        requires = "profile_rules"
    )]
    pub profile_rules_top: usize,
}

/// Loads and compiles the signature rules (`-S` files, else the config's
/// rule directories) and reports what was loaded.
fn load_signatures(
    cfg: &zoneguard::config::Config,
    only: &[PathBuf],
    config_given: bool,
    quiet: bool,
) -> std::sync::Arc<zoneguard::signatures::engine::Ruleset> {
    use zoneguard::signatures::{
        engine::Ruleset, loader::format_rejection, ruleset, Classification,
    };
    let t0 = std::time::Instant::now();
    let load = ruleset::load(cfg, only);
    // Without -c and -S the default rule directory may not exist: no rules.
    let explicit = config_given || !only.is_empty();
    for e in load.errors.iter().filter(|_| explicit) {
        eprintln!("zoneguard: rules / 规则: {e}");
    }
    let classes = cfg
        .rules
        .classification_file
        .as_ref()
        .and_then(|p| Classification::from_file(p).ok())
        .unwrap_or_else(Classification::suricata_default);
    let mut rs = Ruleset::compile(&load.result, &classes);
    // rules.threshold_file applies with -S too, as suricata.yaml's
    // threshold-file does with `suricata -S`.
    if let Some(path) = &cfg.rules.threshold_file {
        apply_thresholds(&mut rs, cfg, path, quiet);
    }
    const SHOWN: usize = 20;
    for r in load.result.rejected.iter().take(SHOWN) {
        eprintln!(
            "zoneguard: rule rejected / 规则被拒绝: {}",
            format_rejection(r)
        );
    }
    for u in rs.unsupported().iter().take(SHOWN) {
        eprintln!(
            "zoneguard: rule not run / 规则未运行: {}:{} sid {}: {}",
            u.file, u.line, u.sid, u.reason
        );
    }
    if !quiet && (explicit || !rs.is_empty()) {
        println!(
            "rules / 规则: {} files, {} loaded, {} rejected, {} not supported by the engine, {:.3} s / 文件、已加载、被拒绝、引擎不支持",
            load.files.len(),
            rs.len(),
            load.result.rejected.len(),
            rs.unsupported().len(),
            t0.elapsed().as_secs_f64()
        );
    }
    std::sync::Arc::new(rs)
}

/// Reads threshold.config and applies it to `rs`, reporting bad lines and
/// entries that changed nothing.
fn apply_thresholds(
    rs: &mut zoneguard::signatures::engine::Ruleset,
    cfg: &zoneguard::config::Config,
    path: &std::path::Path,
    quiet: bool,
) {
    use zoneguard::signatures::{ruleset, threshold::ThresholdConfig};
    let vars = ruleset::resolved_vars(cfg);
    let tc = ThresholdConfig::from_file(path, &vars);
    for e in &tc.errors {
        eprintln!("zoneguard: threshold.config / 阈值文件: {e}");
    }
    let applied = rs.apply_threshold_config(&tc);
    for n in &applied.notes {
        eprintln!(
            "zoneguard: threshold.config / 阈值文件: {}:{}: {}",
            path.display(),
            n.line,
            n.reason
        );
    }
    if !quiet {
        println!(
            "threshold.config / 阈值文件: {} entries, {} rules suppressed, {} suppressed by address, {} thresholds set, {} rate filters / 条目、规则被抑制、按地址抑制、阈值、速率过滤",
            tc.entries.len(),
            applied.suppressed,
            applied.suppressed_by_addr,
            applied.thresholds,
            applied.rate_filters
        );
    }
}

pub fn run(a: ReplayArgs) -> anyhow::Result<ExitCode> {
    let cfg = super::load_config(a.config.as_ref())?;
    let types = match &a.eve_types {
        Some(s) => EventTypes::parse_list(s).map_err(|e| anyhow::anyhow!("--eve-types: {e}"))?,
        // the config's outputs.eve.types (validated by `check`), else all
        None => EventTypes::parse_list(&cfg.outputs.eve.types.join(","))
            .map_err(|e| anyhow::anyhow!("outputs.eve.types: {e}"))?,
    };
    std::fs::create_dir_all(&a.log_dir)
        .with_context(|| format!("cannot create output directory {}", a.log_dir.display()))?;
    let eve_path = a.log_dir.join("eve.json");
    let eve = EveWriter::create(&eve_path, types)
        .with_context(|| format!("cannot create {}", eve_path.display()))?;
    let rules = load_signatures(&cfg, &a.rules, a.config.is_some(), a.quiet);
    let engine = Engine::from_config(
        &cfg,
        &EngineOptions {
            validate_checksums: a.checksum == ChecksumMode::All,
            rules: Some(rules),
            signatures_only: !a.rules.is_empty(),
        },
    );
    // The process ends with this command: the engine (with ET Open, some
    // hundred thousand allocations) is left for the exit to reclaim rather
    // than freed piece by piece, which took about 0.1 s of every replay.
    std::mem::forget(Arc::clone(&engine));
    let workers = a
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, 256);
    let db = a.log_dir.join("incidents.db");
    for suffix in ["", "-wal", "-shm"] {
        let p = a.log_dir.join(format!("incidents.db{suffix}"));
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("cannot replace {}", p.display()))?;
        }
    }
    // -S: no Sigma rules.
    let log_alerts = if a.rules.is_empty() {
        let header = syslog_parse_options(&cfg, &a)?;
        replay_logs(&cfg, &a.syslog, &eve, a.quiet, &header)?
    } else {
        Vec::new()
    };
    let opts = ReplayOptions {
        pcaps: a.pcaps.clone(),
        workers,
        progress: !a.quiet && std::io::stderr().is_terminal(),
        incidents_db: Some(db.clone()),
        extra_alerts: log_alerts,
        correlator: cfg.incidents.correlator_config(),
        notify: None,
        profile_rules: a.profile_rules,
    };
    let summary = replay(Arc::clone(&engine), &eve, &opts)?;
    eve.flush()
        .with_context(|| format!("cannot write {}", eve_path.display()))?;
    if let Some(p) = &summary.rule_profile {
        report_rule_profile(p, &engine.rules, &a.log_dir, a.profile_rules_top)?;
    }
    if !a.quiet {
        print_summary(&summary, &eve_path, eve.records(), workers);
        if let Some(inc) = &summary.incidents {
            println!("  incidents / 事件      {}", db.display());
            print!("{}", inc.render());
        }
    }
    if cfg.queue.backend == zoneguard::config::QueueBackend::Nats
        && !super::central::publish_replay(&cfg, &summary.alerts, a.quiet)?
    {
        return Ok(ExitCode::from(1));
    }
    if let Some(err) = summary
        .incidents
        .as_ref()
        .and_then(|i| i.sync_error.as_ref())
    {
        eprintln!(
            "zoneguard: error / 错误: incident store {}: {err}",
            db.display()
        );
        return Ok(ExitCode::from(1));
    }
    if eve.lost_records() > 0 {
        eprintln!(
            "zoneguard: error / 错误: {} records could not be written to {} / 条记录写入失败",
            eve.lost_records(),
            eve_path.display()
        );
        return Ok(ExitCode::from(1));
    }
    if let Some(e) = &summary.capture_error {
        eprintln!(
            "zoneguard: error / 错误: {e} (the {} packets before it were processed and written / 此前的数据包已处理并写出)",
            summary.packets_read
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the costliest rules on standard error and writes the whole
/// profile to `DIR/rule_perf.json`.
fn report_rule_profile(
    p: &zoneguard::signatures::engine::profile::RuleProfiler,
    rules: &zoneguard::signatures::engine::Ruleset,
    log_dir: &std::path::Path,
    top: usize,
) -> anyhow::Result<()> {
    use zoneguard::signatures::engine::profile;
    let stats = p.report(rules);
    let path = log_dir.join("rule_perf.json");
    profile::write_json(&path, &stats)?;
    eprint!("{}", profile::render_table(&stats, top));
    eprintln!("  rule profile / 规则性能分析文件: {}", path.display());
    Ok(())
}

/// The `expect_hostname` / `bad_hostname` of `--syslog-listener`, then
/// `--no-hostname` and `--bad-hostname` on top.
fn syslog_parse_options(
    cfg: &zoneguard::config::Config,
    a: &ReplayArgs,
) -> anyhow::Result<zoneguard::syslog::ParseOptions> {
    let mut opts = zoneguard::syslog::ParseOptions::default();
    if let Some(name) = &a.syslog_listener {
        let l = cfg
            .syslog
            .listeners
            .iter()
            .find(|l| &l.name == name)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "--syslog-listener: no listener '{name}' in syslog.listeners / 配置中无此监听器"
                )
            })?;
        opts = l.parse_options(opts).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    if a.no_hostname {
        opts.expect_hostname = false;
    }
    if let Some(re) = &a.bad_hostname {
        opts.bad_hostname = Some(
            zoneguard::syslog::BadHostname::new(re)
                .map_err(|e| anyhow::anyhow!("--bad-hostname: {e} / 正则表达式无效"))?,
        );
    }
    Ok(opts)
}

/// Runs syslog files through the parser and the Sigma rules, writes their
/// alerts to EVE and returns them for the incident layer. `header` gives
/// `expect_hostname` and `bad_hostname`.
fn replay_logs(
    cfg: &zoneguard::config::Config,
    files: &[PathBuf],
    eve: &EveWriter,
    quiet: bool,
    header: &zoneguard::syslog::ParseOptions,
) -> anyhow::Result<Vec<zoneguard::alert::Alert>> {
    use zoneguard::logrules::{self, Engine as LogEngine, LoadOptions, RuleSet};
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let mut set = RuleSet::new();
    let lopts = LoadOptions::from_config(cfg);
    for dir in &cfg.rules.sigma_directories {
        set.load_path(dir, &lopts)
            .map_err(|e| anyhow::anyhow!("Sigma rules {}: {e}", dir.display()))?;
    }
    let mut engine = LogEngine::new(set);
    for r in &engine.report().rejected {
        eprintln!("zoneguard: log rule rejected / 日志规则被拒绝: {r}");
    }
    let mut all = Vec::new();
    for f in files {
        // A year-less (RFC 3164) time stamp takes its year from the file's
        // modification time, as a receiver takes it from the receive time.
        let received = std::fs::metadata(f)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs() as i64);
        let mut ropts = logrules::ReplayOptions::from_config(cfg, received);
        ropts.parse.expect_hostname = header.expect_hostname;
        ropts.parse.bad_hostname = header.bad_hostname.clone();
        let (alerts, stats) = logrules::replay_log_file(f, &mut engine, &ropts)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if !quiet {
            println!(
                "syslog {}: {} lines, {} parsed, {} unparseable, {} alerts / 日志行、已解析、无法解析、告警",
                f.display(),
                stats.lines,
                stats.parsed,
                stats.unparseable,
                alerts.len()
            );
        }
        all.extend(alerts);
    }
    let mut buf = zoneguard::output::EveBuf::new(eve, cfg.timezone);
    for a in &all {
        buf.alert(a);
    }
    drop(buf);
    Ok(all)
}

fn print_summary(s: &ReplaySummary, eve: &std::path::Path, records: u64, workers: usize) {
    let st = &s.stats;
    println!("zoneguard replay summary / 回放摘要");
    println!("  packets / 数据包      {}", s.packets_read);
    println!("  bytes / 字节          {}", st.bytes);
    println!("  flows / 流            {}", st.flow_table.created);
    println!("  alerts / 告警         {}", st.total_alerts());
    let mut kinds: Vec<_> = st.alerts.iter().collect();
    kinds.sort();
    for (k, v) in kinds {
        println!("    {k:<36} {v}");
    }
    let anomalies: u64 = st.anomalies.values().sum();
    println!("  anomalies / 解码异常  {anomalies}");
    if st.flow_table.evicted > 0 {
        println!("  flows evicted / 流表淘汰 {}", st.flow_table.evicted);
    }
    println!(
        "  elapsed / 耗时        {:.3} s, {:.0} packets/s, {workers} worker(s)",
        s.elapsed.as_secs_f64(),
        s.packets_per_sec()
    );
    println!(
        "  output / 输出         {} ({records} records)",
        eve.display()
    );
}
