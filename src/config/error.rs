//! Config errors: every problem of a config file with its place in the
//! document, and their renderings for people (`zoneguard check`) and scripts
//! (`zoneguard check --json`).

use std::fmt;

/// What class of problem a [`ConfigError`] is; gives the bilingual label
/// operators read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file could not be read.
    Io,
    /// The YAML itself is malformed.
    Syntax,
    /// A key the config format does not know.
    UnknownKey,
    /// A value of the wrong YAML type (a list where a string belongs, ...).
    WrongType,
    /// A required key is absent.
    MissingKey,
    /// A CIDR (`10.0.0.0/8`) that does not parse or has host bits set.
    MalformedCidr,
    /// An IP address that does not parse.
    MalformedIp,
    /// A MAC address that does not parse.
    MalformedMac,
    /// A service (`tcp/80`) that does not parse.
    MalformedService,
    /// A timezone that is not an IANA name.
    MalformedTimezone,
    /// An `expires` that is not RFC 3339.
    MalformedExpires,
    /// A protection level outside 0..=5.
    LevelOutOfRange,
    /// No default zone, or more than one.
    DefaultZone,
    /// Two zones with the same id (or a group named like a zone).
    DuplicateId,
    /// Two zones whose CIDRs overlap.
    OverlappingZones,
    /// A name that is neither a zone nor a group.
    UnknownReference,
    /// Groups that contain themselves.
    GroupCycle,
    /// An allow entry that can never match any flow.
    NeverMatches,
    /// An allow entry whose `expires` has passed.
    Expired,
    /// An inventory IP or MAC listed twice.
    DuplicateAddress,
    /// An inventory host outside its zone's CIDRs.
    HostOutsideZone,
    /// A host of a strict zone without a MAC.
    MissingMac,
    /// A VLAN id used by two zones.
    DuplicateVlan,
    /// An indicator category that is not in the taxonomy.
    UnknownCategory,
    /// An indicator listed twice.
    DuplicateIndicator,
    /// Any other value that is out of range or meaningless.
    InvalidValue,
    /// The error list was cut short.
    TooManyErrors,
}

impl ErrorKind {
    /// Short English label.
    pub fn en(self) -> &'static str {
        match self {
            ErrorKind::Io => "cannot read config",
            ErrorKind::Syntax => "YAML syntax error",
            ErrorKind::UnknownKey => "unknown key",
            ErrorKind::WrongType => "wrong type",
            ErrorKind::MissingKey => "missing key",
            ErrorKind::MalformedCidr => "malformed CIDR",
            ErrorKind::MalformedIp => "malformed IP address",
            ErrorKind::MalformedMac => "malformed MAC address",
            ErrorKind::MalformedService => "malformed service",
            ErrorKind::MalformedTimezone => "unknown timezone",
            ErrorKind::MalformedExpires => "malformed expiry time",
            ErrorKind::LevelOutOfRange => "protection level out of range",
            ErrorKind::DefaultZone => "default zone misconfigured",
            ErrorKind::DuplicateId => "duplicate id",
            ErrorKind::OverlappingZones => "overlapping zones",
            ErrorKind::UnknownReference => "unknown zone or group",
            ErrorKind::GroupCycle => "group cycle",
            ErrorKind::NeverMatches => "allow entry can never match",
            ErrorKind::Expired => "allow entry expired",
            ErrorKind::DuplicateAddress => "duplicate inventory address",
            ErrorKind::HostOutsideZone => "host outside its zone",
            ErrorKind::MissingMac => "host without MAC in a strict zone",
            ErrorKind::DuplicateVlan => "duplicate VLAN id",
            ErrorKind::UnknownCategory => "unknown incident category",
            ErrorKind::DuplicateIndicator => "duplicate indicator",
            ErrorKind::InvalidValue => "invalid value",
            ErrorKind::TooManyErrors => "too many errors",
        }
    }

    /// Short Chinese label.
    pub fn zh(self) -> &'static str {
        match self {
            ErrorKind::Io => "无法读取配置文件",
            ErrorKind::Syntax => "YAML 语法错误",
            ErrorKind::UnknownKey => "未知配置项",
            ErrorKind::WrongType => "类型错误",
            ErrorKind::MissingKey => "缺少必填项",
            ErrorKind::MalformedCidr => "网段格式错误",
            ErrorKind::MalformedIp => "IP 地址格式错误",
            ErrorKind::MalformedMac => "MAC 地址格式错误",
            ErrorKind::MalformedService => "服务格式错误",
            ErrorKind::MalformedTimezone => "时区名称错误",
            ErrorKind::MalformedExpires => "过期时间格式错误",
            ErrorKind::LevelOutOfRange => "保护等级超出范围",
            ErrorKind::DefaultZone => "默认区域设置错误",
            ErrorKind::DuplicateId => "标识重复",
            ErrorKind::OverlappingZones => "区域网段重叠",
            ErrorKind::UnknownReference => "引用了未知的区域或区域组",
            ErrorKind::GroupCycle => "区域组循环引用",
            ErrorKind::NeverMatches => "放行规则永远不会生效",
            ErrorKind::Expired => "临时放行已过期",
            ErrorKind::DuplicateAddress => "资产地址重复",
            ErrorKind::HostOutsideZone => "主机不在所属区域网段内",
            ErrorKind::MissingMac => "严格资产区域的主机缺少 MAC 地址",
            ErrorKind::DuplicateVlan => "VLAN 编号重复",
            ErrorKind::UnknownCategory => "事件分类不在分类体系中",
            ErrorKind::DuplicateIndicator => "威胁指标重复",
            ErrorKind::InvalidValue => "取值无效",
            ErrorKind::TooManyErrors => "错误过多，其余从略",
        }
    }
}

/// One problem of a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Place in the document, e.g. `zones[3].cidrs[0]`; empty for the whole
    /// document.
    pub path: String,
    /// 1-based line, where known.
    pub line: Option<usize>,
    /// 1-based column, where known.
    pub column: Option<usize>,
    /// What is wrong, in English.
    pub message: String,
    /// The class of the problem (for the bilingual label).
    pub kind: ErrorKind,
}

impl ConfigError {
    /// An error at `path` without a line yet.
    pub fn new(kind: ErrorKind, path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            line: None,
            column: None,
            message: message.into(),
            kind,
        }
    }

    fn location(&self, file: &str) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{file}:{l}:{c}"),
            (Some(l), None) => format!("{file}:{l}"),
            _ => file.to_string(),
        }
    }

    fn render(&self, file: &str, f: &mut impl fmt::Write, chinese: bool) -> fmt::Result {
        write!(f, "{}: ", self.location(file))?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if chinese {
            write!(f, " / {}", self.kind.zh())?;
        }
        Ok(())
    }
}

/// Every problem found in one config file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render_plain())]
pub struct ConfigErrors {
    /// The file (or origin name) the errors are in.
    pub file: String,
    /// The problems, in document order where known.
    pub errors: Vec<ConfigError>,
}

impl ConfigErrors {
    /// One error for a whole file (I/O failure, empty document, ...).
    pub fn single(file: &str, error: ConfigError) -> Self {
        ConfigErrors {
            file: file.to_string(),
            errors: vec![error],
        }
    }

    fn render_plain(&self) -> String {
        let mut out = String::new();
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            // Writing into a String cannot fail.
            let _ = e.render(&self.file, &mut out, false);
        }
        out
    }
}

/// Renders the outcome of loading a config for people: on success one line
/// saying so, otherwise one line per error, English then Chinese, e.g.
/// `config/x.yaml:12:7: zones[3].cidrs[0]: malformed CIDR '10.0.0.0/33' ... / 网段格式错误`,
/// followed by a count.
pub fn check_report(result: &Result<crate::config::Config, ConfigErrors>) -> String {
    let mut out = String::new();
    match result {
        Ok(cfg) => {
            let hosts: usize = cfg.zones.iter().map(|z| z.hosts.len()).sum();
            out.push_str(&format!(
                "config '{}' is valid: {} zones, {} hosts, {} groups, {} allow entries / 配置有效：{} 个区域，{} 台主机，{} 个区域组，{} 条放行规则\n",
                cfg.name,
                cfg.zones.len(),
                hosts,
                cfg.groups.len(),
                cfg.allow.len(),
                cfg.zones.len(),
                hosts,
                cfg.groups.len(),
                cfg.allow.len()
            ));
        }
        Err(errs) => {
            for e in &errs.errors {
                let _ = e.render(&errs.file, &mut out, true);
                out.push('\n');
            }
            out.push_str(&format!(
                "{}: {} error(s) / 共 {} 处错误\n",
                errs.file,
                errs.errors.len(),
                errs.errors.len()
            ));
        }
    }
    out
}

/// The errors as JSON objects `{file, line, column, path, message}` for the
/// `config_errors` array of `zoneguard check --json`.
pub fn check_errors_json(errs: &ConfigErrors) -> Vec<serde_json::Value> {
    errs.errors
        .iter()
        .map(|e| {
            serde_json::json!({
                "file": errs.file,
                "line": e.line,
                "column": e.column,
                "path": e.path,
                "message": e.message,
            })
        })
        .collect()
}
