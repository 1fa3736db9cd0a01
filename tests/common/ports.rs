//! Loopback ports for servers whose address must be known before they
//! start (a config that names it, a redirect registered at the issuer).
//!
//! Binding port 0 and letting go hands back a port from the kernel's
//! ephemeral range, where any test's next bind to port 0, or any outgoing
//! connection, may take it before the server binds it: a test that fails
//! now and then with "address already in use". The kernel never hands out
//! a port below that range by itself, so these come from there, each call
//! of this process a different one, and each checked free when handed out.

use std::net::TcpListener;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use rand::Rng;

/// The lowest port handed out: clear of the well-known and of most
/// services' registered ports.
const LOWEST: u16 = 10_000;

/// A loopback port nothing listens on now, below the ephemeral range, that
/// no other call in this process has returned.
pub fn free_port() -> u16 {
    static START: OnceLock<u32> = OnceLock::new();
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let Some(end) = ephemeral_start().filter(|&e| e > LOWEST + 1_000) else {
        // A range that leaves no room below: the kernel's pick, as before.
        return kernel_pick();
    };
    let span = u32::from(end - LOWEST);
    // Another test binary running alongside walks from elsewhere.
    let start = *START.get_or_init(|| rand::rng().random_range(0..span));
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(n < span, "no free loopback port below {end}");
        let port = LOWEST + u16::try_from((start + n) % span).expect("below the range's start");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The first port of the kernel's ephemeral range, if it says.
fn ephemeral_start() -> Option<u16> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn kernel_pick() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a loopback port")
        .port()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_come_from_below_the_kernels_range_once_each() {
        let Some(end) = ephemeral_start().filter(|&e| e > LOWEST + 1_000) else {
            panic!("this kernel's ephemeral range leaves no room below it");
        };
        let ours: Vec<u16> = (0..64).map(|_| free_port()).collect();
        let mut sorted = ours.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ours.len(), "a port handed out twice");
        assert!(ours.iter().all(|p| (LOWEST..end).contains(p)), "{ours:?}");
        // What other tests do meanwhile never lands on one of ours.
        let held: Vec<TcpListener> = (0..256)
            .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind port 0"))
            .collect();
        for l in &held {
            let port = l.local_addr().expect("its address").port();
            assert!(!ours.contains(&port), "port 0 handed out {port}");
        }
    }
}
