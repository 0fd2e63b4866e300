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

/// A child started at once whose outputs are collected later, on the async runtime: no
/// thread per child or per pipe, so several children can start in the same instant and
/// run while the caller does other work. Same cap and timeout as [`run`]; the timeout
/// counts from the start, and a child still running when this is dropped is killed.
pub struct Started {
    program: String,
    child: tokio::process::Child,
    deadline: tokio::time::Instant,
    timeout: Duration,
    cap: usize,
}

/// Starts `cmd` with no stdin and both outputs piped (see [`Started`]). Must be called
/// within a Tokio runtime.
pub fn start(
    cmd: &mut tokio::process::Command,
    timeout: Duration,
    cap: usize,
) -> Result<Started, ProcError> {
    let program = cmd.as_std().get_program().to_string_lossy().into_owned();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| ProcError::Spawn {
            program: program.clone(),
            source,
        })?;
    Ok(Started {
        program,
        child,
        deadline: tokio::time::Instant::now() + timeout,
        timeout,
        cap,
    })
}

impl Started {
    /// The child's process id, while it runs.
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits for the child and what it printed, or stops it at the deadline.
    pub async fn finish(mut self) -> Result<Output, ProcError> {
        let (stdout, stderr) = (self.child.stdout.take(), self.child.stderr.take());
        let cap = self.cap;
        let both = async {
            tokio::join!(
                read_capped_async(stdout, cap),
                read_capped_async(stderr, cap),
                self.child.wait()
            )
        };
        match tokio::time::timeout_at(self.deadline, both).await {
            Ok(((stdout, t1), (stderr, t2), Ok(status))) => Ok(Output {
                status,
                stdout,
                stderr,
                truncated: t1 || t2,
            }),
            Ok((_, _, Err(source))) => Err(ProcError::Wait {
                program: self.program,
                source,
            }),
            Err(_) => {
                let _ = self.child.start_kill();
                let _ = self.child.wait().await;
                Err(ProcError::Timeout {
                    program: self.program,
                    secs: self.timeout.as_secs_f64(),
                })
            }
        }
    }
}

/// Reads a pipe to its end, keeping at most `cap` bytes (the rest is drained, so the child
/// never blocks on a full pipe).
async fn read_capped_async(
    pipe: Option<impl tokio::io::AsyncRead + Unpin>,
    cap: usize,
) -> (Vec<u8>, bool) {
    use tokio::io::AsyncReadExt;
    let Some(mut pipe) = pipe else {
        return (Vec::new(), false);
    };
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let mut truncated = false;
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = cap.saturating_sub(out.len());
                truncated |= n > room;
                out.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    (out, truncated)
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

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn tokio_cmd(program: &str, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(program);
        c.args(args);
        c
    }

    /// The `ssh -G` children run below the doctor's own priority (runner::DashGRun).
    #[cfg(unix)]
    #[test]
    fn a_started_child_can_be_lowered_below_the_doctor() {
        rt().block_on(async {
            let c = start(&mut tokio_cmd("sleep", &["5"]), Duration::from_secs(10), 10).unwrap();
            let pid = c.id().expect("running");
            // SAFETY: getpriority takes plain integers.
            let of = |who: u32| unsafe { libc::getpriority(libc::PRIO_PROCESS, who as libc::id_t) };
            let own = of(0);
            assert_eq!(of(pid), own, "a child starts at its parent's priority");
            crate::platform::lower_priority(pid, 5);
            assert_eq!(of(pid), (own + 5).min(19));
            assert_eq!(of(0), own, "the doctor itself keeps its priority");
        });
    }

    #[test]
    fn a_started_child_gives_both_outputs_and_its_status() {
        let out = rt()
            .block_on(async {
                let c = start(
                    &mut tokio_cmd("sh", &["-c", "echo out; echo err >&2; exit 3"]),
                    Duration::from_secs(5),
                    100,
                )?;
                c.finish().await
            })
            .unwrap();
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
        assert_eq!(out.status.code(), Some(3));
        assert!(!out.truncated);
    }

    #[test]
    fn a_hung_started_child_is_stopped_at_its_deadline() {
        let started = std::time::Instant::now();
        let r = rt().block_on(async {
            let c = start(
                &mut tokio_cmd("sleep", &["10"]),
                Duration::from_millis(200),
                100,
            )?;
            c.finish().await
        });
        assert!(matches!(r, Err(ProcError::Timeout { secs, .. }) if secs == 0.2));
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn a_started_child_keeps_running_while_the_caller_works() {
        // The deadline counts from the start, not from the wait: work done meanwhile
        // (here 300 ms) is not added to the child's allowance.
        let started = std::time::Instant::now();
        let r = rt().block_on(async {
            let c = start(
                &mut tokio_cmd("sleep", &["10"]),
                Duration::from_millis(400),
                100,
            )?;
            std::thread::sleep(Duration::from_millis(300));
            c.finish().await
        });
        assert!(matches!(r, Err(ProcError::Timeout { .. })));
        let took = started.elapsed();
        assert!(took < Duration::from_millis(650), "took {took:?}");
    }

    #[test]
    fn a_started_childs_output_is_capped_and_drained() {
        // 100 kB is more than a pipe holds: without draining, the child would block and
        // the wait would end in the timeout instead.
        let out = rt()
            .block_on(async {
                let c = start(
                    &mut tokio_cmd("sh", &["-c", "yes | head -c 100000; echo done >&2"]),
                    Duration::from_secs(5),
                    1000,
                )?;
                c.finish().await
            })
            .unwrap();
        assert_eq!(out.stdout.len(), 1000);
        assert!(out.truncated);
        assert_eq!(out.stderr, b"done\n");
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_started_child_that_is_dropped_is_killed() {
        let rt = rt();
        let pid = rt.block_on(async {
            let c = start(
                &mut tokio_cmd("sleep", &["10"]),
                Duration::from_secs(30),
                100,
            )
            .unwrap();
            c.child.id().unwrap()
        });
        drop(rt);
        // Killed and, once the runtime is gone, no longer running.
        let gone = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| s.split(") ").nth(1).is_some_and(|r| r.starts_with('Z')))
                .unwrap_or(true)
        });
        assert!(
            gone,
            "sleep {pid} still running after its Started was dropped"
        );
    }

    #[test]
    fn a_missing_program_cannot_be_started() {
        let r = rt().block_on(async {
            start(
                &mut tokio::process::Command::new("/nonexistent/ssh"),
                Duration::from_secs(1),
                10,
            )
            .map(|_| ())
        });
        assert!(matches!(r, Err(ProcError::Spawn { .. })));
    }
}
