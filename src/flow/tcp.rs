//! TCP connection state, as far as flow tracking needs it.
//!
//! The tracker follows the handshake and the teardown from the flags of each
//! direction; it does not judge sequence numbers (stream reassembly does that
//! for the application layer). Its states are the ones Suricata prints in the
//! EVE `tcp.state` field.

use super::table::TimeoutClass;

/// TCP flag bits.
pub mod flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
    /// ECE.
    pub const ECE: u8 = 0x40;
    /// CWR.
    pub const CWR: u8 = 0x80;
}

/// Connection state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TcpState {
    /// Nothing seen yet.
    #[default]
    None,
    /// Client sent SYN.
    SynSent,
    /// Server answered SYN-ACK.
    SynRecv,
    /// Handshake complete (or picked up mid-stream).
    Established,
    /// One side sent FIN.
    FinWait,
    /// Both sides sent FIN.
    Closing,
    /// Closed by FIN exchange or RST.
    Closed,
}

impl TcpState {
    /// Suricata's EVE spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TcpState::None => "none",
            TcpState::SynSent => "syn_sent",
            TcpState::SynRecv => "syn_recv",
            TcpState::Established => "established",
            TcpState::FinWait => "fin_wait1",
            TcpState::Closing => "closing",
            TcpState::Closed => "closed",
        }
    }
}

/// Per-flow TCP tracking.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpTracker {
    /// Current state.
    pub state: TcpState,
    /// Union of flags seen to the server.
    pub flags_ts: u8,
    /// Union of flags seen to the client.
    pub flags_tc: u8,
    /// FIN seen from [client, server].
    fin: [bool; 2],
    /// The flow was picked up without its handshake.
    pub midstream: bool,
    /// A RST was seen.
    pub reset: bool,
}

impl TcpTracker {
    /// Updates the state with one segment's flags.
    pub fn update(&mut self, to_server: bool, fl: u8) {
        use flags::*;
        if to_server {
            self.flags_ts |= fl;
        } else {
            self.flags_tc |= fl;
        }
        if fl & RST != 0 {
            self.reset = true;
            self.state = TcpState::Closed;
            return;
        }
        let syn = fl & SYN != 0;
        let ack = fl & ACK != 0;
        self.state = match self.state {
            TcpState::None => {
                if syn && !ack && to_server {
                    TcpState::SynSent
                } else if syn && ack {
                    TcpState::SynRecv
                } else {
                    self.midstream = true;
                    TcpState::Established
                }
            }
            TcpState::SynSent => {
                if syn && ack && !to_server {
                    TcpState::SynRecv
                } else {
                    TcpState::SynSent
                }
            }
            TcpState::SynRecv => {
                if ack && !syn && to_server {
                    TcpState::Established
                } else {
                    TcpState::SynRecv
                }
            }
            s => s,
        };
        if fl & FIN != 0 {
            self.fin[usize::from(!to_server)] = true;
            self.state = if self.fin[0] && self.fin[1] {
                TcpState::Closing
            } else {
                TcpState::FinWait
            };
        } else if self.state == TcpState::Closing && ack {
            // the last ACK of the FIN exchange
            self.state = TcpState::Closed;
        }
    }

    /// The flow-timeout class for this state.
    pub fn timeout_class(&self) -> TimeoutClass {
        match self.state {
            TcpState::None | TcpState::SynSent | TcpState::SynRecv => TimeoutClass::TcpNew,
            TcpState::Established | TcpState::FinWait => TimeoutClass::TcpEstablished,
            TcpState::Closing | TcpState::Closed => TimeoutClass::TcpClosed,
        }
    }

    /// Whether the three-way handshake completed.
    pub fn established_seen(&self) -> bool {
        self.flags_ts & flags::SYN != 0
            && self.flags_tc & flags::SYN != 0
            && !self.midstream
            && !matches!(
                self.state,
                TcpState::None | TcpState::SynSent | TcpState::SynRecv
            )
    }
}

#[cfg(test)]
mod tests {
    use super::flags::*;
    use super::*;

    #[test]
    fn handshake_and_fin_close() {
        let mut t = TcpTracker::default();
        t.update(true, SYN);
        assert_eq!(t.state, TcpState::SynSent);
        t.update(false, SYN | ACK);
        assert_eq!(t.state, TcpState::SynRecv);
        t.update(true, ACK);
        assert_eq!(t.state, TcpState::Established);
        assert!(t.established_seen());
        t.update(true, FIN | ACK);
        assert_eq!(t.state, TcpState::FinWait);
        t.update(false, FIN | ACK);
        assert_eq!(t.state, TcpState::Closing);
        t.update(true, ACK);
        assert_eq!(t.state, TcpState::Closed);
        assert_eq!(t.timeout_class(), TimeoutClass::TcpClosed);
        assert_eq!(t.flags_ts, SYN | ACK | FIN);
    }

    #[test]
    fn refused_and_midstream() {
        let mut t = TcpTracker::default();
        t.update(true, SYN);
        t.update(false, RST | ACK);
        assert_eq!(t.state, TcpState::Closed);
        assert!(t.reset);
        assert!(!t.established_seen());

        let mut m = TcpTracker::default();
        m.update(true, ACK | PSH);
        assert!(m.midstream);
        assert_eq!(m.state, TcpState::Established);
        assert!(!m.established_seen());
    }
}
