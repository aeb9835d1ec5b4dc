//! Internet checksums (RFC 1071) for IPv4 headers, TCP, UDP, ICMP and
//! ICMPv6, with the IPv4 and IPv6 pseudo-headers.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Adds `data` as big-endian 16-bit words to a running sum (an odd last
/// byte is padded with zero). Fold with [`fold`].
pub fn sum(data: &[u8], mut acc: u64) -> u64 {
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        if let Ok(w) = <[u8; 4]>::try_from(c) {
            acc += u64::from(u32::from_be_bytes(w));
        }
    }
    let tail = chunks.remainder();
    let mut words = tail.chunks_exact(2);
    for w in &mut words {
        if let [a, b] = w {
            acc += u64::from(u16::from_be_bytes([*a, *b]));
        }
    }
    if let [last] = words.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// Folds a running sum to 16 bits (one's-complement addition).
pub fn fold(mut acc: u64) -> u16 {
    while acc > 0xFFFF {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    acc as u16
}

/// The checksum to write into a header whose checksum field is zero.
pub fn compute(data: &[u8], init: u64) -> u16 {
    !fold(sum(data, init))
}

/// Whether data with its checksum field in place sums to all ones.
pub fn verify(data: &[u8], init: u64) -> bool {
    fold(sum(data, init)) == 0xFFFF
}

/// The IPv4 pseudo-header sum for an upper-layer segment of `len` bytes.
pub fn pseudo_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: usize) -> u64 {
    u64::from(u32::from(src) >> 16)
        + u64::from(u32::from(src) & 0xFFFF)
        + u64::from(u32::from(dst) >> 16)
        + u64::from(u32::from(dst) & 0xFFFF)
        + u64::from(proto)
        + len as u64
}

/// The IPv6 pseudo-header sum for an upper-layer segment of `len` bytes.
pub fn pseudo_v6(src: &Ipv6Addr, dst: &Ipv6Addr, next_header: u8, len: usize) -> u64 {
    let acc = sum(&src.octets(), 0);
    let acc = sum(&dst.octets(), acc);
    acc + (len as u64 >> 16) + (len as u64 & 0xFFFF) + u64::from(next_header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3 example words: 0001 f203 f4f5 f6f7.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&d, 0)), 0xddf2);
        assert_eq!(compute(&d, 0), !0xddf2);
    }

    #[test]
    fn ipv4_header_roundtrip() {
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        let c = compute(&h, 0);
        assert_eq!(c, 0xb861);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        assert!(verify(&h, 0));
        h[15] ^= 1;
        assert!(!verify(&h, 0));
    }

    #[test]
    fn odd_lengths() {
        assert_eq!(fold(sum(&[0xAB], 0)), 0xAB00);
        assert_eq!(
            fold(sum(&[1, 2, 3, 4, 5, 6, 7], 0)),
            0x0102 + 0x0304 + 0x0506 + 0x0700
        );
    }
}
