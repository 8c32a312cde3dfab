//! SSH wire formats: the identification line, SSH-2 binary packets before encryption
//! (RFC 4253 section 6), KEXINIT (section 7.1), the key-exchange replies that carry the
//! server's host key, and SSH-1.5 packets (only their framing and message type). Pure parsing
//! of borrowed bytes with nom; no state and no allocation.

use nom::bytes::complete::take;
use nom::number::complete::{be_u32, be_u8};
use nom::IResult;

/// SSH-2 message numbers used here (RFC 4253, 4419, 4432, 4462, 5656).
pub mod msg {
    pub const KEXINIT: u8 = 20;
    pub const NEWKEYS: u8 = 21;
    /// KEXDH_REPLY, KEX_ECDH_REPLY and (in group exchange) KEX_DH_GEX_GROUP share 31.
    pub const KEXDH_REPLY: u8 = 31;
    pub const KEX_DH_GEX_REPLY: u8 = 33;
    pub const KEXRSA_PUBKEY: u8 = 30;
    pub const KEXGSS_HOSTKEY: u8 = 45;
    /// SSH-1: the client's session key, after which both sides encrypt.
    pub const SSH1_CMSG_SESSION_KEY: u8 = 3;
}

/// The identification line without its line end, if `line` is one ("SSH-protoversion-...").
pub fn identification(line: &[u8]) -> Option<&[u8]> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.get(..4)
        .filter(|p| p.eq_ignore_ascii_case(b"SSH-"))
        .map(|_| line)
}

/// One SSH-2 binary packet whose whole length is in `packet` (the 4-byte length included):
/// its message type and payload.
pub fn ssh2_packet(packet: &[u8]) -> IResult<&[u8], (u8, &[u8])> {
    let (i, len) = be_u32(packet)?;
    let (rest, body) = take(len)(i)?;
    let (b, padding) = be_u8(body)?;
    let (b, msg_type) = be_u8(b)?;
    let payload_len = (len as usize)
        .checked_sub(2 + padding as usize)
        .ok_or_else(|| nom::Err::Error(nom::error::Error::new(b, nom::error::ErrorKind::Verify)))?;
    let (_, payload) = take(payload_len)(b)?;
    Ok((rest, (msg_type, payload)))
}

/// The bytes an SSH-1.5 packet with length field `len` takes, the length field included:
/// 1 to 8 bytes of padding make the rest a multiple of 8.
pub fn ssh1_packet_size(len: u32) -> u64 {
    4 + len as u64 + 8 - (len as u64 % 8)
}

/// The message type of an SSH-1.5 packet whose whole length is in `packet`.
pub fn ssh1_msg_type(packet: &[u8], len: u32) -> Option<u8> {
    let padding = 8 - (len as usize % 8);
    packet.get(4 + padding).copied()
}

/// An SSH `string` (RFC 4251 section 5): a 32-bit length and that many bytes.
pub fn ssh_string(i: &[u8]) -> IResult<&[u8], &[u8]> {
    let (i, len) = be_u32(i)?;
    take(len)(i)
}

/// SSH_MSG_KEXINIT's name-lists, in wire order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KexInit<'a> {
    pub kex: &'a [u8],
    pub host_key: &'a [u8],
    pub cipher_c2s: &'a [u8],
    pub cipher_s2c: &'a [u8],
    pub mac_c2s: &'a [u8],
    pub mac_s2c: &'a [u8],
    pub compression_c2s: &'a [u8],
    pub compression_s2c: &'a [u8],
    pub languages_c2s: &'a [u8],
    pub languages_s2c: &'a [u8],
}

impl<'a> KexInit<'a> {
    /// The lists with the names Zeek's limits (and weirds) use for them.
    pub fn lists(&self) -> [(&'static str, &'a [u8]); 10] {
        [
            ("kex_algorithms", self.kex),
            ("hostkey_algorithms", self.host_key),
            ("encryption_algorithms", self.cipher_c2s),
            ("encryption_algorithms", self.cipher_s2c),
            ("mac_algorithms", self.mac_c2s),
            ("mac_algorithms", self.mac_s2c),
            ("compression_algorithms", self.compression_c2s),
            ("compression_algorithms", self.compression_s2c),
            ("languages", self.languages_c2s),
            ("languages", self.languages_s2c),
        ]
    }
}

/// The payload of SSH_MSG_KEXINIT (after the message type).
pub fn kexinit(payload: &[u8]) -> IResult<&[u8], KexInit<'_>> {
    let (i, _cookie) = take(16usize)(payload)?;
    let (i, kex) = ssh_string(i)?;
    let (i, host_key) = ssh_string(i)?;
    let (i, cipher_c2s) = ssh_string(i)?;
    let (i, cipher_s2c) = ssh_string(i)?;
    let (i, mac_c2s) = ssh_string(i)?;
    let (i, mac_s2c) = ssh_string(i)?;
    let (i, compression_c2s) = ssh_string(i)?;
    let (i, compression_s2c) = ssh_string(i)?;
    let (i, languages_c2s) = ssh_string(i)?;
    let (i, languages_s2c) = ssh_string(i)?;
    // first_kex_packet_follows and the reserved word are not used.
    Ok((
        i,
        KexInit {
            kex,
            host_key,
            cipher_c2s,
            cipher_s2c,
            mac_c2s,
            mac_s2c,
            compression_c2s,
            compression_s2c,
            languages_c2s,
            languages_s2c,
        },
    ))
}

/// The names of a name-list, as Zeek splits them: empty names are skipped.
pub fn names(list: &[u8]) -> impl Iterator<Item = &[u8]> {
    list.split(|&b| b == b',').filter(|n| !n.is_empty())
}

/// The server's host key (K_S): the first string of every reply that carries one.
pub fn host_key(payload: &[u8]) -> Option<&[u8]> {
    ssh_string(payload).ok().map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(s: &[u8]) -> Vec<u8> {
        let mut v = (s.len() as u32).to_be_bytes().to_vec();
        v.extend(s);
        v
    }

    #[test]
    fn identification_lines() {
        assert_eq!(
            identification(b"SSH-2.0-OpenSSH_5.9\r"),
            Some(&b"SSH-2.0-OpenSSH_5.9"[..])
        );
        assert_eq!(identification(b"ssh-1.99-x"), Some(&b"ssh-1.99-x"[..]));
        assert_eq!(identification(b"Welcome\r"), None);
        assert_eq!(identification(b"SS"), None);
    }

    #[test]
    fn a_binary_packet_and_its_payload() {
        // length 12: padding 4, type 21, payload 6 bytes, padding 4 bytes.
        let mut p = 12u32.to_be_bytes().to_vec();
        p.extend([4, 21, 1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 0xff]);
        let (rest, (t, payload)) = ssh2_packet(&p).unwrap();
        assert_eq!(
            (t, payload, rest),
            (21, &[1, 2, 3, 4, 5, 6][..], &[0xff][..])
        );
        // Padding longer than the packet is an error, never a panic.
        let mut bad = 3u32.to_be_bytes().to_vec();
        bad.extend([9, 21, 0]);
        assert!(ssh2_packet(&bad).is_err());
        assert!(ssh2_packet(&[0, 0, 0, 9, 1]).is_err());
    }

    #[test]
    fn kexinit_lists_and_names() {
        let mut p = vec![7u8; 16];
        for l in [
            &b"curve25519-sha256,,ecdh-sha2-nistp256"[..],
            b"ssh-ed25519",
            b"aes128-ctr",
            b"aes128-ctr",
            b"hmac-sha2-256",
            b"hmac-sha2-256",
            b"none,zlib@openssh.com",
            b"none",
            b"",
            b"",
        ] {
            p.extend(string(l));
        }
        p.extend([0, 0, 0, 0, 0]);
        let (_, k) = kexinit(&p).unwrap();
        assert_eq!(
            names(k.kex).collect::<Vec<_>>(),
            [&b"curve25519-sha256"[..], b"ecdh-sha2-nistp256"]
        );
        assert_eq!(
            k.lists()[6],
            ("compression_algorithms", &b"none,zlib@openssh.com"[..])
        );
        // Cut anywhere: an error.
        for n in 0..p.len() - 5 {
            assert!(kexinit(&p[..n]).is_err(), "{n}");
        }
    }

    #[test]
    fn ssh1_framing() {
        assert_eq!(ssh1_packet_size(8), 4 + 8 + 8);
        assert_eq!(ssh1_packet_size(13), 4 + 13 + 3);
        let mut p = 13u32.to_be_bytes().to_vec();
        p.extend([0, 0, 0, 3]);
        assert_eq!(ssh1_msg_type(&p, 13), Some(3));
        assert_eq!(ssh1_msg_type(&p[..5], 13), None);
    }

    #[test]
    fn host_key_is_the_first_string() {
        let mut p = string(b"KEY");
        p.extend(string(b"f"));
        assert_eq!(host_key(&p), Some(&b"KEY"[..]));
        assert_eq!(host_key(&[0, 0, 0, 9, 1]), None);
    }
}
