//! Tenants' JSONata, evaluated in worker processes: the expression engine
//! is a third party's and can be asked for any amount of memory in one
//! allocation (`$pad`, `$join`, a range), which no time limit stops and
//! which would end the server. A worker limits its own memory, so such an
//! expression ends the worker only; the engine answers the state with
//! `States.QueryEvaluationError` and starts another worker when one is
//! next needed. A worker that runs past its time is killed.
//!
//! Not every lost answer is the expression's doing: a worker that cannot
//! start, or one killed from outside (the kernel's out-of-memory killer,
//! an operator), is the host's, and [`Unanswered::Host`] says so, so that
//! the engine takes the decision again later instead of failing a
//! tenant's state for it.
//!
//! - `wire`: the frames on a worker's pipes.
//! - `worker`: the worker's side (`minicloud jsonata-worker`).

#[cfg(test)]
mod tests;
mod wire;
mod worker;

pub use worker::serve;

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use minicloud_asl::Failure;
use minicloud_asl::errors::QUERY_EVALUATION_ERROR;
use minicloud_asl::jsonata::Request;
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::process::Signal;
use serde_json::Value;

use wire::{Reply, frame_header, frame_length};

/// How much longer than its expressions' own time limit a worker gets
/// before it is killed: its expressions stop themselves between steps, so
/// only a long builtin (or a worker being started) needs this.
const GRACE: Duration = Duration::from_millis(500);

/// Workers, started when needed and kept for the next evaluation.
#[derive(Debug)]
pub struct JsonataWorkers {
    /// The `minicloud` binary.
    program: PathBuf,
    /// What each worker may allocate, MiB.
    memory_mib: u64,
    idle: Mutex<Vec<Worker>>,
}

/// Why a worker did not answer.
enum Fault {
    /// It ran past the deadline, and was killed.
    Late,
    /// It ended (ran out of memory or crashed), or its pipes failed: how,
    /// and whether something outside the worker ended it.
    Gone { how: String, from_outside: bool },
}

/// An evaluation that gave no value.
#[derive(Debug, Clone, PartialEq)]
pub enum Unanswered {
    /// The expression failed, or its worker ended or overran while
    /// evaluating it: the state's failure.
    Failed(Failure),
    /// The host failed it (no worker could start, or one was killed from
    /// outside): not the expression's doing. The failure says what
    /// happened, for when the host keeps failing.
    Host(Failure),
}

impl JsonataWorkers {
    /// Workers of `program` (the `minicloud` binary) that may each allocate
    /// `memory_mib` MiB.
    pub fn new(program: PathBuf, memory_mib: u64) -> Self {
        Self {
            program,
            memory_mib,
            idle: Mutex::default(),
        }
    }

    /// `request` evaluated by a worker. Blocks the thread: call it where
    /// blocking is allowed.
    pub fn evaluate(&self, request: &Request<'_>) -> Result<Value, Unanswered> {
        let fail = |what: String| {
            Failure::new(
                QUERY_EVALUATION_ERROR,
                format!("The JSONata of the field '{}' {what}", request.field),
            )
        };
        let body = serde_json::to_vec(request)
            .map_err(|e| Unanswered::Failed(fail(format!("cannot be sent to its worker: {e}"))))?;
        let deadline = Instant::now() + Duration::from_millis(request.timeout_ms) + GRACE;
        let kept = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        // A kept worker that has gone (killed from outside) gets a fresh
        // successor; a fresh one that fails is the expression's doing.
        let outcome = match kept.map(|worker| worker.call(&body, deadline)) {
            None | Some(Err(Fault::Gone { .. })) => self
                .spawn_retrying()
                .map_err(|e| Unanswered::Host(fail(format!("has no worker: {e}"))))?
                .call(&body, deadline),
            Some(outcome) => outcome,
        };
        match outcome {
            Ok((worker, reply)) => {
                self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(worker);
                Result::from(reply).map_err(Unanswered::Failed)
            }
            Err(Fault::Late) => Err(Unanswered::Failed(fail(format!(
                "ran for more than {} ms, and was stopped.",
                request.timeout_ms + GRACE.as_millis() as u64
            )))),
            Err(Fault::Gone { how, from_outside }) => {
                let failure = fail(format!(
                    "ended its evaluator, which may use {} MiB of memory ({how}).",
                    self.memory_mib
                ));
                Err(if from_outside {
                    Unanswered::Host(failure)
                } else {
                    Unanswered::Failed(failure)
                })
            }
        }
    }

    /// A new worker, tried three times: a host short of processes or
    /// files for a moment should not fail a tenant's state.
    fn spawn_retrying(&self) -> io::Result<Worker> {
        let mut tries = 0;
        loop {
            match self.spawn() {
                Ok(worker) => return Ok(worker),
                Err(e) if tries >= 2 => return Err(e),
                Err(e) => {
                    tries += 1;
                    tracing::warn!(error = %e, "cannot start a JSONata worker; trying again");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }

    /// A new worker; never while a hand-over has inheritable copies of the
    /// server's sockets, which it would hold.
    fn spawn(&self) -> io::Result<Worker> {
        let _no_sockets = crate::handover::no_inheritable_sockets();
        let mut child = Command::new(&self.program)
            .arg("jsonata-worker")
            .arg("--memory-mib")
            .arg(self.memory_mib.to_string())
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other("the worker's pipes were not opened"));
        };
        // Written to against the deadline: a worker that stops reading
        // (stopped, frozen) must not hold the thread.
        rustix::io::ioctl_fionbio(&stdin, true)?;
        Ok(Worker { child, stdin, stdout })
    }
}

impl Fault {
    /// A pipe or poll that failed: the worker's end, to be told apart by
    /// how it ended.
    fn gone(why: impl ToString) -> Self {
        Self::Gone {
            how: why.to_string(),
            from_outside: false,
        }
    }
}

/// One worker process and its pipes.
#[derive(Debug)]
struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
}

impl Worker {
    /// Sends `body` and reads the reply by `deadline`: the worker back,
    /// with its reply; one that fails is killed and reaped.
    fn call(mut self, body: &[u8], deadline: Instant) -> Result<(Self, Reply), Fault> {
        let frame = match self
            .write_until(body, deadline)
            .and_then(|()| self.read_until(deadline))
        {
            Ok(frame) => frame,
            Err(Fault::Late) => return Err(Fault::Late),
            // How it ended says more than the broken pipe; whether it was
            // killed says whose doing it was. A worker whose allocation is
            // refused aborts (SIGABRT), one that overflows its stack gets
            // SIGSEGV, and a panic exits: those are the expression's.
            // SIGKILL and SIGTERM come from outside (the out-of-memory
            // killer, an operator): checked before this kill of ours.
            Err(Fault::Gone { how, .. }) => {
                use std::os::unix::process::ExitStatusExt;
                let ended = match self.child.try_wait() {
                    Ok(Some(status)) => Some(status),
                    // Its pipe failed but it still runs: give it a moment.
                    _ => {
                        std::thread::sleep(Duration::from_millis(20));
                        self.child.try_wait().ok().flatten()
                    }
                };
                let from_outside = ended
                    .and_then(|s| s.signal())
                    .is_some_and(|n| [Signal::KILL, Signal::TERM].iter().any(|s| s.as_raw() == n));
                let _ = self.child.kill();
                let how = match ended {
                    Some(status) => status.to_string(),
                    None => self.child.wait().map_or(how, |status| status.to_string()),
                };
                return Err(Fault::Gone { how, from_outside });
            }
        };
        // A whole frame that does not read (a result nested deeper than the
        // reader takes) leaves the worker sound.
        let reply = serde_json::from_slice(&frame).unwrap_or_else(|e| Reply::Failed {
            error: QUERY_EVALUATION_ERROR.into(),
            cause: format!("its result cannot be read back: {e}"),
        });
        Ok((self, reply))
    }

    /// Sends `body` as one frame, or [`Fault::Late`] at `deadline`.
    fn write_until(&mut self, body: &[u8], deadline: Instant) -> Result<(), Fault> {
        let header = frame_header(body.len()).map_err(Fault::gone)?;
        for part in [&header[..], body] {
            let mut written = 0;
            while written < part.len() {
                wait(&self.stdin, PollFlags::OUT, deadline)?;
                match self.stdin.write(&part[written..]) {
                    Ok(n) => written += n,
                    Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
                    Err(e) => return Err(Fault::gone(e)),
                }
            }
        }
        Ok(())
    }

    /// One frame from the worker, or [`Fault::Late`] at `deadline`.
    fn read_until(&mut self, deadline: Instant) -> Result<Vec<u8>, Fault> {
        let mut header = [0u8; 4];
        self.fill(&mut header, deadline)?;
        let length = frame_length(header).map_err(Fault::gone)?;
        let mut body = vec![0u8; length];
        self.fill(&mut body, deadline)?;
        Ok(body)
    }

    /// Fills `buffer` from the worker's output, waiting no later than
    /// `deadline` for each part.
    fn fill(&mut self, buffer: &mut [u8], deadline: Instant) -> Result<(), Fault> {
        let mut filled = 0;
        while filled < buffer.len() {
            wait(&self.stdout, PollFlags::IN, deadline)?;
            match self.stdout.read(&mut buffer[filled..]) {
                Ok(0) => return Err(Fault::gone("its output ended")),
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Fault::gone(e)),
            }
        }
        Ok(())
    }
}

/// Waits until `pipe` is ready for `flags` (or has closed), or fails with
/// [`Fault::Late`] at `deadline`.
fn wait(pipe: &impl AsFd, flags: PollFlags, deadline: Instant) -> Result<(), Fault> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Fault::Late);
        }
        let timeout = Timespec::try_from(left).map_err(Fault::gone)?;
        let fd = pipe.as_fd();
        let mut fds = [PollFd::new(&fd, flags)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(0) => return Err(Fault::Late),
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(Fault::gone(e)),
        }
    }
}

impl Drop for Worker {
    /// Killed and reaped, so that no zombie stays.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
