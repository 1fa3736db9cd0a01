//! Loopback ports for servers whose address must be known before they
//! start (a config that names it, a redirect registered at the issuer).
//!
//! Binding port 0 and letting go hands back a port from the kernel's
//! ephemeral range, where any test's next bind to port 0, or any outgoing
//! connection, may take it before the server binds it: a test that fails
//! now and then with "address already in use". The kernel never hands out
//! a port outside that range by itself, so these come from outside it
//! (below it, or above it where a machine's range leaves no room below),
//! each call of this process a different one, each checked free when
//! handed out.

use std::net::TcpListener;
use std::ops::Range;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use rand::Rng;

/// The lowest port handed out: clear of the well-known and of most
/// services' registered ports.
const LOWEST: u16 = 10_000;

/// The fewest ports a window outside the kernel's range must hold to be
/// walked.
const ROOM: u16 = 1_000;

/// A loopback port nothing listens on now, outside the kernel's ephemeral
/// range, that no other call in this process has returned.
pub fn free_port() -> u16 {
    static START: OnceLock<u32> = OnceLock::new();
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let Some(window) = outside_the_kernels_range() else {
        // No room outside the range on this machine: the kernel's pick.
        return kernel_pick();
    };
    let span = u32::from(window.end - window.start);
    // Another test binary running alongside walks from elsewhere.
    let start = *START.get_or_init(|| rand::rng().random_range(0..span));
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(n < span, "no free loopback port in {window:?}");
        let port = window.start + u16::try_from((start + n) % span).expect("inside the window");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The ports this module walks: below the kernel's ephemeral range from
/// [`LOWEST`], else above it, whichever holds [`ROOM`]; `None` when
/// neither does or the kernel does not say.
fn outside_the_kernels_range() -> Option<Range<u16>> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut bounds = text.split_whitespace().map(str::parse::<u16>);
    window_outside(bounds.next()?.ok()?, bounds.next()?.ok()?)
}

/// [`outside_the_kernels_range`] for the range `first..=last`.
fn window_outside(first: u16, last: u16) -> Option<Range<u16>> {
    if first >= LOWEST + ROOM {
        Some(LOWEST..first)
    } else if last < u16::MAX - ROOM {
        Some(last + 1..u16::MAX)
    } else {
        None
    }
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
    fn ports_come_from_outside_the_kernels_range_once_each() {
        let Some(window) = outside_the_kernels_range() else {
            // Not a pass: this machine's ephemeral range covers every
            // port, so there is nothing here to hold `free_port` to.
            eprintln!("skipped: the kernel's ephemeral range leaves no room outside it");
            return;
        };
        let ours: Vec<u16> = (0..64).map(|_| free_port()).collect();
        let mut sorted = ours.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ours.len(), "a port handed out twice");
        assert!(ours.iter().all(|p| window.contains(p)), "{ours:?}");
        // What other tests do meanwhile never lands on one of ours.
        let held: Vec<TcpListener> = (0..256)
            .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind port 0"))
            .collect();
        for l in &held {
            let port = l.local_addr().expect("its address").port();
            assert!(!ours.contains(&port), "port 0 handed out {port}");
        }
    }

    /// The window lies outside the kernel's range, whatever range a
    /// machine sets.
    #[test]
    fn the_window_never_overlaps_the_kernels_range() {
        assert_eq!(window_outside(32768, 60999), Some(LOWEST..32768));
        assert_eq!(window_outside(1024, 60999), Some(61000..u16::MAX));
        assert_eq!(window_outside(1024, 65535), None);
        for first in (0..=u16::MAX).step_by(97) {
            for last in (first..=u16::MAX).step_by(89) {
                if let Some(w) = window_outside(first, last) {
                    assert!(w.end <= first || w.start > last, "{first}..={last}: {w:?}");
                    assert!(w.len() >= usize::from(ROOM), "{first}..={last}: {w:?}");
                }
            }
        }
    }
}
