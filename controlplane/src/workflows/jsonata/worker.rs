//! The worker's side: `minicloud jsonata-worker`, a process that applies
//! templates it reads on its standard input and writes the replies on its
//! standard output, one at a time, until its input ends.
//!
//! It limits its own memory before it reads anything: an expression that
//! asks for more fails its allocation, which ends the process (Rust aborts
//! on a failed allocation), and the engine answers the state with
//! `States.QueryEvaluationError`. It has no environment (the engine clears
//! it), opens no file and no socket, and prints nothing: a tenant's panic
//! message is not the operator's log.

use std::io::{self, BufReader, BufWriter};

use anyhow::Context;
use minicloud_asl::Failure;
use minicloud_asl::errors::QUERY_EVALUATION_ERROR;
use minicloud_asl::jsonata::Request;
use rustix::process::{Resource, Rlimit, setrlimit};

use super::wire::{Reply, read_frame, write_frame};

/// Serves requests until standard input ends, with at most `memory_mib`
/// MiB of data (heap and anonymous mappings).
pub fn serve(memory_mib: u64) -> anyhow::Result<()> {
    let bytes = memory_mib.saturating_mul(1024 * 1024);
    setrlimit(
        Resource::Data,
        Rlimit {
            current: Some(bytes),
            maximum: Some(bytes),
        },
    )
    .context("cannot limit the worker's memory")?;
    // An aborted worker leaves no core file behind.
    let none = Rlimit {
        current: Some(0),
        maximum: Some(0),
    };
    setrlimit(Resource::Core, none).context("cannot turn off the worker's core files")?;
    // When memory runs short, the kernel kills a worker before the
    // server (a kill it makes is the host's failure, taken again: see
    // `Unanswered::Host`). Where the score cannot be written, the
    // kernel's own choice stands.
    let _ = std::fs::write("/proc/self/oom_score_adj", "1000");
    std::panic::set_hook(Box::new(|_| {}));
    let mut input = BufReader::new(io::stdin().lock());
    let mut output = BufWriter::new(io::stdout().lock());
    while let Some(frame) = read_frame(&mut input)? {
        let result = serde_json::from_slice::<Request<'static>>(&frame)
            .map_err(|e| {
                Failure::new(
                    QUERY_EVALUATION_ERROR,
                    format!("the worker cannot read the request: {e}"),
                )
            })
            .and_then(|request| request.apply());
        let reply = serde_json::to_vec(&Reply::from(result))?;
        write_frame(&mut output, &reply)?;
    }
    Ok(())
}
