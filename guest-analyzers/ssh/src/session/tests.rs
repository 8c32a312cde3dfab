//! The session on exchanges built packet by packet (the protocol's own encoding, not captured
//! bytes); tests/corpus.rs runs the real traces.

use super::*;

const T: f64 = 1000.0;

fn string(s: &[u8]) -> Vec<u8> {
    let mut v = (s.len() as u32).to_be_bytes().to_vec();
    v.extend(s);
    v
}

/// An SSH-2 binary packet: length, padding length, type, payload, 4 bytes of padding.
fn packet(msg_type: u8, payload: &[u8]) -> Vec<u8> {
    let len = 1 + 1 + payload.len() + 4;
    let mut p = (len as u32).to_be_bytes().to_vec();
    p.extend([4, msg_type]);
    p.extend(payload);
    p.extend([0; 4]);
    p
}

fn kexinit(kex: &str, host_key: &str, cipher: &str, mac: &str, compression: &str) -> Vec<u8> {
    let mut p = vec![0x11; 16];
    for l in [
        kex,
        host_key,
        cipher,
        cipher,
        mac,
        mac,
        compression,
        compression,
        "",
        "",
    ] {
        p.extend(string(l.as_bytes()));
    }
    p.extend([0, 0, 0, 0, 0]);
    packet(msg::KEXINIT, &p)
}

/// A session after both identification lines, both KEXINITs, the ECDH reply and both NEWKEYS.
fn through_key_exchange(compression: &str) -> (Session, Vec<Effects>) {
    let mut s = Session::new(true, false, false);
    let mut fx = Vec::new();
    fx.push(s.deliver(false, b"SSH-2.0-OpenSSH_9.2\r\n", T));
    let mut client = b"SSH-2.0-OpenSSH_9.7\r\n".to_vec();
    client.extend(kexinit(
        "sntrup761x25519-sha512@openssh.com,curve25519-sha256",
        "ssh-ed25519,rsa-sha2-512",
        "aes128-ctr,aes256-gcm@openssh.com",
        "hmac-sha2-256",
        compression,
    ));
    fx.push(s.deliver(true, &client, T + 1.0));
    fx.push(s.deliver(
        false,
        &kexinit(
            "curve25519-sha256,sntrup761x25519-sha512@openssh.com",
            "rsa-sha2-512,ssh-ed25519",
            "aes256-gcm@openssh.com,aes128-ctr",
            "hmac-sha2-256",
            "none,zlib@openssh.com",
        ),
        T + 2.0,
    ));
    fx.push(s.deliver(true, &packet(30, &string(b"client ephemeral")), T + 3.0));
    let mut reply = string(b"abc");
    reply.extend(string(b"server ephemeral"));
    reply.extend(string(b"signature"));
    let mut server = packet(msg::KEXDH_REPLY, &reply);
    server.extend(packet(msg::NEWKEYS, &[]));
    fx.push(s.deliver(false, &server, T + 4.0));
    fx.push(s.deliver(true, &packet(msg::NEWKEYS, &[]), T + 5.0));
    (s, fx)
}

#[test]
fn identification_key_exchange_and_host_key() {
    let (mut s, fx) = through_key_exchange("none");
    // NEWKEYS confirms (the server's, which comes first), not the identification lines.
    let confirmed: Vec<_> = fx.iter().map(|f| f.confirm).collect();
    assert_eq!(confirmed, [false, false, false, false, true, false]);
    assert!(fx.iter().all(|f| f.violation.is_none()));
    assert_eq!(
        fx[0].events,
        [(T, SshEvent::ServerVersion("SSH-2.0-OpenSSH_9.2".into()))]
    );
    let fp = "SHA256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qc";
    assert_eq!(
        fx[4].events,
        [(T + 4.0, SshEvent::ServerHostKey(fp.into()))]
    );
    let end = s.finish();
    assert_eq!(
        end.rows,
        [Info {
            ts: T,
            version: Some(2),
            auth_success: None,
            auth_attempts: 0,
            client: Some("SSH-2.0-OpenSSH_9.7".into()),
            server: Some("SSH-2.0-OpenSSH_9.2".into()),
            // The client's first choice the server also offers.
            cipher_alg: Some("aes128-ctr".into()),
            mac_alg: Some("hmac-sha2-256".into()),
            compression_alg: Some("none".into()),
            kex_alg: Some("sntrup761x25519-sha512@openssh.com".into()),
            host_key_alg: Some("ssh-ed25519".into()),
            host_key_fingerprint: Some(fp.into()),
        }]
    );
    assert_eq!(s.direction(), Some("OUTBOUND"));
    assert!(s.finish().rows.is_empty(), "logged once");
}

/// The server's encrypted packet sizes after the key exchange: service accept, the failure
/// answering the "none" probe, `failures` failed attempts, then a success (or not).
fn authenticate(compression: &str, failures: usize, success: bool) -> (Session, Vec<Effects>) {
    let (mut s, _) = through_key_exchange(compression);
    let mut fx = Vec::new();
    let mut exchange = |s: &mut Session, server_len: usize| {
        fx.push(s.deliver(true, &[0; 64], T + 10.0));
        fx.push(s.deliver(false, &vec![0; server_len], T + 11.0));
    };
    exchange(&mut s, 52); // SERVICE_ACCEPT
    exchange(&mut s, 84); // USERAUTH_FAILURE (the "none" probe)
    for _ in 0..failures {
        exchange(&mut s, 84);
    }
    if success {
        exchange(&mut s, 36); // USERAUTH_SUCCESS: 16 bytes shorter than SERVICE_ACCEPT
    }
    (s, fx)
}

#[test]
fn a_success_after_two_failures_is_logged_at_once() {
    let (mut s, fx) = authenticate("none", 2, true);
    let events: Vec<_> = fx
        .iter()
        .flat_map(|f| f.events.iter().map(|e| &e.1))
        .collect();
    assert_eq!(
        events,
        [
            &SshEvent::AuthAttempted(false),
            &SshEvent::AuthAttempted(false),
            &SshEvent::AuthAttempted(true),
            &SshEvent::AuthResult(true, 3),
        ]
    );
    let rows: Vec<_> = fx.iter().flat_map(|f| f.rows.iter()).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].auth_success, rows[0].auth_attempts),
        (Some(true), 3)
    );
    assert!(s.finish().rows.is_empty(), "already logged");
    // Later encrypted data changes nothing.
    assert_eq!(s.deliver(false, &[0; 84], T + 20.0), Effects::default());
}

#[test]
fn failures_only_are_logged_at_the_end_as_failed() {
    let (mut s, fx) = authenticate("none", 3, false);
    assert!(fx.iter().all(|f| f.rows.is_empty()));
    let end = s.finish();
    assert_eq!(
        end.events.iter().map(|e| &e.1).collect::<Vec<_>>(),
        [&SshEvent::AuthFailed, &SshEvent::AuthResult(false, 3)]
    );
    assert_eq!(
        (end.rows[0].auth_success, end.rows[0].auth_attempts),
        (Some(false), 3)
    );
}

#[test]
fn compression_hides_the_outcome() {
    let (mut s, _) = authenticate("zlib@openssh.com", 1, true);
    let row = &s.finish().rows[0];
    assert_eq!(row.compression_alg.as_deref(), Some("zlib@openssh.com"));
    assert_eq!((row.auth_success, row.auth_attempts), (None, 0));
}

#[test]
fn a_one_sided_capture_logs_what_it_saw() {
    let mut s = Session::new(false, false, false);
    s.deliver(true, b"SSH-2.0-OpenSSH_5.9\r\n", T);
    s.deliver(true, &kexinit("a", "b", "c", "d", "none"), T);
    let row = &s.finish().rows[0];
    assert_eq!(row.client.as_deref(), Some("SSH-2.0-OpenSSH_5.9"));
    assert_eq!((row.version, row.kex_alg.as_deref()), (None, None));
    assert_eq!(s.direction(), None);
}

#[test]
fn a_server_may_talk_before_its_identification_but_a_client_may_not() {
    let mut s = Session::new(false, true, false);
    let fx = s.deliver(false, b"Welcome!\r\nPlease behave.\r\nSSH-2.0-x\r\n", T);
    assert_eq!(
        fx.events,
        [(T, SshEvent::ServerVersion("SSH-2.0-x".into()))]
    );
    assert!(fx.violation.is_none());
    let mut c = Session::new(false, true, false);
    let fx = c.deliver(true, b"GET / HTTP/1.1\r\n", T);
    assert_eq!(
        fx.weirds,
        [("malformed_ssh_identification".to_string(), String::new())]
    );
    assert!(fx.violation.is_some() && !fx.confirm);
    assert_eq!(c.deliver(true, b"SSH-2.0-late\r\n", T), Effects::default());
}

#[test]
fn oversized_packets_and_lines_are_refused() {
    let mut s = Session::new(false, false, false);
    s.deliver(false, b"SSH-2.0-a\r\n", T);
    s.deliver(true, b"SSH-2.0-b\r\n", T);
    let fx = s.deliver(true, &(MAX_PACKET_BUFFER + 1).to_be_bytes(), T);
    assert_eq!(fx.weirds[0].0, "SSH_max_packet_length_exceeded");
    assert!(fx.violation.is_some());
    let mut l = Session::new(false, false, false);
    let fx = l.deliver(true, &vec![b'S'; MAX_LINE + 1], T);
    assert!(fx.violation.is_some());
}

#[test]
fn limits_as_options_give_zeeks_weirds_then_a_violation() {
    let limits = Limits::from_options(|name| match name {
        "max_packet_length" => Some("60".into()),
        "max_string_length" => Some("20".into()),
        "max_kexinit_mac_algorithms" => Some("1".into()),
        _ => None,
    });
    assert_eq!(limits.max_kexinit[0], 1024);
    let mut s = Session::with_limits(false, false, false, limits);
    s.deliver(false, b"SSH-2.0-a\r\n", T);
    s.deliver(true, b"SSH-2.0-b\r\n", T);
    let k = kexinit(
        "curve25519-sha256,curve25519-sha256@libssh.org",
        "x",
        "y",
        "m1,m2",
        "none",
    );
    let len = u32::from_be_bytes(k[..4].try_into().unwrap());
    let fx = s.deliver(true, &k, T);
    let weirds: Vec<_> = fx
        .weirds
        .iter()
        .map(|(n, a)| (n.as_str(), a.as_str()))
        .collect();
    assert_eq!(
        weirds,
        [
            (
                "SSH_max_packet_length_exceeded",
                format!("{len} > 60").as_str()
            ),
            ("SSH_max_string_length_exceeded", "46 > 20"),
            ("SSH_max_kexinit_mac_algorithms_exceeded", "2 > 1"),
        ]
    );
    assert!(fx.violation.is_some());
    // 0 is no limit.
    let none = Limits::from_options(|_| Some("0".into()));
    let mut s = Session::with_limits(false, false, false, none);
    s.deliver(false, b"SSH-2.0-a\r\n", T);
    s.deliver(true, b"SSH-2.0-b\r\n", T);
    assert_eq!(s.deliver(true, &k, T), Effects::default());
}

#[test]
fn ssh1_ends_the_cleartext_at_the_first_key_exchange_packet() {
    let mut s = Session::new(false, false, false);
    s.deliver(false, b"SSH-1.99-OpenSSH_6.6.1p1\n", T);
    s.deliver(true, b"SSH-1.5-OpenSSH_6.2\n", T);
    // Length 13: 3 bytes of padding, type 3 (the session key), data and CRC.
    let mut key = 13u32.to_be_bytes().to_vec();
    key.extend([0, 0, 0, msg::SSH1_CMSG_SESSION_KEY]);
    key.extend([0; 12]);
    s.deliver(true, &key, T);
    let row = &s.finish().rows[0];
    assert_eq!(row.version, Some(1));
    assert_eq!(row.cipher_alg, None);
}

#[test]
fn a_connection_picked_up_midstream_is_not_parsed() {
    let mut s = Session::new(true, false, true);
    assert_eq!(s.deliver(true, b"\x00\x01garbage\n", T), Effects::default());
    assert!(s.finish().rows.is_empty());
}

#[test]
fn a_gap_stops_the_analysis() {
    let mut s = Session::new(false, false, false);
    s.gap();
    assert_eq!(s.deliver(true, b"SSH-2.0-a\r\n", T), Effects::default());
    assert!(s.finish().rows.is_empty());
}

#[test]
fn any_cut_of_an_exchange_never_panics() {
    let mut all = b"SSH-2.0-a\r\n".to_vec();
    all.extend(kexinit("x", "y", "z", "w", "none"));
    all.extend(packet(msg::NEWKEYS, &[]));
    for cut in 0..all.len() {
        let mut s = Session::new(true, true, false);
        s.deliver(false, b"SSH-2.0-s\r\n", T);
        s.deliver(true, &all[..cut], T);
        s.deliver(true, &all[cut..], T);
        s.finish();
    }
}

#[test]
fn versions_as_zeek_logs_them() {
    assert_eq!(logged_version("SSH-2.0-a", "SSH-1.99-b"), Some(2));
    assert_eq!(logged_version("SSH-1.5-a", "SSH-1.99-b"), Some(1));
    assert_eq!(logged_version("SSH-1.99-a", "SSH-1.99-b"), Some(2));
    assert_eq!(logged_version("SSH-1.5-a", "SSH-2.0-b"), Some(0));
    assert_eq!(logged_version("SSH-", "SSH-2.0-b"), None);
    assert_eq!(spoken(Proto::V1, Proto::V199), Proto::V1);
    assert_eq!(spoken(Proto::V1, Proto::V2), Proto::Unknown);
}
