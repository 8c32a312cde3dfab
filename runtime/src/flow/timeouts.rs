//! Zeek's default connection timers, in microseconds of network time.

pub const SEC: i64 = 1_000_000;
/// tcp_inactivity_timeout: an established TCP connection idle this long is removed.
pub const TCP_INACTIVITY: i64 = 300 * SEC;
/// Until the handshake completes Zeek applies the UDP timeout to TCP as well.
pub const TCP_HANDSHAKE_INACTIVITY: i64 = 60 * SEC;
/// udp_inactivity_timeout.
pub const UDP_INACTIVITY: i64 = 60 * SEC;
/// icmp_inactivity_timeout.
pub const ICMP_INACTIVITY: i64 = 60 * SEC;
/// Inactivity timeout for other IP protocols.
pub const OTHER_INACTIVITY: i64 = 60 * SEC;
/// tcp_attempt_delay: an unanswered SYN is given up after this long.
pub const TCP_ATTEMPT_DELAY: i64 = 5 * SEC;
/// tcp_SYN_timeout: first check of a new TCP connection.
pub const TCP_SYN_TIMEOUT: i64 = 5 * SEC;
/// tcp_session_timer: period of later checks.
pub const TCP_SESSION_TIMER: i64 = 6 * SEC;
/// tcp_connection_linger: how long a closed connection may still see packets.
pub const TCP_CONNECTION_LINGER: i64 = 5 * SEC;
/// tcp_close_delay: removal delay once both sides closed.
pub const TCP_CLOSE_DELAY: i64 = 5 * SEC;
