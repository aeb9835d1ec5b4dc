//! The few socket calls that neither pnet nor socket2 offer: forcing the
//! receive buffer past `net.core.rmem_max`, the kernel's PACKET_STATISTICS,
//! a pending socket error, and the interface's hardware type. Each is one
//! `libc` call on buffers owned here.
#![allow(unsafe_code)]

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, RawFd};

/// ARPHRD_ETHER.
pub const ARPHRD_ETHER: u16 = 1;
/// ARPHRD_LOOPBACK.
pub const ARPHRD_LOOPBACK: u16 = 772;
/// ARPHRD_RAWIP.
pub const ARPHRD_RAWIP: u16 = 519;
/// ARPHRD_NONE (tun devices).
pub const ARPHRD_NONE: u16 = 0xFFFE;

/// A new AF_PACKET raw socket with protocol 0: it receives nothing until
/// it is bound to an interface and a protocol, so no packet of another
/// interface (or unfiltered) slips into its queue before setup is done.
pub fn open_packet_socket() -> io::Result<socket2::Socket> {
    socket2::Socket::new(socket2::Domain::PACKET, socket2::Type::RAW, None)
}

fn set_int_opt(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `value` is a live c_int on this stack frame and the length
    // passed is exactly its size; the kernel only reads it. An invalid fd
    // is reported as EBADF, not undefined behaviour.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets the receive buffer to `bytes`: SO_RCVBUFFORCE first (past
/// `net.core.rmem_max`, needs CAP_NET_ADMIN), SO_RCVBUF (capped at
/// `rmem_max`) when that is refused. Returns what the kernel granted (it
/// doubles the request for bookkeeping) and whether the force worked.
pub fn set_receive_buffer(sock: &socket2::Socket, bytes: usize) -> io::Result<(usize, bool)> {
    let want = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    let forced = match set_int_opt(
        sock.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_RCVBUFFORCE,
        want,
    ) {
        Ok(()) => true,
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            sock.set_recv_buffer_size(bytes)?;
            false
        }
        Err(e) => return Err(e),
    };
    Ok((sock.recv_buffer_size()?, forced))
}

/// The kernel's counters of an AF_PACKET socket since the last call
/// (the kernel resets them on each read): packets that reached the socket
/// (including the dropped ones) and packets dropped because its queue was
/// full.
pub fn packet_statistics(fd: RawFd) -> io::Result<(u32, u32)> {
    let mut st = libc::tpacket_stats {
        tp_packets: 0,
        tp_drops: 0,
    };
    let mut len = mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
    // SAFETY: `st` and `len` live on this stack frame; `len` holds the size
    // of `st`, so the kernel writes at most that many bytes into it.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&mut st as *mut libc::tpacket_stats).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok((st.tp_packets, st.tp_drops))
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Takes (and so clears) the socket's pending error (SO_ERROR): what made
/// poll(2) report POLLERR, e.g. ENETDOWN when the interface went down.
pub fn take_socket_error(fd: RawFd) -> Option<io::Error> {
    let mut err: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `err` and `len` live on this stack frame and `len` is the
    // size of `err`.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut err as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Some(io::Error::last_os_error());
    }
    (err != 0).then(|| io::Error::from_raw_os_error(err))
}

/// The ARPHRD_* hardware type of interface `name` (SIOCGIFHWADDR).
pub fn hardware_type(sock: &socket2::Socket, name: &str) -> io::Result<u16> {
    // SAFETY: an all-zero ifreq is a valid value (plain integers and a
    // union of plain data).
    let mut req: libc::ifreq = unsafe { mem::zeroed() };
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= req.ifr_name.len() || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name must be 1-15 bytes without NUL",
        ));
    }
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: `req` is a properly sized, NUL-terminated ifreq on this stack
    // frame; SIOCGIFHWADDR writes only into it.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFHWADDR succeeded, so the union holds `ifru_hwaddr`.
    Ok(unsafe { req.ifr_ifru.ifru_hwaddr.sa_family })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> bool {
        super::super::caps::effective_capabilities()
            .is_some_and(|s| super::super::caps::has_cap(s, super::super::caps::CAP_NET_RAW))
    }

    #[test]
    fn calls_on_a_non_socket_fail_cleanly() {
        let f = tempfile::tempfile().unwrap();
        let e = packet_statistics(f.as_raw_fd()).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOTSOCK));
        assert_eq!(
            take_socket_error(f.as_raw_fd()).and_then(|e| e.raw_os_error()),
            Some(libc::ENOTSOCK)
        );
        assert!(packet_statistics(-1).is_err());
    }

    #[test]
    fn packet_socket_calls() {
        if !root() {
            eprintln!("SKIPPED packet_socket_calls: needs CAP_NET_RAW (CI runs as root)");
            return;
        }
        let s = open_packet_socket().unwrap();
        // unbound protocol-0 socket: nothing received, nothing dropped
        assert_eq!(packet_statistics(s.as_raw_fd()).unwrap(), (0, 0));
        assert!(take_socket_error(s.as_raw_fd()).is_none());
        assert_eq!(hardware_type(&s, "lo").unwrap(), ARPHRD_LOOPBACK);
        let e = hardware_type(&s, "zg-no-such-if").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENODEV));
        assert!(hardware_type(&s, "a-name-longer-than-15").is_err());
        assert!(hardware_type(&s, "").is_err());
        let (granted, forced) = set_receive_buffer(&s, 4 << 20).unwrap();
        // root has CAP_NET_ADMIN: forced, and the kernel doubles the value
        assert!(forced);
        assert_eq!(granted, 8 << 20);
    }
}
