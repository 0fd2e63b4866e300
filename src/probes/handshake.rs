//! `ssh.*` from our own SSH client: banner, algorithms, host key, auth methods, key acceptance.

use std::net::SocketAddr;

use crate::catalogue::CheckDoc;
use crate::context::Context;
use crate::probes::{record, NodePlan, Shared};
use crate::runner::{SharedSlot, Stage};

pub const CHECKS: &[CheckDoc] = &[
    CheckDoc {
        id: "ssh.banner",
        title: "The node answers with an SSH banner",
        what: "After the TCP connection, reads the server's identification line (`SSH-2.0-OpenSSH_…`) within --timeout.",
        why: "No banner, a closed connection or something that is not SSH (an HTTP proxy, a captive portal) means ssh fails with `kex_exchange_identification` or `Connection timed out during banner exchange`, whatever your keys are.",
        fix: "Usually a network in the way: a hotel or company network intercepting port 22, or a VPN that is half up. Try another network or the university VPN; if every node behaves the same from a working network, attach the bundle to a ticket.",
    },
    CheckDoc {
        id: "ssh.kex",
        title: "Client and server share key exchange, cipher and MAC algorithms",
        what: "Negotiates the key exchange, host key, cipher and MAC algorithms with the node and records the ones chosen; when nothing is in common, records both lists.",
        why: "A client restricted by old or hand-edited `KexAlgorithms`/`Ciphers`/`MACs`/`HostKeyAlgorithms` lines fails with `Unable to negotiate … no matching … found`.",
        fix: "Remove `KexAlgorithms`, `Ciphers`, `MACs` and `HostKeyAlgorithms` lines from ~/.ssh/config (the defaults of a current OpenSSH work), or upgrade an old client.",
    },
    CheckDoc {
        id: "ssh.host-key",
        title: "The node's host key matches known_hosts and the profile's pins",
        what: "Compares the node's host key with your known_hosts files (hashed entries, [host]:port, wildcards, @revoked and @cert-authority included) and with the fingerprints the profile pins, before any key of yours is offered.",
        why: "A changed host key makes ssh refuse to connect (`REMOTE HOST IDENTIFICATION HAS CHANGED`). It can be a reinstalled node, or someone in the middle: the doctor offers no key to such a server.",
        fix: "Compare the fingerprint shown with the one the site publishes or support confirms. Only when it is confirmed, remove the old entry with `ssh-keygen -R <host>` (the report gives the exact line) and connect again to accept the new key.",
    },
    CheckDoc {
        id: "ssh.auth-methods",
        title: "The server offers public key authentication",
        what: "Asks the server which authentication methods it accepts (`none` request) and records them.",
        why: "The login nodes accept only public keys (then a TOTP code). If `publickey` is not offered, something other than the login node answered, or the server is misconfigured.",
        fix: "If `publickey` is missing, check that HostName points to the real login node and attach the bundle to a ticket.",
    },
    CheckDoc {
        id: "ssh.key-accepted",
        title: "The server accepts one of your public keys",
        what: "Offers each candidate public key (the node's IdentityFile first, then agent keys, then default keys) and notes which the server would accept, without the private key or passphrase: the server's answer to the unsigned query proves it.",
        why: "If no key is accepted, `ssh slurm` ends in `Permission denied (publickey)`. Usually the public key was never deployed on the cluster, or the username is wrong; the client cannot tell these apart.",
        fix: "Within the 2-day window after account creation run `ssh-copy-id -i ~/.ssh/id_ed25519.pub slurm`; later, open a ticket and attach the bundle (it contains your public key, which support deploys). Also check `User` in ~/.ssh/config is your cluster username.",
    },
    CheckDoc {
        id: "ssh.second-factor",
        title: "The server asks for the TOTP second factor after the key",
        what: "When an accepted key is loaded in ssh-agent, authenticates with it through the agent and reads whether the server then asks for keyboard-interactive (the TOTP code). The doctor stops there and never answers the prompt.",
        why: "Accounts with a second factor need an interactive terminal for the code: BatchMode or PreferredAuthentications without keyboard-interactive make the login fail after the key was accepted.",
        fix: "Make sure your client can answer the code prompt: no `BatchMode yes`, and `PreferredAuthentications` (if set) includes keyboard-interactive. Set up the TOTP app as the site's guide describes.",
    },
];

/// The handshake stage of a node.
pub async fn run(
    _ctx: &Context,
    plan: &NodePlan,
    _shared: &Shared,
    _addr: SocketAddr,
    slot: &SharedSlot,
) {
    record(slot, Stage::Handshake, [], &plan.alias);
}
