//! Running outside programs (`ssh -V`, `ssh -G`) with a timeout and an output cap, so a
//! hung or chatty child can never stall or flood the doctor.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

/// What a finished child printed.
#[derive(Debug, Clone)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// True when output beyond the cap was dropped.
    pub truncated: bool,
}

/// Errors running a child.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    #[error("could not start {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{program} did not finish within {secs:.1} s and was stopped")]
    Timeout { program: String, secs: f64 },
    #[error("waiting for {program} failed: {source}")]
    Wait {
        program: String,
        source: std::io::Error,
    },
}

fn read_capped(
    mut r: impl Read + Send + 'static,
    cap: usize,
) -> std::thread::JoinHandle<(Vec<u8>, bool)> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        let mut truncated = false;
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = cap.saturating_sub(out.len());
                    if n > room {
                        truncated = true;
                    }
                    out.extend_from_slice(&buf[..n.min(room)]);
                }
            }
        }
        (out, truncated)
    })
}

/// Runs `cmd` with no stdin, keeping at most `cap` bytes of each output stream, killing
/// it after `timeout`.
pub fn run(cmd: &mut Command, timeout: Duration, cap: usize) -> Result<Output, ProcError> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| ProcError::Spawn {
            program: program.clone(),
            source,
        })?;
    let out = child.stdout.take().map(|s| read_capped(s, cap));
    let err = child.stderr.take().map(|s| read_capped(s, cap));
    use wait_timeout::ChildExt;
    let status = match child.wait_timeout(timeout) {
        Ok(Some(status)) => status,
        Ok(None) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(ProcError::Timeout {
                program,
                secs: timeout.as_secs_f64(),
            });
        }
        Err(source) => return Err(ProcError::Wait { program, source }),
    };
    let (stdout, t1) = out.and_then(|h| h.join().ok()).unwrap_or_default();
    let (stderr, t2) = err.and_then(|h| h.join().ok()).unwrap_or_default();
    Ok(Output {
        status,
        stdout,
        stderr,
        truncated: t1 || t2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hung_child_is_stopped() {
        let started = std::time::Instant::now();
        let r = run(
            Command::new("sleep").arg("10"),
            Duration::from_millis(200),
            100,
        );
        assert!(matches!(r, Err(ProcError::Timeout { .. })));
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn output_is_capped() {
        let r = run(
            Command::new("sh").args(["-c", "yes | head -c 100000"]),
            Duration::from_secs(5),
            1000,
        )
        .unwrap();
        assert_eq!(r.stdout.len(), 1000);
        assert!(r.truncated);
    }

    #[test]
    fn missing_program_is_an_error() {
        assert!(matches!(
            run(
                &mut Command::new("/nonexistent/ssh"),
                Duration::from_secs(1),
                10
            ),
            Err(ProcError::Spawn { .. })
        ));
    }
}
