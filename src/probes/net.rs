//! `net.*`: DNS through the system resolver and TCP to every address, with timings.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::check::CheckId;
use crate::context::Context;
use crate::fact::Fact;
use crate::finding::{Finding, Remedy};
use crate::probes::{record, NodePlan};
use crate::report::{DnsResult, TcpOutcome, TcpResult};
use crate::runner::{lock, SharedSlot, Stage};

fn is_ip_literal(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// Where the network stages go: the node itself, or the first hop of a ProxyJump.
fn target(plan: &NodePlan) -> (String, u16) {
    match plan.proxy.as_ref().and_then(|p| p.first_hop.clone()) {
        Some(hop) => hop,
        None => (plan.hostname.clone(), plan.port),
    }
}

/// `net.dns`: every address of the node, or none (with a `fail` finding).
pub async fn dns(ctx: &Context, plan: &NodePlan, slot: &SharedSlot) -> Vec<SocketAddr> {
    let alias = plan.alias.as_str();
    let (host, port) = target(plan);
    if let Some(ip) = is_ip_literal(&host) {
        lock(slot).report.dns = Some(DnsResult {
            addresses: vec![ip.to_string()],
            ms: 0,
            error: None,
        });
        let finding = dns_finding(ctx, plan, &host, &Lookup::Literal(ip));
        record(slot, Stage::Dns, [finding], alias);
        return vec![SocketAddr::new(ip, port)];
    }
    let started = Instant::now();
    let result = tokio::time::timeout(ctx.timeout, ctx.resolver.resolve(&host, port)).await;
    let ms = started.elapsed().as_millis() as u64;
    let (addrs, error) = match result {
        Ok(Ok(addrs)) if !addrs.is_empty() => (addrs, None),
        Ok(Ok(_)) => (
            vec![],
            "the resolver returned no address".to_string().into(),
        ),
        Ok(Err(e)) => (vec![], Some(e)),
        Err(_) => (
            vec![],
            Some(format!(
                "no answer within {:.1} s",
                ctx.timeout.as_secs_f64()
            )),
        ),
    };
    let shown: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
    lock(slot).report.dns = Some(DnsResult {
        addresses: shown.clone(),
        ms,
        error: error.clone(),
    });
    let lookup = Lookup::Resolver {
        addresses: &shown,
        ms,
        error: error.as_deref(),
    };
    record(
        slot,
        Stage::Dns,
        [dns_finding(ctx, plan, &host, &lookup)],
        alias,
    );
    addrs
}

/// The `net.dns` fact.
enum Lookup<'a> {
    /// The host is an address: nothing to look up.
    Literal(IpAddr),
    /// What the system resolver answered, after `ms`: the addresses, or why none.
    Resolver {
        addresses: &'a [String],
        ms: u64,
        error: Option<&'a str>,
    },
}

/// The `net.dns` finding for `host`, the node or its first ProxyJump hop.
fn dns_finding(ctx: &Context, plan: &NodePlan, host: &str, lookup: &Lookup) -> Finding {
    let alias = plan.alias.as_str();
    let via = if plan.proxy.is_some() {
        " (first ProxyJump hop)"
    } else {
        ""
    };
    let (addresses, ms, error) = match lookup {
        Lookup::Literal(ip) => {
            return Finding::pass(
                CheckId::NetDns,
                alias,
                format!("{host}{via} is an address; no lookup needed"),
            )
            .with("addresses", [ip.to_string()])
            .with("ms", 0)
        }
        Lookup::Resolver {
            addresses,
            ms,
            error,
        } => (addresses, ms, error),
    };
    let finding = match error {
        None => Finding::pass(CheckId::NetDns, alias, format!("{host}{via} resolves to {} ({ms} ms)", addresses.join(", "))),
        Some(e) => Finding::fail(CheckId::NetDns, alias, format!("{host}{via} does not resolve: {e}"))
            .detail("ssh would stop with `Could not resolve hostname`. Either this machine has no working DNS (offline, captive portal, broken VPN) or the host name is wrong.")
            .remedy(Remedy::text(format!("Check that you are online; check the HostName of `{alias}` in ~/.ssh/config (the profile expects {}).", plan_profile_host(ctx, alias)))),
    };
    finding
        .with("host", host)
        .with("addresses", addresses)
        .with("ms", ms)
        .with("error", error)
}

fn plan_profile_host(ctx: &Context, alias: &str) -> String {
    ctx.profile
        .node(alias)
        .map(|n| n.hostname().to_string())
        .unwrap_or_default()
}

/// Classifies a connect error the way a user needs it explained.
pub fn classify(e: &std::io::Error) -> TcpOutcome {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => TcpOutcome::Refused,
        TimedOut => TcpOutcome::Timeout,
        NetworkUnreachable | HostUnreachable | AddrNotAvailable => TcpOutcome::Unreachable,
        _ if crate::platform::is_unreachable(e) => TcpOutcome::Unreachable,
        _ => TcpOutcome::Error,
    }
}

/// A connection that proved the node reachable; the handshake goes on over it.
#[derive(Debug)]
pub struct Reached {
    pub addr: SocketAddr,
    pub stream: tokio::net::TcpStream,
}

/// How long an address may stay unanswered before the next one is tried beside it
/// (RFC 8305's connection attempt delay).
const NEXT_ADDRESS_AFTER: Duration = Duration::from_millis(250);

/// What became of one address.
fn attempt_result(
    addr: SocketAddr,
    r: Option<std::io::Result<()>>,
    ms: u64,
    timeout: Duration,
) -> TcpResult {
    let (outcome, error) = match r {
        Some(Ok(())) => (TcpOutcome::Connected, None),
        Some(Err(e)) => (classify(&e), Some(e.to_string())),
        None => (
            TcpOutcome::Timeout,
            Some(format!("no answer within {:.1} s", timeout.as_secs_f64())),
        ),
    };
    TcpResult {
        address: addr.to_string(),
        outcome,
        ms,
        error,
    }
}

/// Connects to the addresses in order, as ssh does, but starts the next address when one
/// has not answered within [`NEXT_ADDRESS_AFTER`] instead of waiting out its timeout. The
/// first connection wins and is kept; attempts still under way are dropped before the
/// server sees them, and later addresses are never tried, so the node sees one
/// connection. The whole stage ends within `--timeout`.
async fn first_connection(
    ctx: &Context,
    addrs: &[SocketAddr],
) -> (Vec<TcpResult>, Option<Reached>) {
    use futures::stream::{FuturesUnordered, StreamExt};
    let started = Instant::now();
    let deadline = tokio::time::Instant::from_std(started + ctx.timeout);
    let attempt = |i: usize| {
        let addr = addrs[i];
        async move {
            let t = Instant::now();
            let r = tokio::time::timeout_at(deadline, ctx.connector.connect(addr)).await;
            (i, r.ok(), t.elapsed().as_millis() as u64)
        }
    };
    let mut results: Vec<Option<TcpResult>> = vec![None; addrs.len()];
    let mut begun: Vec<Option<Instant>> = vec![None; addrs.len()];
    let mut pending = FuturesUnordered::new();
    let mut next = 0;
    let mut reached = None;
    while reached.is_none() {
        if next < addrs.len() && pending.is_empty() {
            begun[next] = Some(Instant::now());
            pending.push(attempt(next));
            next += 1;
        }
        if pending.is_empty() {
            break;
        }
        let stagger = next < addrs.len();
        tokio::select! {
            Some((i, r, ms)) = pending.next() => {
                let addr = addrs[i];
                let (r, stream) = match r {
                    Some(Ok(stream)) => (Some(Ok(())), Some(stream)),
                    Some(Err(e)) => (Some(Err(e)), None),
                    None => (None, None),
                };
                results[i] = Some(attempt_result(addr, r, ms, ctx.timeout));
                if let Some(stream) = stream {
                    reached = Some(Reached { addr, stream });
                }
            }
            _ = tokio::time::sleep(NEXT_ADDRESS_AFTER), if stagger => {
                begun[next] = Some(Instant::now());
                pending.push(attempt(next));
                next += 1;
            }
        }
    }
    // A connect that completed while the first one was being handled would be dropped
    // before the banner: part from it politely instead. Attempts still under way are
    // dropped, and the server's kernel never hands them to sshd.
    let mut spare = Vec::new();
    while let Some(Some((i, r, ms))) = futures::FutureExt::now_or_never(pending.next()) {
        let r = match r {
            Some(Ok(stream)) => {
                spare.push(Reached {
                    addr: addrs[i],
                    stream,
                });
                Some(Ok(()))
            }
            Some(Err(e)) => Some(Err(e)),
            None => None,
        };
        results[i] = Some(attempt_result(addrs[i], r, ms, ctx.timeout));
    }
    drop(pending);
    for extra in spare {
        part(ctx, extra).await;
    }
    let results = addrs
        .iter()
        .zip(results)
        .zip(begun)
        .map(|((addr, r), begun)| {
            r.unwrap_or_else(|| match begun {
                Some(t) => TcpResult {
                    address: addr.to_string(),
                    outcome: TcpOutcome::Abandoned,
                    ms: t.elapsed().as_millis() as u64,
                    error: Some("no answer yet when another address connected".to_string()),
                },
                None => TcpResult {
                    address: addr.to_string(),
                    outcome: TcpOutcome::NotTried,
                    ms: 0,
                    error: None,
                },
            })
        })
        .collect();
    (results, reached)
}

/// `net.tcp`: the first address that accepts a connection, and that connection, if any.
pub async fn tcp(
    ctx: &Context,
    plan: &NodePlan,
    addrs: &[SocketAddr],
    slot: &SharedSlot,
) -> Option<Reached> {
    let alias = plan.alias.as_str();
    let (results, reached) = first_connection(ctx, addrs).await;
    lock(slot).report.tcp = results.clone();
    let (_, port) = target(plan);
    let connected = reached.as_ref().map(|r| r.addr);
    let site_port = ctx.profile.node(alias).map_or(22, |n| n.port());
    let finding = tcp_finding(
        &ctx.profile.advice,
        alias,
        (port, site_port, plan.port_at.as_deref()),
        &results,
        connected,
    );
    record(slot, Stage::Tcp, [finding], alias);
    reached
}

/// The `net.tcp` finding, from the outcome of every address and the one that connected.
/// `ports`: the one ssh uses (from the config), the one the profile gives the node, and
/// where the config sets the first.
fn tcp_finding(
    advice: &crate::profile::Advice,
    alias: &str,
    (port, site_port, port_at): (u16, u16, Option<&str>),
    results: &[TcpResult],
    connected: Option<SocketAddr>,
) -> Finding {
    let listed = |list: &[&TcpResult]| {
        list.iter()
            .map(|r| format!("{} {}", r.address, r.outcome))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let finding = match connected {
        Some(addr) => {
            let failed: Vec<&TcpResult> = results
                .iter()
                .filter(|r| {
                    !matches!(
                        r.outcome,
                        TcpOutcome::Connected | TcpOutcome::NotTried | TcpOutcome::Abandoned
                    )
                })
                .collect();
            let ms = results
                .iter()
                .find(|r| r.address == addr.to_string())
                .map(|r| r.ms)
                .unwrap_or(0);
            let mut summary = format!("{addr} accepts connections ({ms} ms)");
            if !failed.is_empty() {
                summary.push_str(&format!(
                    "; {} other address(es) did not ({})",
                    failed.len(),
                    listed(&failed)
                ));
            }
            Finding::pass(CheckId::NetTcp, alias, summary)
        }
        None => {
            let all_timeout = results.iter().all(|r| r.outcome == TcpOutcome::Timeout);
            let all_refused = results.iter().all(|r| r.outcome == TcpOutcome::Refused);
            let summary = if all_timeout {
                format!("port {port} timed out on every address: a firewall or a missing VPN")
            } else if all_refused {
                format!("port {port} refused on every address: nothing listens there")
            } else {
                let all: Vec<&TcpResult> = results.iter().collect();
                format!(
                    "port {port} cannot be reached on any address ({})",
                    listed(&all)
                )
            };
            let remedy = if all_timeout {
                Remedy::text(format!("Connect to {} (or {}) and try again; if you are on it, the node may be down: try another node.", advice.vpn, advice.campus_network))
            } else if all_refused && port != site_port {
                Remedy::text(match port_at {
                    // OpenSSH takes the first Port that applies: it may be in `Host *`.
                    Some(at) if site_port == 22 => format!("The config sends ssh to port {port} (the Port line at {at}); the login nodes listen on 22. Remove that line, or if it is meant for other hosts, put `Port 22` in a block for `{alias}` above it."),
                    Some(at) => format!("The config sends ssh to port {port} (the Port line at {at}); the login nodes listen on {site_port}. Change that line, or if it is meant for other hosts, put `Port {site_port}` in a block for `{alias}` above it (OpenSSH takes the first Port that applies)."),
                    None => format!("Without a Port line ssh uses port {port}; the login nodes listen on {site_port}. Add `Port {site_port}` to the Host block of `{alias}` in ~/.ssh/config."),
                })
            } else {
                Remedy::text("The node may be down or your network blocks SSH: try another node, or attach the bundle to a ticket.")
            };
            Finding::fail(CheckId::NetTcp, alias, summary).remedy(remedy)
        }
    };
    finding
        .with("port", port)
        .with("attempts", results)
        .fact(Fact::Tcp(results.iter().map(|r| r.outcome).collect()))
}

/// Ends a connection the doctor will not use (the first hop of a ProxyJump) as an SSH
/// client that changed its mind does: both identification lines exchanged, then an
/// orderly close. The server then logs a plain closed connection, not a client that
/// vanished before the banner (`kex_exchange_identification`), which some sites count
/// against the address.
pub async fn part(ctx: &Context, reached: Reached) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = reached.stream;
    let wait = ctx.timeout.min(Duration::from_secs(2));
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    let _ = tokio::time::timeout(wait, async {
        while !seen.contains(&b'\n') && seen.len() < 8192 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    if seen.windows(4).any(|w| w == b"SSH-") {
        let _ = stream.write_all(b"SSH-2.0-mlc_doctor\r\n").await;
    }
    let _ = stream.shutdown().await;
    // Read what the server still sends until it closes: closing with unread data would
    // reset the connection instead.
    let _ = tokio::time::timeout(wait, async {
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{BoxFuture, Connector};
    use std::sync::{Arc, Mutex};

    /// Connects port 1 to nothing that ever answers, port 2 refuses, anything else to a
    /// real listener on 127.0.0.1; records which addresses were tried.
    struct Scripted {
        listener: std::net::SocketAddr,
        tried: Mutex<Vec<u16>>,
    }

    impl Connector for Scripted {
        fn connect(
            &self,
            addr: SocketAddr,
        ) -> BoxFuture<'_, std::io::Result<tokio::net::TcpStream>> {
            self.tried.lock().unwrap().push(addr.port());
            let real = self.listener;
            Box::pin(async move {
                match addr.port() {
                    1 => std::future::pending().await,
                    2 => Err(std::io::ErrorKind::ConnectionRefused.into()),
                    _ => tokio::net::TcpStream::connect(real).await,
                }
            })
        }
    }

    /// A listener on 127.0.0.1 (kept while the test runs) and the connector that uses it.
    async fn scripted() -> (tokio::net::TcpListener, Arc<Scripted>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let connector = Arc::new(Scripted {
            listener: listener.local_addr().unwrap(),
            tried: Mutex::new(Vec::new()),
        });
        (listener, connector)
    }

    fn ctx_with(connector: Arc<Scripted>) -> Context {
        let mut ctx = Context::for_home(
            std::path::Path::new("/nonexistent"),
            crate::profile::Profile::embedded(),
        );
        ctx.timeout = Duration::from_secs(3);
        ctx.connector = connector;
        ctx
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], port))
    }

    #[tokio::test]
    async fn addresses_are_tried_in_turn_and_the_first_connection_is_kept() {
        let (_listener, connector) = scripted().await;
        let ctx = ctx_with(connector.clone());
        // Refused, then silent, then one that connects; the last is never needed.
        let addrs = [addr(2), addr(1), addr(22), addr(23)];
        let started = Instant::now();
        let (results, reached) = first_connection(&ctx, &addrs).await;
        let outcomes: Vec<&str> = results.iter().map(|r| r.outcome.as_str()).collect();
        assert_eq!(outcomes, ["refused", "abandoned", "connected", "not-tried"]);
        assert_eq!(reached.unwrap().addr, addr(22));
        assert_eq!(*connector.tried.lock().unwrap(), [2, 1, 22]);
        // The silent address cost one stagger, not the timeout.
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_single_silent_address_costs_the_timeout_and_no_more() {
        let (_listener, connector) = scripted().await;
        let mut ctx = ctx_with(connector);
        ctx.timeout = Duration::from_millis(600);
        let started = Instant::now();
        let (results, reached) = first_connection(&ctx, &[addr(1), addr(1)]).await;
        assert!(reached.is_none());
        assert!(
            results.iter().all(|r| r.outcome == TcpOutcome::Timeout),
            "{results:?}"
        );
        assert!(
            started.elapsed() < Duration::from_millis(900),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn the_tcp_finding_reads_the_outcomes() {
        let r = |address: &str, outcome| TcpResult {
            address: address.into(),
            outcome,
            ms: 5,
            error: None,
        };
        let attempts = [
            r("[::1]:22", TcpOutcome::Timeout),
            r("127.0.0.1:22", TcpOutcome::Connected),
        ];
        let advice = crate::profile::Advice::default();
        let ok = tcp_finding(
            &advice,
            "slurm",
            (22, 22, None),
            &attempts,
            Some("127.0.0.1:22".parse().unwrap()),
        );
        assert_eq!(
            ok.summary,
            "127.0.0.1:22 accepts connections (5 ms); 1 other address(es) did not ([::1]:22 timeout)"
        );
        let refused = tcp_finding(
            &advice,
            "slurm",
            (2222, 22, Some("~/.ssh/config:2")),
            &[r("127.0.0.1:2222", TcpOutcome::Refused)],
            None,
        );
        assert_eq!(
            refused.summary,
            "port 2222 refused on every address: nothing listens there"
        );
        let text = refused.remedy.clone().unwrap().text;
        assert!(
            text.contains("listen on 22") && text.contains("the Port line at ~/.ssh/config:2"),
            "{text}"
        );
        // No Port line: ssh's 22, where the site listens on another port.
        let unset = tcp_finding(
            &advice,
            "slurm",
            (22, 2222, None),
            &[r("127.0.0.1:22", TcpOutcome::Refused)],
            None,
        );
        let text = unset.remedy.unwrap().text;
        assert!(
            text.contains("Add `Port 2222` to the Host block of `slurm`"),
            "{text}"
        );
        // The node's own port (the profile's) refused: no advice to change the Port line.
        let down = tcp_finding(
            &advice,
            "slurm",
            (2222, 2222, None),
            &[r("127.0.0.1:2222", TcpOutcome::Refused)],
            None,
        );
        assert!(!down.remedy.unwrap().text.contains("Port line"));
        assert_eq!(refused.fact, Some(Fact::Tcp(vec![TcpOutcome::Refused])));
    }
}
