//! Tells a service manager (systemd's `Type=notify`) what the server is
//! doing, through the datagram socket named in `NOTIFY_SOCKET`: `READY=1`
//! once a cold start serves, `MAINPID=<pid>` when a hand-over's successor
//! serves (so the manager follows it, not the process that is leaving),
//! and `STOPPING=1` as a stop begins. Without `NOTIFY_SOCKET` nothing is
//! sent. The variable stays in the environment: a successor inherits it.

use std::os::unix::net::UnixDatagram;

/// The environment variable that names the service manager's socket.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Sends `message` (lines of `KEY=value`) to the service manager, if one
/// listens. A failure is logged: the server serves either way.
pub fn notify(message: &str) {
    let Some(path) = std::env::var_os(NOTIFY_SOCKET) else {
        return;
    };
    if let Err(e) = send(&path, message) {
        tracing::warn!(error = %e, socket = ?path, "cannot notify the service manager");
    }
}

fn send(path: &std::ffi::OsStr, message: &str) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let socket = UnixDatagram::unbound()?;
    match path.as_bytes() {
        // An abstract socket (Linux): `@name`.
        [b'@', name @ ..] => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            socket.send_to_addr(message.as_bytes(), &addr)?;
        }
        _ => {
            socket.send_to(message.as_bytes(), path)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::send;

    #[test]
    fn messages_reach_path_and_abstract_sockets() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("notify");
        let manager = std::os::unix::net::UnixDatagram::bind(&path).expect("a socket to listen on");
        send(path.as_os_str(), "READY=1").expect("sent to the path");
        let mut buf = [0u8; 64];
        let n = manager.recv(&mut buf).expect("received");
        assert_eq!(&buf[..n], b"READY=1");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("minicloud-test-{}", std::process::id());
        let addr =
            std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).expect("an abstract name");
        let manager = std::os::unix::net::UnixDatagram::bind_addr(&addr).expect("an abstract socket");
        send(std::ffi::OsStr::new(&format!("@{name}")), "STOPPING=1").expect("sent to the abstract socket");
        let n = manager.recv(&mut buf).expect("received");
        assert_eq!(&buf[..n], b"STOPPING=1");
    }
}
