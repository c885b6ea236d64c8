//! The kernel's TCP socket tables, `/proc/net/tcp` and `/proc/net/tcp6`,
//! decoded: what listens and who owns it, for `stackctl` (a taken port, the
//! live audit) and for any service that shows what its network namespace
//! holds. On the host network that namespace is the host's, so a container
//! reading these files sees every socket of the machine.
//!
//! The kernel prints each address as its 32-bit words in the host's own byte
//! order (`%08X` of the in-memory word), so the decoder turns each word back
//! into its bytes with the same order ([`u32::to_ne_bytes`]): the result is
//! right on little- and big-endian hosts alike.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The `st` of a listening socket (`TCP_LISTEN`).
pub const LISTEN: u8 = 0x0A;

/// One row of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketRow {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// The TCP state (`include/net/tcp_states.h`), e.g. [`LISTEN`].
    pub state: u8,
    /// The uid that owns the socket.
    pub uid: u32,
    /// The socket's inode, as `/proc/PID/fd/N -> socket:[INODE]` names it.
    pub inode: u64,
}

/// The two tables: IPv4 and IPv6.
pub const TABLES: [&str; 2] = ["/proc/net/tcp", "/proc/net/tcp6"];

/// Every row of both tables that can be read; a table that cannot be read
/// (no IPv6) contributes nothing.
pub fn read_tables() -> Vec<SocketRow> {
    TABLES
        .into_iter()
        .filter_map(|table| read_table(table).ok())
        .flatten()
        .collect()
}

/// The rows of one table, or why it cannot be read: for a caller that must
/// say "cannot read" rather than show an empty table as an idle one.
pub fn read_table(path: impl AsRef<std::path::Path>) -> std::io::Result<Vec<SocketRow>> {
    std::fs::read_to_string(path).map(|text| parse_table(&text))
}

/// The rows of one table's text (the header line is skipped; a row that does
/// not parse is left out).
pub fn parse_table(text: &str) -> Vec<SocketRow> {
    text.lines().skip(1).filter_map(parse_row).collect()
}

fn parse_row(line: &str) -> Option<SocketRow> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    Some(SocketRow {
        local: decode_socket(fields.get(1)?)?,
        remote: decode_socket(fields.get(2)?)?,
        state: u8::from_str_radix(fields.get(3)?, 16).ok()?,
        uid: fields.get(7)?.parse().ok()?,
        inode: fields.get(9)?.parse().ok()?,
    })
}

/// `0100007F:0CEA` (on a little-endian host) as `127.0.0.1:3306`.
fn decode_socket(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    Some(SocketAddr::new(
        decode_ip(ip)?,
        u16::from_str_radix(port, 16).ok()?,
    ))
}

/// Decodes the kernel's hex address: one (IPv4) or four (IPv6) 32-bit words,
/// each printed in the host's byte order.
pub fn decode_ip(hex: &str) -> Option<IpAddr> {
    if !hex.len().is_multiple_of(8) {
        return None;
    }
    let mut bytes = Vec::with_capacity(hex.len() / 2);
    for i in (0..hex.len()).step_by(8) {
        let word = u32::from_str_radix(hex.get(i..i + 8)?, 16).ok()?;
        bytes.extend_from_slice(&word.to_ne_bytes());
    }
    match bytes.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(
            bytes[0], bytes[1], bytes[2], bytes[3],
        ))),
        16 => Some(IpAddr::V6(Ipv6Addr::from(
            <[u8; 16]>::try_from(bytes).ok()?,
        ))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's text for `ip`, as this host's kernel prints it.
    fn kernel_hex(ip: IpAddr) -> String {
        let octets: Vec<u8> = match ip {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        octets
            .chunks(4)
            .map(|w| format!("{:08X}", u32::from_ne_bytes([w[0], w[1], w[2], w[3]])))
            .collect()
    }

    #[test]
    fn addresses_decode_whatever_the_hosts_byte_order() {
        for ip in [
            "127.0.0.1",
            "10.213.0.2",
            "::1",
            "fe80::1:2:3:4",
            "::ffff:127.0.0.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(decode_ip(&kernel_hex(ip)), Some(ip), "{ip}");
        }
        assert_eq!(decode_ip("0100007"), None, "a short word");
        assert_eq!(
            decode_ip("0100007F01"),
            None,
            "neither four nor sixteen bytes"
        );
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn a_little_endian_kernels_table_decodes_to_its_rows() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000 10001        0 4242 1 0\n   1: 0100007F:0CEA 0100007F:9C40 01 00000000:00000000 00:00000000 00000000 10010        0 4343 1 0\n";
        let rows = parse_table(v4);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0],
            SocketRow {
                local: "127.0.0.1:3306".parse().unwrap(),
                remote: "0.0.0.0:0".parse().unwrap(),
                state: LISTEN,
                uid: 10001,
                inode: 4242,
            }
        );
        assert_eq!(rows[1].remote, "127.0.0.1:40000".parse().unwrap());
        assert_eq!(
            decode_ip("00000000000000000000000001000000"),
            Some("::1".parse().unwrap())
        );
    }

    #[test]
    fn a_table_that_cannot_be_read_is_an_error_not_an_empty_table() {
        let err = read_table("/proc/net/no-such-table").unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn this_processs_listener_is_in_the_live_table_with_its_uid() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = held.local_addr().unwrap();
        let row = read_tables()
            .into_iter()
            .find(|r| r.local == addr && r.state == LISTEN)
            .expect("our listener is in /proc/net/tcp");
        assert_eq!(
            row.uid,
            std::fs::metadata("/proc/self")
                .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
                .unwrap()
        );
    }
}
