//! Runs the probes: local ones first, then one pipeline per login node, all nodes at once,
//! under a per-step timeout and one global deadline that nothing outlives.

use crate::check::CheckId;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::context::Context;
use crate::fact::Fact;
use crate::finding::Finding;
use crate::probes::{self, NodePlan};
use crate::report::NodeReport;

/// Files for the bundle, by their path inside it.
pub type Artifacts = BTreeMap<String, Vec<u8>>;

/// What the probes found so far; later probes read what earlier ones learnt.
#[derive(Debug, Default)]
pub struct RunState {
    pub findings: Vec<Finding>,
    pub artifacts: Artifacts,
    pub openssh: Option<probes::env::OpenSsh>,
    pub config: Option<probes::config::ConfigState>,
    pub keys: Vec<probes::keys::KeyInfo>,
    pub agent: Option<probes::keys::AgentState>,
    pub plans: Vec<NodePlan>,
    pub nodes: Vec<NodeReport>,
    /// The config OpenSSH reads in place of the user's (see `probes::handover`).
    pub handover: Option<Arc<probes::handover::Handover>>,
    /// The probe a `fault-injection` test build makes panic.
    pub fault: Option<String>,
}

impl RunState {
    /// Adds findings.
    pub fn push(&mut self, findings: impl IntoIterator<Item = Finding>) {
        self.findings.extend(findings);
    }
}

/// Something that shows progress while the network stages run.
pub trait Progress: Send + Sync {
    fn node_done(&self, alias: &str);
    fn finish(&self);
}

/// The stages of a node's pipeline, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    Dns,
    Tcp,
    Handshake,
    Transcript,
}

impl Stage {
    pub const ALL: [Stage; 4] = [Stage::Dns, Stage::Tcp, Stage::Handshake, Stage::Transcript];

    /// The finding id that stands for the stage when it is skipped.
    pub fn id(self) -> CheckId {
        match self {
            Stage::Dns => CheckId::NetDns,
            Stage::Tcp => CheckId::NetTcp,
            Stage::Handshake => CheckId::SshBanner,
            Stage::Transcript => CheckId::SshTranscript,
        }
    }
}

/// What one node's pipeline has produced so far (kept when the deadline cuts it short).
#[derive(Debug, Default)]
pub struct NodeSlot {
    pub report: NodeReport,
    pub findings: Vec<Finding>,
    pub artifacts: Artifacts,
    /// Stages that finished (or were skipped with a finding).
    pub done: Vec<Stage>,
}

/// A node slot shared between its pipeline and the runner.
pub type SharedSlot = Arc<Mutex<NodeSlot>>;

/// Locks a slot even if a panicking stage poisoned it; its data stays usable.
pub fn lock(slot: &SharedSlot) -> std::sync::MutexGuard<'_, NodeSlot> {
    slot.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs a local probe; a panic becomes a `skip` finding for the probe's first id.
pub fn guarded(
    state: &mut RunState,
    id: CheckId,
    subject: &str,
    probe: impl FnOnce(&mut RunState),
) {
    let inject = state.fault.as_deref() == Some(id.as_str());
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| {
        if inject {
            panic!("fault injected into {id}");
        }
        probe(state)
    })) {
        state.push([internal_error(id, subject, &panic_message(&*panic))]);
    }
}

/// The finding for a check that could not run because of a bug in this tool.
pub fn internal_error(id: CheckId, subject: &str, message: &str) -> Finding {
    Finding::skip(id, subject, "not checked: internal error in mlc-doctor")
        .detail(format!("{message}. Please report this to the mlc-doctor maintainers; the rest of the run is unaffected."))
        .with("internal_error", true)
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a probe panicked".to_string()
    }
}

/// Runs every probe and returns what they found.
pub async fn run(ctx: Arc<Context>, progress: Option<Arc<dyn Progress>>) -> RunState {
    let mut state = RunState {
        fault: ctx.fault.clone(),
        ..RunState::default()
    };
    let dash_g = local_probes(&ctx, &mut state).await;
    state.plans = probes::plan_nodes(&ctx, &state);
    // The nodes' pipelines (above all the `ssh -vvv` transcripts, the longest work of a
    // run) start now; the last `ssh -G` outputs are read meanwhile.
    let pipelines = start_node_pipelines(&ctx, &state, progress.clone());
    // The doctor's side of config.openssh-agrees is made while OpenSSH answers; once the
    // last `ssh -G` ends, only the comparison is left. (Not compared after a panic here.)
    let mut prepared = None;
    guarded(
        &mut state,
        CheckId::ConfigOpensshAgrees,
        "~/.ssh/config",
        |s| prepared = Some(probes::config::prepare_agreement(&ctx, s)),
    );
    let prefetched = match dash_g {
        Some(run) => Some(run.finish().await),
        None => None,
    };
    if let Some(prepared) = prepared {
        guarded(
            &mut state,
            CheckId::ConfigOpensshAgrees,
            "~/.ssh/config",
            |s| probes::config::openssh_agrees(&ctx, s, prepared, prefetched),
        );
    }
    state.nodes = finish_node_pipelines(&ctx, &mut state, pipelines).await;
    if let Some(p) = progress {
        p.finish();
    }
    state
}

/// `ssh -G` for every alias, one process each, all started in the same instant (from this
/// thread: no thread has to be scheduled first); the results arrive as each ends, so the
/// first one gives the OpenSSH version while the others still run.
struct DashGRun {
    tasks: tokio::task::JoinSet<(usize, probes::config::DashG, bool)>,
    arrived: Vec<(usize, probes::config::DashG)>,
    /// Set when an `ssh -G` was stopped at its time limit: the client may hang on
    /// everything, so `ssh -V` then gets a moment only.
    hung: Option<crate::proc::ProcError>,
    program: String,
    timeout: std::time::Duration,
}

impl DashGRun {
    fn start(ssh: &std::path::Path, config: &std::path::Path, ctx: &Context) -> DashGRun {
        let path_env = crate::platform::env_get(ctx.os, &ctx.env, "PATH").map(String::as_str);
        let mut tasks = tokio::task::JoinSet::new();
        let timeout = ctx.local_timeout();
        for (i, alias) in ctx.nodes.iter().enumerate() {
            let started = probes::config::dash_g_start(ssh, config, alias, path_env, timeout);
            // The doctor's own work comes first: OpenSSH's answers are only needed at the
            // end, and a child at the same priority delays the next spawn by a time slice.
            // Set just after the start (a child may run its first instant at the doctor's
            // priority): set in the child, it would cost the vfork spawn.
            if let Some(pid) = started.as_ref().ok().and_then(|c| c.id()) {
                crate::platform::lower_priority(pid, 5);
            }
            let alias = alias.clone();
            tasks.spawn(async move {
                let (out, hung) = match started {
                    Ok(child) => match child.finish().await {
                        Ok(out) => (Ok(out), false),
                        Err(e) => {
                            let hung = matches!(e, crate::proc::ProcError::Timeout { .. });
                            (Err(e.to_string()), hung)
                        }
                    },
                    Err(e) => (Err(e), false),
                };
                (i, vec![(alias, out)], hung)
            });
        }
        DashGRun {
            tasks,
            arrived: Vec::new(),
            hung: None,
            program: ssh.display().to_string(),
            timeout,
        }
    }

    /// The `ssh -v` version line of the first `ssh -G` to end.
    async fn version(&mut self) -> Option<crate::proc::Output> {
        let version_of = |g: &probes::config::DashG| {
            g.iter().find_map(|(_, r)| {
                r.as_ref()
                    .ok()
                    .filter(|o| o.stderr.starts_with(b"OpenSSH_"))
                    .cloned()
            })
        };
        if let Some(v) = self.arrived.iter().find_map(|(_, g)| version_of(g)) {
            return Some(v);
        }
        while let Some(joined) = self.tasks.join_next().await {
            let Ok((i, got, hung)) = joined else { continue };
            let v = version_of(&got);
            if hung && self.hung.is_none() {
                self.hung = Some(crate::proc::ProcError::Timeout {
                    program: self.program.clone(),
                    secs: self.timeout.as_secs_f64(),
                });
            }
            self.arrived.push((i, got));
            if v.is_some() {
                return v;
            }
        }
        None
    }

    /// Every alias's output, in the order of the aliases.
    async fn finish(mut self) -> probes::config::DashG {
        while let Some(joined) = self.tasks.join_next().await {
            if let Ok((i, got, _)) = joined {
                self.arrived.push((i, got));
            }
        }
        self.arrived.sort_by_key(|(i, _)| *i);
        self.arrived.into_iter().flat_map(|(_, g)| g).collect()
    }
}

/// The local probes; returns the `ssh -G` runs still under way, for config.openssh-agrees.
async fn local_probes(ctx: &Arc<Context>, state: &mut RunState) -> Option<DashGRun> {
    // `ssh -V` and `ssh -G` take milliseconds each: start them now so they overlap the
    // local probes instead of adding up.
    let client = probes::env::client_path(ctx);
    let handover = Arc::new(probes::handover::Handover::prepare(ctx));
    state.handover = Some(handover.clone());
    let mut dash_g = match (&client, handover.for_dash_g()) {
        (Ok(ssh), Some(config_path)) => Some(DashGRun::start(ssh, &config_path, ctx)),
        _ => None,
    };
    let version = match (&client, &dash_g) {
        (Ok(p), None) => {
            let (p, timeout) = (p.clone(), ctx.local_timeout());
            Some(std::thread::spawn(move || {
                probes::env::version_output(&p, timeout)
            }))
        }
        _ => None,
    };

    guarded(state, CheckId::EnvOs, "system", |s| probes::env::os(ctx, s));
    match client {
        Err(finding) => state.push([*finding]),
        Ok(path) => {
            // The version line from `ssh -v -G`, else from `ssh -V`.
            let from_g = match dash_g.as_mut() {
                Some(run) => run.version().await,
                None => None,
            };
            let hung = dash_g.as_mut().and_then(|run| run.hung.take());
            let out = match (from_g, version.map(|h| h.join()), hung) {
                (Some(o), _, _) => Ok(o),
                (None, Some(Ok(out)), _) => out,
                // `ssh -G` hung: `ssh -V` gets a moment only (a client that hangs on
                // everything must not hold the run twice; one that hangs on the config
                // alone still answers).
                (None, _, Some(hung)) => probes::env::version_output(
                    &path,
                    ctx.local_timeout().min(std::time::Duration::from_secs(1)),
                )
                .map_err(|_| hung),
                (None, _, None) => probes::env::version_output(&path, ctx.local_timeout()),
            };
            guarded(state, CheckId::EnvOpenssh, "ssh", |s| {
                probes::env::openssh_from(s, path, out);
                probes::env::name_the_client(ctx, s);
            });
        }
    }
    guarded(state, CheckId::ConfigPresent, "~/.ssh/config", |s| {
        probes::config::run(ctx, s)
    });
    guarded(state, CheckId::PermHome, "~", |s| {
        probes::perms::run(ctx, s)
    });
    guarded(state, CheckId::ConfigPuttySession, "PuTTY", |s| {
        probes::putty::run(ctx, s)
    });
    guarded(state, CheckId::KeyPresent, "~/.ssh", |s| {
        probes::keys::run(ctx, s)
    });
    // The agent speaks over a socket: async, with a timeout, and its own panic guard.
    let agent_ctx = ctx.clone();
    let keys = state.keys.clone();
    let plans = probes::plan_nodes(ctx, state);
    let task = tokio::spawn(async move { probes::keys::agent(&agent_ctx, &keys, &plans).await });
    match task.await {
        Ok((findings, agent)) => {
            state.push(findings);
            state.agent = agent;
        }
        Err(e) => state.push([internal_error(
            CheckId::KeyAgent,
            "ssh-agent",
            &e.to_string(),
        )]),
    }
    dash_g
}

/// The node pipelines under way.
struct Pipelines {
    set: tokio::task::JoinSet<()>,
    slots: Vec<SharedSlot>,
}

fn start_node_pipelines(
    ctx: &Arc<Context>,
    state: &RunState,
    progress: Option<Arc<dyn Progress>>,
) -> Pipelines {
    let shared = Arc::new(probes::Shared::from_state(state));
    let slots: Vec<SharedSlot> = state
        .plans
        .iter()
        .map(|plan| {
            Arc::new(Mutex::new(NodeSlot {
                report: plan.initial_report(),
                ..NodeSlot::default()
            }))
        })
        .collect();

    let mut set = tokio::task::JoinSet::new();
    for (plan, slot) in state.plans.iter().zip(&slots) {
        let (ctx, plan, slot, shared, progress) = (
            ctx.clone(),
            plan.clone(),
            slot.clone(),
            shared.clone(),
            progress.clone(),
        );
        set.spawn(async move {
            probes::node_pipeline(&ctx, &plan, &shared, &slot).await;
            if let Some(p) = progress {
                p.node_done(&plan.alias);
            }
        });
    }
    Pipelines { set, slots }
}

async fn finish_node_pipelines(
    ctx: &Arc<Context>,
    state: &mut RunState,
    pipelines: Pipelines,
) -> Vec<NodeReport> {
    let Pipelines { mut set, slots } = pipelines;

    let deadline = tokio::time::Instant::from_std(ctx.started + ctx.deadline);
    let mut panics = Vec::new();
    let finished_in_time = tokio::time::timeout_at(deadline, async {
        while let Some(result) = set.join_next().await {
            if let Err(e) = result {
                if e.is_panic() {
                    panics.push(panic_message(&*e.into_panic()));
                }
            }
        }
    })
    .await
    .is_ok();
    set.abort_all();
    let cut_at = Instant::now();

    let mut reports = Vec::new();
    for (plan, slot) in state.plans.iter().zip(&slots) {
        let mut slot = lock(slot);
        for stage in Stage::ALL {
            if slot.done.contains(&stage) {
                continue;
            }
            let finding = if !finished_in_time {
                Finding::skip(stage.id(), &plan.alias, format!("not finished: the run's deadline of {} s ended first", ctx.deadline.as_secs_f64()))
                    .detail("Raise --deadline if the network is slow; everything probed before the deadline is in the report.")
                    .with("deadline_s", ctx.deadline.as_secs_f64())
                    .with("elapsed_ms", cut_at.duration_since(ctx.started).as_millis() as u64)
                    .fact(Fact::CutShort { deadline_s: ctx.deadline.as_secs_f64().ceil() as u64 })
            } else {
                internal_error(
                    stage.id(),
                    &plan.alias,
                    panics
                        .first()
                        .map(String::as_str)
                        .unwrap_or("the stage ended without a result"),
                )
            };
            slot.findings.push(finding.node(&plan.alias));
            slot.done.push(stage);
        }
        state.findings.append(&mut slot.findings);
        let artifacts = std::mem::take(&mut slot.artifacts);
        state.artifacts.extend(artifacts);
        reports.push(slot.report.clone());
    }
    reports
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_probe_becomes_a_skip_and_the_run_goes_on() {
        let mut state = RunState::default();
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        guarded(&mut state, CheckId::EnvOs, "system", |_| panic!("boom"));
        std::panic::set_hook(hook);
        guarded(&mut state, CheckId::EnvOpenssh, "ssh", |s| {
            s.push([Finding::pass(CheckId::EnvOpenssh, "ssh", "fine")])
        });
        assert_eq!(state.findings.len(), 2);
        assert_eq!(state.findings[0].severity, crate::finding::Severity::Skip);
        assert!(state.findings[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("boom"));
        assert_eq!(state.findings[1].id, CheckId::EnvOpenssh);
    }
}
