//! The incident lifecycle: new → acknowledged → in_progress → resolved |
//! false_positive, and reopen.

use std::fmt;

/// Status of an incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Opened by the correlator, nobody has looked yet.
    New,
    /// A person has seen it.
    Acknowledged,
    /// Being handled.
    InProgress,
    /// Handled.
    Resolved,
    /// Not an incident.
    FalsePositive,
}

impl Status {
    /// Every status.
    pub const ALL: [Status; 5] = [
        Status::New,
        Status::Acknowledged,
        Status::InProgress,
        Status::Resolved,
        Status::FalsePositive,
    ];

    /// Stored and JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Acknowledged => "acknowledged",
            Status::InProgress => "in_progress",
            Status::Resolved => "resolved",
            Status::FalsePositive => "false_positive",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// True for resolved and false_positive.
    pub fn is_closed(self) -> bool {
        matches!(self, Status::Resolved | Status::FalsePositive)
    }

    /// Chinese name.
    pub fn zh(self) -> &'static str {
        match self {
            Status::New => "新建",
            Status::Acknowledged => "已确认",
            Status::InProgress => "处置中",
            Status::Resolved => "已解决",
            Status::FalsePositive => "误报",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a person does to an incident (the CLI verbs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// `ack`: new → acknowledged.
    Ack,
    /// `assign USER`: set the assignee (any open status; new becomes
    /// acknowledged).
    Assign,
    /// `start`: acknowledged → in_progress.
    Start,
    /// `resolve`: acknowledged | in_progress → resolved.
    Resolve,
    /// `false-positive`: new | acknowledged | in_progress → false_positive.
    FalsePositive,
    /// `reopen [new]`: resolved | false_positive → acknowledged (or new).
    Reopen,
    /// `comment TEXT`: any status, no change.
    Comment,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 7] = [
        Action::Ack,
        Action::Assign,
        Action::Start,
        Action::Resolve,
        Action::FalsePositive,
        Action::Reopen,
        Action::Comment,
    ];

    /// CLI spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Ack => "ack",
            Action::Assign => "assign",
            Action::Start => "start",
            Action::Resolve => "resolve",
            Action::FalsePositive => "false-positive",
            Action::Reopen => "reopen",
            Action::Comment => "comment",
        }
    }

    /// Parses the CLI spelling.
    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// A transition that the lifecycle does not allow.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("incident {id}: cannot {action} from status {from} / 事件 {id} 状态为 {from_zh}，不能执行 {action}")]
pub struct TransitionError {
    /// Incident id.
    pub id: i64,
    /// The attempted action.
    pub action: &'static str,
    /// Current status.
    pub from: &'static str,
    /// Current status in Chinese.
    pub from_zh: &'static str,
}

/// The status after `action` on an incident in `from`, or an error.
///
/// `arg` is the action's argument: for `reopen`, `"new"` reopens to new
/// (anything else, or none, to acknowledged).
pub fn next_status(
    id: i64,
    from: Status,
    action: Action,
    arg: Option<&str>,
) -> Result<Status, TransitionError> {
    use Status::*;
    let to = match (action, from) {
        (Action::Ack, New) => Some(Acknowledged),
        (Action::Assign, New) => Some(Acknowledged),
        (Action::Assign, s) if !s.is_closed() => Some(s),
        (Action::Start, Acknowledged) => Some(InProgress),
        (Action::Resolve, Acknowledged | InProgress) => Some(Resolved),
        (Action::FalsePositive, New | Acknowledged | InProgress) => Some(FalsePositive),
        (Action::Reopen, Resolved | FalsePositive) => Some(if arg == Some("new") {
            New
        } else {
            Acknowledged
        }),
        (Action::Comment, s) => Some(s),
        _ => None,
    };
    to.ok_or(TransitionError {
        id,
        action: action.as_str(),
        from: from.as_str(),
        from_zh: from.zh(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_transition_table() {
        use Action as A;
        use Status::*;
        // (action, from, expected)
        let valid: &[(Action, Status, Status)] = &[
            (A::Ack, New, Acknowledged),
            (A::Assign, New, Acknowledged),
            (A::Assign, Acknowledged, Acknowledged),
            (A::Assign, InProgress, InProgress),
            (A::Start, Acknowledged, InProgress),
            (A::Resolve, Acknowledged, Resolved),
            (A::Resolve, InProgress, Resolved),
            (A::FalsePositive, New, FalsePositive),
            (A::FalsePositive, Acknowledged, FalsePositive),
            (A::FalsePositive, InProgress, FalsePositive),
            (A::Reopen, Resolved, Acknowledged),
            (A::Reopen, FalsePositive, Acknowledged),
            (A::Comment, New, New),
            (A::Comment, Acknowledged, Acknowledged),
            (A::Comment, InProgress, InProgress),
            (A::Comment, Resolved, Resolved),
            (A::Comment, FalsePositive, FalsePositive),
        ];
        for action in Action::ALL {
            for from in Status::ALL {
                let got = next_status(7, from, action, None);
                match valid.iter().find(|(a, f, _)| *a == action && *f == from) {
                    Some((_, _, to)) => assert_eq!(got, Ok(*to), "{action:?} from {from:?}"),
                    None => {
                        let e = got.expect_err("must be invalid");
                        assert_eq!(e.from, from.as_str());
                        assert!(e.to_string().contains("incident 7"));
                    }
                }
            }
        }
        assert_eq!(next_status(1, Resolved, A::Reopen, Some("new")), Ok(New));
    }

    #[test]
    fn spellings_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(a));
        }
        assert_eq!(Action::parse("delete"), None);
    }
}
