//! The programs the harness runs beside the test (chromedriver, nginx): each started in a
//! process group of its own, so that stopping it also stops what it started (the browsers,
//! nginx's workers).

use std::net::TcpListener;
use std::process::Child;

/// Asks the OS for a port on 127.0.0.1 where nothing listens. Another process could take it
/// before the program binds it, which on a test machine is rare enough to accept.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Kills `child`'s whole process group (started with `process_group(0)`) and reaps `child`.
pub(crate) fn kill_group(child: &mut Child) {
    let pid = child.id() as libc::pid_t;
    // SAFETY: plain syscall; the negative pid addresses the process group created at spawn,
    // which holds only this program and what it started.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
    let _ = child.wait();
}
