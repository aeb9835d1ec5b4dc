//! Field names of detections and group-by: decoded `LogEvent` fields and
//! the parsed message's header (mapping table in docs/logrules.md).

use std::sync::Arc;

/// Where a field's value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FieldRef {
    /// A decoded field, by any name [`crate::syslog::decode::LogEvent::field`] answers.
    Event(Arc<str>),
    /// The message text.
    Message,
    /// The host name.
    Host,
    /// The program (decoded, or the APP-NAME).
    Program,
    /// PROCID.
    Pid,
    /// MSGID.
    MsgId,
    /// Facility number.
    Facility,
    /// Severity number.
    Severity,
    /// Firewall verdict: `allow` / `deny` (Sigma's network `action`).
    Action,
}

/// Names [`crate::syslog::decode::LogEvent::field`] answers (kept in step with it; see docs/syslog.md).
const EVENT_FIELDS: &[&str] = &[
    "event",
    "kind",
    "EventType",
    "user",
    "User",
    "UserName",
    "SubjectUserName",
    "username",
    "target_user",
    "TargetUser",
    "TargetUserName",
    "src_ip",
    "SourceIp",
    "src",
    "source_ip",
    "IpAddress",
    "src_port",
    "SourcePort",
    "spt",
    "IpPort",
    "dst_ip",
    "DestinationIp",
    "dst",
    "destination_ip",
    "dst_port",
    "DestinationPort",
    "dpt",
    "proto",
    "Protocol",
    "protocol",
    "command",
    "CommandLine",
    "cmd",
    "Image",
    "image",
    "group",
    "Group",
    "GroupName",
    "TargetGroup",
    "method",
    "AuthenticationMethod",
    "auth_method",
    "unit",
    "Unit",
    "ServiceName",
    "tty",
    "Tty",
    "terminal",
    "pwd",
    "CurrentDirectory",
    "rule",
    "RuleName",
    "prefix",
    "in_interface",
    "InInterface",
    "out_interface",
    "OutInterface",
    "rhost",
    "WorkstationName",
    "detail",
    "Reason",
    "count",
    "Count",
    "invalid_user",
];

/// The [`FieldRef`] of a field name; `None` for names no decoder produces.
pub(crate) fn field_ref(name: &str) -> Option<FieldRef> {
    Some(match name {
        "message" | "msg" | "Message" | "MESSAGE" => FieldRef::Message,
        "host" | "hostname" | "Hostname" | "Computer" | "ComputerName" | "HOSTNAME" => {
            FieldRef::Host
        }
        "SourceIP" | "SourceAddress" | "source.ip" => FieldRef::Event(Arc::from("src_ip")),
        "DestinationIP" | "DestinationAddress" | "destination.ip" => {
            FieldRef::Event(Arc::from("dst_ip"))
        }
        "program" | "ProcessName" | "app_name" | "SYSLOG_IDENTIFIER" => FieldRef::Program,
        "pid" | "procid" | "ProcessId" => FieldRef::Pid,
        "msgid" => FieldRef::MsgId,
        "facility" => FieldRef::Facility,
        "severity" => FieldRef::Severity,
        "action" => FieldRef::Action,
        // sudo's own key for the target user (`USER=root`).
        "USER" => FieldRef::Event(Arc::from("target_user")),
        n if EVENT_FIELDS.contains(&n) => FieldRef::Event(Arc::from(n)),
        _ => return None,
    })
}
