//! Program decoders: lift security fields (user, addresses, command, unit,
//! ...) out of the free text of well-known programs and devices, so log
//! rules match on fields instead of on message text.
//!
//! [`decode`] picks the decoder from the APP-NAME/TAG and, for devices that
//! send no usable tag, from the shape of the message. Field names for Sigma
//! rules are served by [`LogEvent::field`]; the mapping is listed in
//! `docs/syslog.md`.

use std::borrow::Cow;
use std::net::IpAddr;

use super::message::SyslogMessage;

/// What a decoded line reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LogKind {
    /// sshd `Accepted <method> for <user> from <ip> port <port>`.
    SshAccepted,
    /// sshd `Failed <method> for [invalid user ]<user> from <ip> port <port>`
    /// (also the `message repeated N times: [ Failed ...]` summary, with
    /// [`LogEvent::count`] set).
    SshFailed,
    /// sshd `Invalid user <user> from <ip>`.
    SshInvalidUser,
    /// sshd `Received disconnect` / `Disconnected from`.
    SshDisconnect,
    /// sshd `Too many authentication failures` / `maximum authentication
    /// attempts exceeded`.
    SshMaxAuthAttempts,
    /// sshd `Connection closed by <ip> [preauth]`.
    SshConnectionClosed,
    /// sshd `Did not receive identification string from <ip>`.
    SshNoIdentification,
    /// sshd `reverse mapping checking ... POSSIBLE BREAK-IN ATTEMPT!`.
    SshBreakInAttempt,
    /// sudo ran a command.
    SudoCommand,
    /// sudo authentication failed (`pam_unix(sudo:auth): authentication
    /// failure`, `N incorrect password attempts`).
    SudoAuthFailure,
    /// sudo `user NOT in sudoers`.
    SudoNotInSudoers,
    /// su succeeded.
    SuSuccess,
    /// su failed.
    SuFailure,
    /// A PAM module reported an authentication failure (any service).
    PamAuthFailure,
    /// pam_faillock locked an account.
    AccountLocked,
    /// A session was opened (pam_unix ... session opened).
    SessionOpened,
    /// A session was closed.
    SessionClosed,
    /// useradd created an account.
    UserAdded,
    /// useradd failed.
    UserAddFailed,
    /// userdel removed an account.
    UserDeleted,
    /// groupadd created a group.
    GroupAdded,
    /// A group was removed.
    GroupDeleted,
    /// A user was added to a group (usermod, gpasswd).
    UserAddedToGroup,
    /// A user was removed from a group.
    UserRemovedFromGroup,
    /// A password was changed.
    PasswordChanged,
    /// Account or password expiry changed (chage, usermod -e).
    AccountExpiryChanged,
    /// systemd: `Main process exited, code=..., status=...`.
    ServiceExited,
    /// systemd: `Failed with result '...'`.
    ServiceFailed,
    /// systemd: `Scheduled restart job, restart counter is at N`.
    ServiceRestartScheduled,
    /// systemd: `Start request repeated too quickly`.
    ServiceStartLimit,
    /// rsyslogd or journald started, restarted or was HUPed.
    LogServiceRestart,
    /// Signs of log clearing: journal vacuum, truncating or removing files
    /// under /var/log, `history -c`.
    LogCleared,
    /// Audit rules removed (`auditctl -D`, audit `op=remove_rule`).
    AuditRulesRemoved,
    /// A firewall dropped or rejected a packet or connection.
    FirewallDeny,
    /// A firewall let a packet or connection pass.
    FirewallAllow,
    /// A firewall log line with no recognisable verdict.
    FirewallLog,
}

impl LogKind {
    /// Stable snake_case name (EVE and the Sigma field `event`).
    pub fn as_str(self) -> &'static str {
        use LogKind::*;
        match self {
            SshAccepted => "ssh_accepted",
            SshFailed => "ssh_failed",
            SshInvalidUser => "ssh_invalid_user",
            SshDisconnect => "ssh_disconnect",
            SshMaxAuthAttempts => "ssh_max_auth_attempts",
            SshConnectionClosed => "ssh_connection_closed",
            SshNoIdentification => "ssh_no_identification",
            SshBreakInAttempt => "ssh_break_in_attempt",
            SudoCommand => "sudo_command",
            SudoAuthFailure => "sudo_auth_failure",
            SudoNotInSudoers => "sudo_not_in_sudoers",
            SuSuccess => "su_success",
            SuFailure => "su_failure",
            PamAuthFailure => "pam_auth_failure",
            AccountLocked => "account_locked",
            SessionOpened => "session_opened",
            SessionClosed => "session_closed",
            UserAdded => "user_added",
            UserAddFailed => "user_add_failed",
            UserDeleted => "user_deleted",
            GroupAdded => "group_added",
            GroupDeleted => "group_deleted",
            UserAddedToGroup => "user_added_to_group",
            UserRemovedFromGroup => "user_removed_from_group",
            PasswordChanged => "password_changed",
            AccountExpiryChanged => "account_expiry_changed",
            ServiceExited => "service_exited",
            ServiceFailed => "service_failed",
            ServiceRestartScheduled => "service_restart_scheduled",
            ServiceStartLimit => "service_start_limit",
            LogServiceRestart => "log_service_restart",
            LogCleared => "log_cleared",
            AuditRulesRemoved => "audit_rules_removed",
            FirewallDeny => "firewall_deny",
            FirewallAllow => "firewall_allow",
            FirewallLog => "firewall_log",
        }
    }
}

/// Fields lifted from one log line. For account changes `target_user` is
/// the account acted on and `user` the actor when the line names one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEvent {
    /// What happened.
    pub kind: LogKind,
    /// The program that logged it (APP-NAME, or the device family).
    pub program: Option<String>,
    /// The acting or authenticating user.
    pub user: Option<String>,
    /// The user acted on (sudo/su target, account changed).
    pub target_user: Option<String>,
    /// Source address (sshd `from`, PAM `rhost`, firewall source).
    pub src_ip: Option<IpAddr>,
    /// Source port.
    pub src_port: Option<u16>,
    /// Destination address.
    pub dst_ip: Option<IpAddr>,
    /// Destination port.
    pub dst_port: Option<u16>,
    /// Transport protocol, lower case (`tcp`, `udp`, `icmp`, ...).
    pub proto: Option<String>,
    /// Command line (sudo COMMAND, audited shell command).
    pub command: Option<String>,
    /// Group name (account changes).
    pub group: Option<String>,
    /// Authentication method (`password`, `publickey`, ...).
    pub method: Option<String>,
    /// systemd unit.
    pub unit: Option<String>,
    /// Terminal (sudo TTY, su tty).
    pub tty: Option<String>,
    /// Working directory (sudo PWD).
    pub pwd: Option<String>,
    /// Firewall rule, ACL or log prefix.
    pub rule: Option<String>,
    /// Inbound interface.
    pub in_interface: Option<String>,
    /// Outbound interface.
    pub out_interface: Option<String>,
    /// A remote host name that is not an address (PAM `rhost=`).
    pub rhost: Option<String>,
    /// Extra detail: exit status, systemd result, reason.
    pub detail: Option<String>,
    /// Repetition count: `message repeated N times`, `PAM N more
    /// authentication failures`, `N incorrect password attempts`, restart
    /// counter.
    pub count: Option<u32>,
    /// sshd said the user does not exist (`invalid user`).
    pub invalid_user: bool,
}

impl LogEvent {
    fn new(kind: LogKind, program: Option<&str>) -> Self {
        LogEvent {
            kind,
            program: program.map(str::to_owned),
            user: None,
            target_user: None,
            src_ip: None,
            src_port: None,
            dst_ip: None,
            dst_port: None,
            proto: None,
            command: None,
            group: None,
            method: None,
            unit: None,
            tty: None,
            pwd: None,
            rule: None,
            in_interface: None,
            out_interface: None,
            rhost: None,
            detail: None,
            count: None,
            invalid_user: false,
        }
    }

    /// A field by the names log rules use: zoneguard's own snake_case names
    /// and the Sigma (linux / network / Windows-style) names. See
    /// docs/syslog.md for the table. `None` when the field is absent or the
    /// name unknown.
    pub fn field(&self, name: &str) -> Option<Cow<'_, str>> {
        fn s(v: &Option<String>) -> Option<Cow<'_, str>> {
            v.as_deref().map(Cow::Borrowed)
        }
        fn ip(v: &Option<IpAddr>) -> Option<Cow<'static, str>> {
            v.map(|a| Cow::Owned(a.to_string()))
        }
        fn port(v: &Option<u16>) -> Option<Cow<'static, str>> {
            v.map(|p| Cow::Owned(p.to_string()))
        }
        match name {
            "event" | "kind" | "EventType" => Some(Cow::Borrowed(self.kind.as_str())),
            "program" | "ProcessName" | "app_name" => s(&self.program),
            "user" | "User" | "UserName" | "SubjectUserName" | "username" => s(&self.user),
            "target_user" | "TargetUser" | "TargetUserName" => s(&self.target_user),
            "src_ip" | "SourceIp" | "src" | "source_ip" | "IpAddress" => ip(&self.src_ip),
            "src_port" | "SourcePort" | "spt" | "IpPort" => port(&self.src_port),
            "dst_ip" | "DestinationIp" | "dst" | "destination_ip" => ip(&self.dst_ip),
            "dst_port" | "DestinationPort" | "dpt" => port(&self.dst_port),
            "proto" | "Protocol" | "protocol" => s(&self.proto),
            "command" | "CommandLine" | "cmd" => s(&self.command),
            "Image" | "image" => self
                .command
                .as_deref()
                .and_then(|c| c.split_ascii_whitespace().next().map(Cow::Borrowed)),
            "group" | "Group" | "GroupName" | "TargetGroup" => s(&self.group),
            "method" | "AuthenticationMethod" | "auth_method" => s(&self.method),
            "unit" | "Unit" | "ServiceName" => s(&self.unit),
            "tty" | "Tty" | "terminal" => s(&self.tty),
            "pwd" | "CurrentDirectory" => s(&self.pwd),
            "rule" | "RuleName" | "prefix" => s(&self.rule),
            "in_interface" | "InInterface" => s(&self.in_interface),
            "out_interface" | "OutInterface" => s(&self.out_interface),
            "rhost" | "WorkstationName" => s(&self.rhost),
            "detail" | "Reason" => s(&self.detail),
            "count" | "Count" => self.count.map(|c| Cow::Owned(c.to_string())),
            "invalid_user" => Some(Cow::Borrowed(if self.invalid_user {
                "true"
            } else {
                "false"
            })),
            _ => None,
        }
    }
}

/// Decode a parsed message; `None` when no decoder recognises it.
pub fn decode(msg: &SyslogMessage<'_>) -> Option<LogEvent> {
    let app = msg.app_name.as_deref();
    let text = msg.msg.trim_start_matches('\u{feff}').trim_start();
    // Devices first: their shape is unambiguous and they often have no tag.
    if let Some(e) = device(app, text) {
        return Some(e);
    }
    let prog = app.map(program_name).unwrap_or("");
    let e = match prog {
        "sshd" => sshd(app, text).or_else(|| pam(app, text)),
        "sudo" => sudo(app, text).or_else(|| pam(app, text)),
        "su" => su(app, text).or_else(|| pam(app, text)),
        "useradd" | "userdel" | "usermod" | "groupadd" | "groupdel" | "gpasswd" | "passwd"
        | "chage" | "chpasswd" => account(prog, app, text).or_else(|| pam(app, text)),
        "systemd" | "init" => systemd(app, text),
        "kernel" => netfilter(app, text),
        "rsyslogd" | "systemd-journald" | "journald" | "syslog-ng" => {
            log_service(prog, app, text, msg)
        }
        "unix_chkpwd" => unix_chkpwd(app, text),
        _ => None,
    };
    e.or_else(|| pam(app, text))
        .or_else(|| log_service(prog, app, text, msg))
        .or_else(|| audit_or_clearing(app, text))
        .or_else(|| netfilter(app, text))
}

/// `sshd(pam_unix)` -> `sshd`, `/usr/sbin/sshd` -> `sshd`.
fn program_name(app: &str) -> &str {
    let a = app.rsplit('/').next().unwrap_or(app);
    a.split('(').next().unwrap_or(a)
}

// ------------------------------------------------------------ helpers

fn after<'t>(s: &'t str, pat: &str) -> Option<&'t str> {
    s.find(pat).and_then(|i| s.get(i + pat.len()..))
}

fn word(s: &str) -> &str {
    s.split([' ', ',', ';']).next().unwrap_or("")
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// `key=value` in a space-separated list (`rhost=1.2.3.4 user=x`).
fn kv<'t>(s: &'t str, key: &str) -> Option<&'t str> {
    s.split_ascii_whitespace().find_map(|tok| {
        tok.strip_prefix(key)
            .and_then(|r| r.strip_prefix('='))
            .map(|v| v.trim_end_matches([',', ';']))
    })
}

fn ip(s: &str) -> Option<IpAddr> {
    s.trim_matches(|c| c == '[' || c == ']').parse().ok()
}

fn set_host(e: &mut LogEvent, host: &str) {
    match ip(host) {
        Some(a) => e.src_ip = Some(a),
        None => e.rhost = non_empty(host),
    }
}

fn proto_name(p: &str) -> String {
    match p.trim_matches('"') {
        "6" => "tcp".into(),
        "17" => "udp".into(),
        "1" => "icmp".into(),
        "58" => "ipv6-icmp".into(),
        "2" => "igmp".into(),
        other => other.to_ascii_lowercase(),
    }
}

/// `... from <ip>[ port <port>]...` after `pat`.
fn from_addr(e: &mut LogEvent, s: &str) {
    let mut it = s.split_ascii_whitespace();
    if let Some(host) = it.next() {
        set_host(e, host.trim_end_matches(':'));
    }
    if it.next() == Some("port") {
        e.src_port = it.next().and_then(|p| p.trim_end_matches(':').parse().ok());
    }
}

// -------------------------------------------------------------- sshd

fn sshd(app: Option<&str>, text: &str) -> Option<LogEvent> {
    use LogKind::*;
    if let Some(rest) = text.strip_prefix("message repeated ") {
        let n: u32 = word(rest).parse().ok()?;
        let inner = after(rest, "[ ")?.trim_end_matches(']').trim();
        let mut e = sshd(app, inner)?;
        e.count = Some(n);
        return Some(e);
    }
    if let Some(rest) = text.strip_prefix("Accepted ") {
        let mut e = LogEvent::new(SshAccepted, app);
        e.method = non_empty(word(rest));
        let r = after(rest, " for ")?;
        let (user, addr) = r.rsplit_once(" from ")?;
        e.user = non_empty(user);
        from_addr(&mut e, addr);
        return Some(e);
    }
    if let Some(rest) = text.strip_prefix("Failed ") {
        let mut e = LogEvent::new(SshFailed, app);
        e.method = non_empty(word(rest));
        let r = after(rest, " for ")?;
        let (user, addr) = r.rsplit_once(" from ")?;
        let user = match user.strip_prefix("invalid user ") {
            Some(u) => {
                e.invalid_user = true;
                u
            }
            None => user,
        };
        // Keep the name verbatim: " 0101" is a real (hostile) user name.
        e.user = (!user.is_empty()).then(|| user.to_owned());
        from_addr(&mut e, addr);
        return Some(e);
    }
    if let Some(rest) = text.strip_prefix("Invalid user ") {
        let mut e = LogEvent::new(SshInvalidUser, app);
        e.invalid_user = true;
        let (user, addr) = rest.rsplit_once(" from ")?;
        e.user = (!user.is_empty()).then(|| user.to_owned());
        from_addr(&mut e, addr);
        return Some(e);
    }
    let body = text.strip_prefix("error: ").unwrap_or(text);
    if let Some(rest) = body.strip_prefix("Received disconnect from ") {
        let mut e = LogEvent::new(SshDisconnect, app);
        from_addr(&mut e, rest);
        e.detail = rest.split_once(": ").and_then(|(_, d)| non_empty(d));
        return Some(e);
    }
    if let Some(rest) = body.strip_prefix("Disconnected from ") {
        let mut e = LogEvent::new(SshDisconnect, app);
        let rest = match rest.split_once(" user ") {
            Some((_, r)) => {
                let (u, r) = r.split_once(' ')?;
                e.user = non_empty(u);
                r
            }
            None => rest,
        };
        from_addr(&mut e, rest);
        return Some(e);
    }
    if let Some(rest) = body.strip_prefix("Disconnecting: Too many authentication failures") {
        let mut e = LogEvent::new(SshMaxAuthAttempts, app);
        if let Some(r) = rest.trim_start().strip_prefix("for ") {
            let r = r.trim_end_matches("[preauth]").trim();
            let r = r.strip_prefix("invalid user ").unwrap_or(r);
            e.user = non_empty(word(r));
        }
        return Some(e);
    }
    if let Some(rest) = body.strip_prefix("maximum authentication attempts exceeded for ") {
        let mut e = LogEvent::new(SshMaxAuthAttempts, app);
        let (user, addr) = rest.rsplit_once(" from ")?;
        let user = match user.strip_prefix("invalid user ") {
            Some(u) => {
                e.invalid_user = true;
                u
            }
            None => user,
        };
        e.user = non_empty(user);
        from_addr(&mut e, addr);
        return Some(e);
    }
    if let Some(rest) = body.strip_prefix("Connection closed by ") {
        let mut e = LogEvent::new(SshConnectionClosed, app);
        let rest = match rest
            .strip_prefix("authenticating user ")
            .or_else(|| rest.strip_prefix("invalid user "))
        {
            Some(r) => {
                let (u, r) = r.split_once(' ')?;
                e.user = non_empty(u);
                r
            }
            None => rest,
        };
        from_addr(&mut e, rest);
        return Some(e);
    }
    if let Some(rest) = body.strip_prefix("Did not receive identification string from ") {
        let mut e = LogEvent::new(SshNoIdentification, app);
        from_addr(&mut e, rest);
        return Some(e);
    }
    if body.starts_with("reverse mapping checking") && body.contains("POSSIBLE BREAK-IN ATTEMPT") {
        let mut e = LogEvent::new(SshBreakInAttempt, app);
        let inner = after(body, "[")?.split(']').next()?;
        e.src_ip = ip(inner);
        e.rhost = after(body, "getaddrinfo for ")
            .map(word)
            .and_then(non_empty);
        return Some(e);
    }
    None
}

// --------------------------------------------------------------- PAM

fn pam(app: Option<&str>, text: &str) -> Option<LogEvent> {
    use LogKind::*;
    let service = |t: &str| -> Option<String> {
        let inner = after(t, "(")?.split(')').next()?;
        non_empty(inner.split(':').next().unwrap_or(inner))
    };
    if let Some(rest) = text.strip_prefix("PAM ") {
        // `PAM 4 more authentication failures; ... rhost=... user=root`
        let n: u32 = word(rest).parse().ok()?;
        if !rest.contains("more authentication failure") {
            return None;
        }
        let mut e = LogEvent::new(PamAuthFailure, app);
        e.count = Some(n);
        fill_pam_fields(&mut e, rest);
        return Some(e);
    }
    if !(text.starts_with("pam_") || text.contains("(pam_")) {
        return None;
    }
    if text.contains("authentication failure") {
        let kind = if service(text).as_deref() == Some("sudo") {
            SudoAuthFailure
        } else {
            PamAuthFailure
        };
        let mut e = LogEvent::new(kind, app);
        fill_pam_fields(&mut e, text);
        e.detail = service(text);
        return Some(e);
    }
    if let Some(rest) = after(text, "Consecutive login failures for user ") {
        let mut e = LogEvent::new(AccountLocked, app);
        e.target_user = non_empty(word(rest));
        e.user = e.target_user.clone();
        e.detail = service(text);
        return Some(e);
    }
    if let Some(rest) = after(text, "password changed for ") {
        let mut e = LogEvent::new(PasswordChanged, app);
        e.target_user = non_empty(word(rest));
        return Some(e);
    }
    for (pat, kind) in [
        ("session opened for user ", SessionOpened),
        ("session closed for user ", SessionClosed),
    ] {
        if let Some(rest) = after(text, pat) {
            let mut e = LogEvent::new(kind, app);
            let user = word(rest);
            e.target_user = non_empty(user.split('(').next().unwrap_or(user));
            if let Some(by) = after(rest, " by ") {
                let by = word(by);
                e.user = non_empty(by.split('(').next().unwrap_or(by));
            }
            e.detail = service(text);
            return Some(e);
        }
    }
    None
}

fn fill_pam_fields(e: &mut LogEvent, text: &str) {
    if let Some(h) = kv(text, "rhost") {
        set_host(e, h);
    }
    e.user = kv(text, "user").and_then(non_empty);
    e.tty = kv(text, "tty").and_then(non_empty);
    if e.user.is_none() {
        e.user = kv(text, "ruser").and_then(non_empty);
    }
}

fn unix_chkpwd(app: Option<&str>, text: &str) -> Option<LogEvent> {
    let rest = after(text, "password check failed for user ")?;
    let mut e = LogEvent::new(LogKind::PamAuthFailure, app);
    e.user = non_empty(rest.trim_matches(|c| c == '(' || c == ')'));
    Some(e)
}

// -------------------------------------------------------- sudo and su

fn sudo(app: Option<&str>, text: &str) -> Option<LogEvent> {
    use LogKind::*;
    let (user, rest) = text.split_once(" : ")?;
    let user = user.trim();
    if user.is_empty() || user.contains(' ') || rest.starts_with("(command continued)") {
        return None;
    }
    let mut parts = rest.split(" ; ").map(str::trim);
    let mut kind = SudoCommand;
    let mut e = LogEvent::new(kind, app);
    let first = rest.split(" ; ").next().unwrap_or("");
    if !first.contains('=') {
        parts.next();
        if first.contains("NOT in sudoers") {
            kind = SudoNotInSudoers;
        } else if let Some(n) = first
            .strip_suffix("incorrect password attempts")
            .or_else(|| first.strip_suffix("incorrect password attempt"))
        {
            kind = SudoAuthFailure;
            e.count = n.trim().parse().ok();
        } else {
            kind = SudoAuthFailure;
        }
        e.detail = non_empty(first);
    }
    e.kind = kind;
    e.user = Some(user.to_owned());
    for p in parts {
        if let Some((k, v)) = p.split_once('=') {
            let v = non_empty(v);
            match k {
                "TTY" => e.tty = v,
                "PWD" => e.pwd = v,
                "USER" => e.target_user = v,
                "COMMAND" => e.command = v,
                "GROUP" => e.group = v,
                _ => {}
            }
        }
    }
    Some(e)
}

fn su(app: Option<&str>, text: &str) -> Option<LogEvent> {
    use LogKind::*;
    for (pat, kind) in [
        ("Successful su for ", SuSuccess),
        ("FAILED su for ", SuFailure),
    ] {
        if let Some(rest) = text.strip_prefix(pat) {
            let mut e = LogEvent::new(kind, app);
            let (target, by) = rest.split_once(" by ")?;
            e.target_user = non_empty(target);
            e.user = non_empty(word(by));
            return Some(e);
        }
    }
    // `+ /dev/pts/1 root:tsg` (success) / `- /dev/pts/1 root:tsg` (failure)
    let (kind, rest) = if let Some(r) = text.strip_prefix("+ ") {
        (SuSuccess, r)
    } else if let Some(r) = text.strip_prefix("- ") {
        (SuFailure, r)
    } else {
        return None;
    };
    let (tty, users) = rest.split_once(' ')?;
    let (from, to) = users.split_once(':')?;
    let mut e = LogEvent::new(kind, app);
    e.tty = non_empty(tty);
    e.user = non_empty(from);
    e.target_user = non_empty(to);
    Some(e)
}

// ------------------------------------------------ account management

fn quoted(s: &str) -> Option<&str> {
    let r = after(s, "'")?;
    r.split('\'').next()
}

fn account(prog: &str, app: Option<&str>, text: &str) -> Option<LogEvent> {
    use LogKind::*;
    let ev = |kind| LogEvent::new(kind, app);
    if text.contains("shadow group") || text.starts_with("group added to ") {
        // The same change again for /etc/gshadow or /etc/group: one event is enough.
        return None;
    }
    if let Some(rest) = text.strip_prefix("new user: ") {
        let mut e = ev(UserAdded);
        e.target_user = kv(rest, "name").and_then(non_empty);
        e.detail = non_empty(rest);
        return Some(e);
    }
    if let Some(rest) = text.strip_prefix("failed adding user ") {
        let mut e = ev(UserAddFailed);
        e.target_user = quoted(rest).and_then(non_empty);
        e.detail = non_empty(rest);
        return Some(e);
    }
    if let Some(rest) = text.strip_prefix("new group: ") {
        let mut e = ev(GroupAdded);
        e.group = kv(rest, "name").and_then(non_empty);
        return Some(e);
    }
    if let Some(rest) = text.strip_prefix("delete user ") {
        let mut e = ev(UserDeleted);
        e.target_user = quoted(rest).and_then(non_empty);
        return Some(e);
    }
    if let Some(rest) = text.strip_prefix("removed group ") {
        let mut e = ev(GroupDeleted);
        e.group = quoted(rest).and_then(non_empty);
        return Some(e);
    }
    if text.starts_with("group '") && text.ends_with(" removed") {
        let mut e = ev(GroupDeleted);
        e.group = quoted(text).and_then(non_empty);
        return Some(e);
    }
    // usermod: `add 'u' to group 'g'`; userdel: `delete 'u' from group 'g'`
    for (pat, sep, kind) in [
        ("add ", " to group ", UserAddedToGroup),
        ("delete ", " from group ", UserRemovedFromGroup),
    ] {
        if let Some(rest) = text.strip_prefix(pat) {
            if let Some((u, g)) = rest.split_once(sep) {
                let mut e = ev(kind);
                e.target_user = quoted(u).and_then(non_empty);
                e.group = quoted(g).and_then(non_empty);
                return Some(e);
            }
        }
    }
    // gpasswd: `user alice added by root to group sudo`
    if let Some(rest) = text.strip_prefix("user ") {
        for (pat, sep, kind) in [
            (" added by ", " to group ", UserAddedToGroup),
            (" removed by ", " from group ", UserRemovedFromGroup),
        ] {
            if let Some((u, r)) = rest.split_once(pat) {
                let (by, g) = r.split_once(sep)?;
                let mut e = ev(kind);
                e.target_user = non_empty(u);
                e.user = non_empty(by);
                e.group = non_empty(word(g));
                return Some(e);
            }
        }
    }
    if let Some(rest) = text.strip_prefix("change user ") {
        let mut e = ev(if rest.contains("expiration") {
            AccountExpiryChanged
        } else if rest.contains("password") {
            PasswordChanged
        } else {
            return None;
        });
        e.target_user = quoted(rest).and_then(non_empty);
        e.detail = non_empty(rest);
        return Some(e);
    }
    if let Some(rest) = text.strip_prefix("changed password expiry for ") {
        let mut e = ev(AccountExpiryChanged);
        e.target_user = non_empty(word(rest));
        return Some(e);
    }
    if prog == "passwd" || prog == "chpasswd" {
        // `password for 'u' changed by 'root'`
        if let Some(rest) = text.strip_prefix("password for ") {
            let mut e = ev(PasswordChanged);
            e.target_user = quoted(rest).and_then(non_empty);
            e.user = after(rest, " by ").and_then(quoted).and_then(non_empty);
            return Some(e);
        }
    }
    None
}

// ----------------------------------------------------------- systemd

fn systemd(app: Option<&str>, text: &str) -> Option<LogEvent> {
    use LogKind::*;
    let (unit, rest) = text.split_once(": ")?;
    if unit.contains(' ') {
        return None;
    }
    let mut e = if let Some(r) = rest.strip_prefix("Main process exited, ") {
        let mut e = LogEvent::new(ServiceExited, app);
        e.detail = non_empty(r.trim_end_matches('.'));
        e
    } else if let Some(r) = rest.strip_prefix("Failed with result ") {
        let mut e = LogEvent::new(ServiceFailed, app);
        e.detail = non_empty(r.trim_end_matches('.').trim_matches('\''));
        e
    } else if rest.starts_with("Scheduled restart job") {
        let mut e = LogEvent::new(ServiceRestartScheduled, app);
        e.count = after(rest, "restart counter is at ")
            .map(|n| n.trim_end_matches('.'))
            .and_then(|n| n.parse().ok());
        e
    } else if rest.starts_with("Start request repeated too quickly") {
        LogEvent::new(ServiceStartLimit, app)
    } else {
        return None;
    };
    e.unit = non_empty(unit);
    Some(e)
}

// ---------------------------------------------- log services, clearing

fn log_service(
    prog: &str,
    app: Option<&str>,
    text: &str,
    msg: &SyslogMessage<'_>,
) -> Option<LogEvent> {
    use LogKind::*;
    let rsyslog_sd = msg.structured_data.iter().any(|e| {
        e.id == "origin"
            && e.params
                .iter()
                .any(|p| p.name == "software" && p.value == "rsyslogd")
    });
    let rsyslog_start = (rsyslog_sd || text.contains("software=\"rsyslogd\""))
        && (text.ends_with("start") || text.contains("] start"));
    let restart = rsyslog_start
        || (prog == "rsyslogd"
            && (text.contains("was HUPed") || text.contains("exiting on signal")))
        || (prog.ends_with("journald")
            && (text.starts_with("Journal started") || text.starts_with("Journal stopped")));
    if restart {
        let mut e = LogEvent::new(LogServiceRestart, app);
        e.detail = non_empty(text);
        return Some(e);
    }
    if prog.ends_with("journald") || prog == "journalctl" {
        if let Some(r) = text.strip_prefix("Deleted archived journal ") {
            let mut e = LogEvent::new(LogCleared, app);
            e.detail = non_empty(r);
            return Some(e);
        }
        if text.starts_with("Vacuuming done") {
            let mut e = LogEvent::new(LogCleared, app);
            e.detail = non_empty(text);
            return Some(e);
        }
    }
    None
}

/// Shell command-audit lines and audit records that clear logs or remove
/// audit rules.
fn audit_or_clearing(app: Option<&str>, text: &str) -> Option<LogEvent> {
    use LogKind::*;
    if text.contains("op=remove_rule") || text.contains("auditctl -D") {
        let mut e = LogEvent::new(AuditRulesRemoved, app);
        e.command = command_of(text);
        e.user = kv(text, "auid")
            .or_else(|| kv(text, "user"))
            .and_then(non_empty);
        shell_audit(&mut e, text);
        return Some(e);
    }
    let clears = text.contains("history -c")
        || text.contains("> /var/log/")
        || text.contains(">/var/log/")
        || (text.contains("/var/log/")
            && [
                "truncate ",
                "shred ",
                "rm -f",
                "rm -rf",
                "rm /var/log",
                "unlink ",
            ]
            .iter()
            .any(|c| text.contains(c)))
        || text.contains("journalctl --vacuum")
        || text.contains("journalctl --rotate --vacuum");
    if clears {
        let mut e = LogEvent::new(LogCleared, app);
        e.command = command_of(text);
        e.user = kv(text, "user").and_then(non_empty);
        shell_audit(&mut e, text);
        return Some(e);
    }
    None
}

/// Fields of the shell command-audit line that the usual MLPS hardening
/// (`PROMPT_COMMAND` calling `logger` with `whoami`, `who am i` and `pwd`)
/// writes: `[euid=root]:root pts/2 2026-11-02 09:28 (10.50.0.9):[/root]history -c`
/// — the effective user, the login user, terminal, login time, the remote
/// address of the session (absent on a console), the working directory and
/// the command. Fills what it finds and leaves the rest alone.
fn shell_audit(e: &mut LogEvent, text: &str) {
    let Some(rest) = text.strip_prefix("[euid=") else {
        return;
    };
    let Some((euid, rest)) = rest.split_once("]:") else {
        return;
    };
    // `who am i` part, then `:[pwd]command`
    let Some((who, tail)) = rest.split_once(":[") else {
        return;
    };
    let Some((pwd, cmd)) = tail.split_once(']') else {
        return;
    };
    let mut words = who.split_ascii_whitespace();
    if let Some(login) = words.next() {
        e.user = non_empty(login);
    }
    if let Some(tty) = words.next() {
        e.tty = non_empty(tty);
    }
    if euid != e.user.as_deref().unwrap_or("") {
        e.target_user = non_empty(euid);
    }
    if let Some(from) = who
        .rsplit_once('(')
        .and_then(|(_, r)| r.split_once(')'))
        .map(|(f, _)| f)
    {
        // `(10.50.0.9)`, `(10.50.0.9:S.0)` under screen, or a host name
        let host = from.split(":S.").next().unwrap_or(from);
        set_host(e, host);
    }
    e.pwd = non_empty(pwd);
    e.command = non_empty(cmd);
}

/// The command part of a command-audit line: after `cmd=`, `COMMAND=`,
/// `command=` or the last `]: `, else the whole text.
fn command_of(text: &str) -> Option<String> {
    for key in ["COMMAND=", "cmd=", "command=", "CMD="] {
        if let Some(c) = after(text, key) {
            return non_empty(c.trim_matches('"'));
        }
    }
    non_empty(text)
}

// ---------------------------------------------------------- firewalls

fn device(app: Option<&str>, text: &str) -> Option<LogEvent> {
    let app_s = app.unwrap_or("");
    if app_s.starts_with("%ASA-") || app_s.starts_with("%PIX-") || app_s.starts_with("%FTD-") {
        return cisco_asa(app_s, text);
    }
    if text.starts_with("%ASA-") || text.starts_with("%PIX-") || text.starts_with("%FTD-") {
        let (id, rest) = text.split_once(": ")?;
        return cisco_asa(id, rest);
    }
    if program_name(app_s) == "filterlog" {
        return pfsense(text);
    }
    if app_s.contains("%%01POLICY/") {
        return huawei(app_s, text);
    }
    if let Some(i) = text.find("%%01POLICY/") {
        let t = text.get(i..)?;
        let (head, pairs) = t.split_once(':')?;
        return huawei(head, pairs);
    }
    if text.starts_with("date=") || (text.contains("devid=") && text.contains("logid=")) {
        return fortigate(text);
    }
    None
}

/// `iface:1.2.3.4/80`, `1.2.3.4/80`, `iface/1.2.3.4(80)`.
fn endpoint(tok: &str) -> Option<(IpAddr, Option<u16>)> {
    let tok = tok.trim_end_matches([',', ';']);
    let addr_of = |s: &str| ip(s).or_else(|| s.split_once(':').and_then(|(_, a)| ip(a)));
    if let Some((left, port)) = tok.split_once('(') {
        let a = left.rsplit('/').next().unwrap_or(left);
        return Some((addr_of(a)?, port.trim_end_matches(')').parse().ok()));
    }
    match tok.rsplit_once('/') {
        Some((a, p)) => Some((addr_of(a)?, p.parse().ok())),
        None => None,
    }
}

fn cisco_asa(id: &str, text: &str) -> Option<LogEvent> {
    use LogKind::*;
    let msg_id = id.rsplit('-').next().unwrap_or("");
    let lower = text.to_ascii_lowercase();
    let kind = if lower.starts_with("deny") || lower.contains(" denied") || lower.contains(" deny ")
    {
        FirewallDeny
    } else if lower.contains(" permitted ") {
        FirewallAllow
    } else if msg_id.starts_with("106") || msg_id == "710003" {
        FirewallLog
    } else {
        return None;
    };
    let mut e = LogEvent::new(kind, Some(id));
    e.detail = Some(msg_id.to_owned());
    let words: Vec<&str> = text.split_ascii_whitespace().collect();
    let mut eps = words.iter().filter_map(|w| endpoint(w));
    if let Some((a, p)) = eps.next() {
        e.src_ip = Some(a);
        e.src_port = p;
    }
    if let Some((a, p)) = eps.next() {
        e.dst_ip = Some(a);
        e.dst_port = p;
    }
    // The protocol is the word after Deny/denied/access-list verdict.
    e.proto = words
        .iter()
        .map(|w| w.to_ascii_lowercase())
        .find(|w| matches!(w.as_str(), "tcp" | "udp" | "icmp" | "icmp6" | "gre" | "esp"));
    e.rule = after(text, "access-group \"")
        .or_else(|| after(text, "access-list "))
        .map(|r| r.split(['"', ' ']).next().unwrap_or(r))
        .and_then(non_empty);
    Some(e)
}

fn pfsense(text: &str) -> Option<LogEvent> {
    let f: Vec<&str> = text.split(',').collect();
    let g = |i: usize| f.get(i).copied().unwrap_or("");
    let kind = match g(6) {
        "block" | "reject" => LogKind::FirewallDeny,
        "pass" => LogKind::FirewallAllow,
        _ => LogKind::FirewallLog,
    };
    let mut e = LogEvent::new(kind, Some("filterlog"));
    e.rule = non_empty(g(0));
    e.in_interface = non_empty(g(4));
    e.detail = non_empty(g(7));
    let (proto, src, dst, sp, dp) = match g(8) {
        "4" => (16, 18, 19, 20, 21),
        "6" => (12, 15, 16, 17, 18),
        _ => return Some(e),
    };
    e.proto = non_empty(g(proto)).map(|p| proto_name(&p));
    e.src_ip = ip(g(src));
    e.dst_ip = ip(g(dst));
    if matches!(e.proto.as_deref(), Some("tcp" | "udp")) {
        e.src_port = g(sp).parse().ok();
        e.dst_port = g(dp).parse().ok();
    }
    Some(e)
}

/// FortiOS `key=value` / `key="value"` pairs.
fn forti_kv<'t>(text: &'t str, key: &str) -> Option<&'t str> {
    let mut rest = text;
    loop {
        let i = rest.find(key)?;
        let before_ok = i == 0 || rest.as_bytes().get(i - 1) == Some(&b' ');
        let tail = rest.get(i + key.len()..)?;
        if before_ok {
            if let Some(v) = tail.strip_prefix('=') {
                return Some(match v.strip_prefix('"') {
                    Some(q) => q.split('"').next().unwrap_or(q),
                    None => v.split(' ').next().unwrap_or(v),
                });
            }
        }
        rest = tail;
    }
}

fn fortigate(text: &str) -> Option<LogEvent> {
    let action = forti_kv(text, "action").unwrap_or("");
    let kind = match action {
        "deny" | "blocked" | "block" | "drop" | "reject" | "server-rst" | "client-rst" => {
            LogKind::FirewallDeny
        }
        "accept" | "allow" | "pass" | "passthrough" | "close" | "timeout" => LogKind::FirewallAllow,
        _ if forti_kv(text, "srcip").is_some() => LogKind::FirewallLog,
        _ => return None,
    };
    let mut e = LogEvent::new(kind, Some("fortigate"));
    e.src_ip = forti_kv(text, "srcip").and_then(ip);
    e.dst_ip = forti_kv(text, "dstip").and_then(ip);
    e.src_port = forti_kv(text, "srcport").and_then(|p| p.parse().ok());
    e.dst_port = forti_kv(text, "dstport").and_then(|p| p.parse().ok());
    e.proto = forti_kv(text, "proto").map(proto_name);
    e.rule = forti_kv(text, "policyid").and_then(non_empty);
    e.user = forti_kv(text, "user").and_then(non_empty);
    e.in_interface = forti_kv(text, "srcintf").and_then(non_empty);
    e.out_interface = forti_kv(text, "dstintf").and_then(non_empty);
    e.detail = non_empty(action);
    Some(e)
}

/// Huawei USG: `%%01POLICY/6/POLICYDENY(l):vsys=public, protocol=6,
/// source-ip=10.1.1.1, source-port=1234, destination-ip=..., ...`.
fn huawei(head: &str, pairs: &str) -> Option<LogEvent> {
    let kind = if head.contains("POLICYDENY") {
        LogKind::FirewallDeny
    } else if head.contains("POLICYPERMIT") {
        LogKind::FirewallAllow
    } else {
        LogKind::FirewallLog
    };
    let get = |key: &str| {
        pairs.split(',').find_map(|p| {
            let (k, v) = p.split_once('=')?;
            (k.trim() == key).then(|| v.trim().trim_end_matches('.'))
        })
    };
    let mut e = LogEvent::new(kind, Some("huawei-usg"));
    e.src_ip = get("source-ip").and_then(ip);
    e.dst_ip = get("destination-ip").and_then(ip);
    e.src_port = get("source-port").and_then(|p| p.parse().ok());
    e.dst_port = get("destination-port").and_then(|p| p.parse().ok());
    e.proto = get("protocol").map(proto_name);
    e.rule = get("rule-name").and_then(non_empty);
    e.in_interface = get("source-zone").and_then(non_empty);
    e.out_interface = get("destination-zone").and_then(non_empty);
    Some(e)
}

/// Kernel netfilter LOG lines (iptables / nftables): `[prefix]IN=eth0 OUT=
/// SRC=... DST=... PROTO=TCP SPT=... DPT=...`.
fn netfilter(app: Option<&str>, text: &str) -> Option<LogEvent> {
    let i = text.find("IN=")?;
    if !text.contains(" SRC=") || !text.contains(" DST=") {
        return None;
    }
    let prefix = text.get(..i)?.trim();
    // A kernel time stamp `[  307.757925]` is no prefix.
    let prefix = match prefix.strip_prefix('[') {
        Some(p)
            if p.split(']')
                .next()
                .is_some_and(|s| s.trim().parse::<f64>().is_ok()) =>
        {
            p.split_once(']').map_or("", |(_, r)| r).trim()
        }
        _ => prefix,
    };
    let fields = text.get(i..)?;
    let lower = prefix.to_ascii_lowercase();
    let kind = if ["drop", "deny", "reject", "block"]
        .iter()
        .any(|w| lower.contains(w))
        || prefix.ends_with("-D]")
        || prefix.ends_with("-R]")
    {
        LogKind::FirewallDeny
    } else if lower.contains("accept") || lower.contains("allow") || prefix.ends_with("-A]") {
        LogKind::FirewallAllow
    } else {
        LogKind::FirewallLog
    };
    let mut e = LogEvent::new(kind, app.or(Some("kernel")));
    e.rule = non_empty(prefix.trim_matches(|c| c == '[' || c == ']'));
    e.in_interface = kv(fields, "IN").and_then(non_empty);
    e.out_interface = kv(fields, "OUT").and_then(non_empty);
    e.src_ip = kv(fields, "SRC").and_then(ip);
    e.dst_ip = kv(fields, "DST").and_then(ip);
    e.proto = kv(fields, "PROTO").map(proto_name);
    e.src_port = kv(fields, "SPT").and_then(|p| p.parse().ok());
    e.dst_port = kv(fields, "DPT").and_then(|p| p.parse().ok());
    Some(e)
}

#[cfg(test)]
mod tests;
