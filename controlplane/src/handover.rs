//! Restarts without downtime: on SIGUSR2 a running server starts its
//! successor (the binary at the path it was started from, which may be a
//! new version, with the same arguments and environment) and hands it its
//! listening sockets. The successor opens everything, loads the functions
//! most likely to be called, and says it is ready; only then does the old
//! server stop accepting and drain. Connections never find the port
//! closed: until the old server stops accepting both processes accept on
//! the same socket, and after it only the successor does.
//!
//! The two processes talk over a Unix socket pair: the successor writes
//! [`READY`] on it, and reads end-of-file from it once the old server has
//! exited. A successor that exits, or is not ready within
//! [`READY_TIMEOUT`], is killed, and the old server goes on serving.
//!
//! The sockets pass as inherited file descriptors whose numbers are in the
//! [`HANDOVER_ENV`] environment variable, `listen,metrics,control` (`-`
//! for no metrics listener).

use anyhow::{Context, bail};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The environment variable that carries the inherited descriptors.
pub const HANDOVER_ENV: &str = "MINICLOUD_HANDOVER_FDS";
/// What a successor writes when it serves.
const READY: &[u8] = b"ready\n";
/// How long a successor may take to open everything and warm up.
pub const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// The listening sockets a server serves on, kept so that they can be
/// handed to a successor.
#[derive(Debug)]
pub struct Sockets {
    listen: OwnedFd,
    metrics: Option<OwnedFd>,
}

impl Sockets {
    /// Copies of the descriptors of `listen` and `metrics` (the sockets
    /// themselves stay with the server that accepts on them).
    pub fn of(listen: &impl AsFd, metrics: Option<&impl AsFd>) -> std::io::Result<Self> {
        Ok(Self {
            listen: listen.as_fd().try_clone_to_owned()?,
            metrics: metrics.map(|m| m.as_fd().try_clone_to_owned()).transpose()?,
        })
    }
}

/// The path to start a successor from, taken at start: `/proc/self/exe`
/// names a replaced binary `... (deleted)`, while the path finds the new
/// one.
pub fn executable() -> anyhow::Result<PathBuf> {
    std::env::current_exe().context("cannot find the path of the running binary")
}

/// A successor that said it is ready. Dropping it (when this process
/// exits) closes the control socket, which tells the successor that this
/// server is gone.
#[derive(Debug)]
pub struct Successor {
    /// Its process id.
    pub pid: u32,
    _control: tokio::net::UnixStream,
}

/// Starts a successor on `sockets` and waits until it is ready.
pub async fn hand_over(executable: &Path, sockets: &Sockets) -> anyhow::Result<Successor> {
    let (ours, theirs) = UnixStream::pair().context("cannot create the control socket")?;
    let child = start_successor(executable, sockets, theirs)?;
    let pid = child.id();
    let child = Starting(Some(child));
    ours.set_nonblocking(true)?;
    let mut ours = tokio::net::UnixStream::from_std(ours)?;
    let mut said = Vec::new();
    let outcome = tokio::time::timeout(READY_TIMEOUT, async {
        (&mut ours).take(READY.len() as u64).read_to_end(&mut said).await
    })
    .await;
    match outcome {
        Ok(Ok(_)) if said == READY => {
            child.serves();
            Ok(Successor { pid, _control: ours })
        }
        Ok(Ok(_)) => bail!("the successor (pid {pid}) exited before it was ready; its errors are in the log"),
        Ok(Err(e)) => Err(e).context("cannot read from the successor"),
        Err(_) => bail!("the successor (pid {pid}) was not ready within {READY_TIMEOUT:?}; it was stopped"),
    }
}

/// Held while this process has inheritable copies of its sockets; every
/// other start of a process here (JSONata workers) waits for it, so the
/// copies reach the successor only.
static INHERITABLE: RwLock<()> = RwLock::new(());

/// Waits until no inheritable copy of the server's sockets exists, and
/// keeps it so while the guard lives: hold it while starting a process
/// that is not a successor.
pub fn no_inheritable_sockets() -> RwLockReadGuard<'static, ()> {
    INHERITABLE.read().unwrap_or_else(|e| e.into_inner())
}

/// Starts the successor with inheritable copies of `sockets` and of its
/// end of the control socket, closed here once it has started.
fn start_successor(executable: &Path, sockets: &Sockets, theirs: UnixStream) -> anyhow::Result<Child> {
    let _only_the_successor = INHERITABLE.write().unwrap_or_else(|e| e.into_inner());
    let listen = inheritable(&sockets.listen)?;
    let metrics = sockets.metrics.as_ref().map(inheritable).transpose()?;
    let control = inheritable(&theirs)?;
    let fds = format!(
        "{},{},{}",
        listen.as_raw_fd(),
        metrics
            .as_ref()
            .map_or("-".to_owned(), |m| m.as_raw_fd().to_string()),
        control.as_raw_fd()
    );
    let spawned = Command::new(executable)
        .args(std::env::args_os().skip(1))
        .env(HANDOVER_ENV, fds)
        .spawn()
        .with_context(|| format!("cannot start {}", executable.display()));
    // This process's copies close now; the successor has its own.
    drop((listen, metrics, control, theirs));
    spawned
}

/// A successor not ready yet: killed and collected if the hand-over fails
/// or is abandoned (this server stopping meanwhile).
struct Starting(Option<Child>);

impl Starting {
    /// It serves: it outlives this process.
    fn serves(mut self) {
        self.0 = None;
    }
}

impl Drop for Starting {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A copy of `fd` that a started process inherits. Made only under
/// [`INHERITABLE`], which every other start of a process waits for, so the
/// copy cannot leak into another one; it is closed as soon as the
/// successor has started.
fn inheritable(fd: &impl AsFd) -> anyhow::Result<OwnedFd> {
    let copy = fd.as_fd().try_clone_to_owned()?;
    rustix::io::fcntl_setfd(&copy, rustix::io::FdFlags::empty())
        .context("cannot make a socket inheritable")?;
    Ok(copy)
}

/// What a successor received from the server it replaces.
#[derive(Debug)]
pub struct Inherited {
    /// The API and functions listener.
    pub listen: std::net::TcpListener,
    /// The metrics listener, when the server has one.
    pub metrics: Option<std::net::TcpListener>,
    /// The line to the server being replaced.
    pub control: Control,
}

impl Inherited {
    /// The sockets named in [`HANDOVER_ENV`], if this process was started
    /// as a successor.
    pub fn from_env() -> anyhow::Result<Option<Self>> {
        let Ok(value) = std::env::var(HANDOVER_ENV) else {
            return Ok(None);
        };
        let parts: Vec<&str> = value.split(',').collect();
        let [listen, metrics, control] = parts[..] else {
            bail!("{HANDOVER_ENV} must be `listen,metrics,control`, not {value:?}");
        };
        let listen = std::net::TcpListener::from(take(listen)?);
        let metrics = match metrics {
            "-" => None,
            fd => Some(std::net::TcpListener::from(take(fd)?)),
        };
        let control = Control(UnixStream::from(take(control)?));
        for socket in std::iter::once(&listen).chain(&metrics) {
            socket.set_nonblocking(true)?;
        }
        Ok(Some(Self {
            listen,
            metrics,
            control,
        }))
    }
}

/// A successor's line to the server it replaces.
#[derive(Debug)]
pub struct Control(UnixStream);

impl Control {
    /// Tells the old server that this one serves; the returned value
    /// resolves once the old server has exited.
    pub async fn ready(self) -> anyhow::Result<Predecessor> {
        self.0.set_nonblocking(true)?;
        let mut control = tokio::net::UnixStream::from_std(self.0)?;
        control
            .write_all(READY)
            .await
            .context("the server being replaced is gone")?;
        Ok(Predecessor { control })
    }
}

/// The server this one replaced, draining.
#[derive(Debug)]
pub struct Predecessor {
    control: tokio::net::UnixStream,
}

impl Predecessor {
    /// Waits until it has exited.
    pub async fn exited(mut self) {
        let mut rest = Vec::new();
        let _ = self.control.read_to_end(&mut rest).await;
    }
}

/// Takes ownership of an inherited descriptor, after checking that it is
/// open and not one of the standard streams.
fn take(number: &str) -> anyhow::Result<OwnedFd> {
    let fd: RawFd = number
        .parse()
        .with_context(|| format!("{HANDOVER_ENV} names {number:?}, not a file descriptor"))?;
    if fd < 3 {
        bail!("{HANDOVER_ENV} names descriptor {fd}, a standard stream");
    }
    #[allow(
        unsafe_code,
        reason = "the descriptor was made inheritable for this process by the server it replaces, and is taken once"
    )]
    let owned = unsafe {
        rustix::io::fcntl_getfd(std::os::fd::BorrowedFd::borrow_raw(fd))
            .with_context(|| format!("{HANDOVER_ENV} names descriptor {fd}, which is not open"))?;
        OwnedFd::from_raw_fd(fd)
    };
    rustix::io::fcntl_setfd(&owned, rustix::io::FdFlags::CLOEXEC)?;
    Ok(owned)
}

/// After the listener closes, how long open connections are still served
/// before hyper's graceful shutdown closes the idle ones. hyper closes a
/// connection that has sent nothing yet, and an HTTP/1.1 client may be
/// sending its next request on a kept-alive connection as it closes: in
/// this time, connections accepted last send their first request, and
/// every HTTP/1 answer tells its client to reconnect (`Connection: close`,
/// added by the API's request middleware while [`Draining::now`]).
pub const CLOSE_NOTICE: Duration = Duration::from_millis(250);

/// The API listener: accepts until told to stop, then closes (after a
/// hand-over only the successor accepts; otherwise new connections are
/// refused) and remembers when it last accepted.
#[derive(Debug)]
pub struct Accepting {
    listener: Option<tokio::net::TcpListener>,
    addr: std::net::SocketAddr,
    stop: tokio::sync::watch::Receiver<bool>,
    last_accept: Arc<std::sync::Mutex<Option<Instant>>>,
}

/// Stops an [`Accepting`] listener.
#[derive(Debug)]
pub struct StopAccepting {
    stop: tokio::sync::watch::Sender<bool>,
    last_accept: Arc<std::sync::Mutex<Option<Instant>>>,
}

impl Accepting {
    /// Wraps `listener`.
    pub fn new(listener: tokio::net::TcpListener) -> std::io::Result<(Self, StopAccepting)> {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let last_accept = Arc::default();
        let accepting = Self {
            addr: listener.local_addr()?,
            listener: Some(listener),
            stop: rx,
            last_accept: Arc::clone(&last_accept),
        };
        Ok((
            accepting,
            StopAccepting {
                stop: tx,
                last_accept,
            },
        ))
    }
}

impl StopAccepting {
    /// Closes the listener, then, if it ever accepted, waits
    /// [`CLOSE_NOTICE`] (counted from the last accept, if later).
    pub async fn stop(self) {
        let stopped = Instant::now();
        let _ = self.stop.send(true);
        let last = *self.last_accept.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(last) = last {
            tokio::time::sleep_until((last.max(stopped) + CLOSE_NOTICE).into()).await;
        }
    }

    /// Whether the listener was told to stop.
    pub fn draining(&self) -> Draining {
        Draining(self.stop.subscribe())
    }
}

/// Whether the server is draining (cheap to clone).
#[derive(Debug, Clone)]
pub struct Draining(tokio::sync::watch::Receiver<bool>);

impl Draining {
    /// Whether the listener has stopped accepting.
    pub fn now(&self) -> bool {
        *self.0.borrow()
    }

    /// Returns once the server drains (at once if it does already).
    pub async fn started(&mut self) {
        if self.0.wait_for(|stop| *stop).await.is_err() {
            // The listener is gone without a word: the server is ending.
        }
    }
}

impl axum::serve::Listener for Accepting {
    type Io = tokio::net::TcpStream;
    type Addr = Peer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Some(listener) = &mut self.listener else {
                return std::future::pending().await;
            };
            tokio::select! {
                biased;
                _ = self.stop.wait_for(|stop| *stop) => self.listener = None,
                (io, addr) = axum::serve::Listener::accept(listener) => {
                    *self.last_accept.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
                    // A response's head and its first body chunk are two
                    // writes when the body streams (a WASI 0.3 guest writes
                    // it after answering): with Nagle's algorithm the second
                    // waited for the client's delayed ACK, 40 ms a request.
                    if let Err(e) = io.set_nodelay(true) {
                        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
                    }
                    return (io, Peer(addr));
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(Peer(self.addr))
    }
}

/// A client's address, as handlers see it (`ConnectInfo<Peer>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub std::net::SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, Accepting>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, Accepting>) -> Self {
        *stream.remote_addr()
    }
}
