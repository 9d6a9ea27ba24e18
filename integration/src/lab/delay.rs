//! `tandem-lab up --latency-ms MS`: a delay proxy in front of every node's sshd, so that a
//! benchmark sees a WAN round trip (this kernel has no netem; DESIGN.md section 5).
//!
//! One process per lab (`tandem-lab __delay-proxy`, started in the background by `up`, recorded
//! in lab.json, killed by `down`) listens in the root namespace on the bridge address, one port per
//! node (`FIRST_PORT + i`), and forwards each connection to that node's sshd. Every chunk read in
//! either direction is written out MS/2 later, in order, so each round trip gains MS while
//! pipelined data keeps flowing (a link with latency, not a slow link). TCP_NODELAY on both sides:
//! the proxy must not add Nagle delays of its own.
//!
//! Bounded: it only ever connects to the node addresses it was given, all inside the lab range
//! 198.18.0.0/15, and it exits by itself once its lab's lab.json is gone.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::thread;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::error::LabError;
use super::sys;
use super::{Lab, state};

/// Node i (1-based) is reached through the proxy on port FIRST_PORT + i.
pub const FIRST_PORT: u16 = 20000;
/// Most latency `up` accepts (a typo like 3000 would make every test time out).
pub const MAX_LATENCY_MS: u32 = 2000;
/// Bytes read at once; chunks queued per direction before the reader waits.
const CHUNK: usize = 32 * 1024;
const QUEUE: usize = 256;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The running proxy, as recorded in lab.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelayProxy {
    /// Round-trip time added to every connection, in ms.
    pub latency_ms: u32,
    pub pid: u32,
    /// With the pid, names the process (a pid alone may be recycled).
    pub start_time: u64,
    pub log: PathBuf,
}

pub fn log_path(dir: &Path) -> PathBuf {
    dir.join("delay-proxy.log")
}

/// Starts the proxy for the lab's nodes (all already answering) and points each node's
/// `ssh_proxy` at it. Returns once every port listens.
pub fn start(lab_bin: &Path, lab: &mut Lab, latency_ms: u32) -> Result<(), LabError> {
    if latency_ms > MAX_LATENCY_MS {
        return Err(LabError::Usage(format!(
            "--latency-ms must be at most {MAX_LATENCY_MS} (got {latency_ms})"
        )));
    }
    let listen = lab.bridge_address;
    let log = log_path(&lab.dir);
    let log_file = std::fs::File::create(&log)
        .map_err(|e| LabError::io(format!("creating {}", log.display()), e))?;
    let mut cmd = sys::command(lab_bin);
    cmd.arg("__delay-proxy")
        .arg("--dir")
        .arg(&lab.dir)
        .arg("--latency-ms")
        .arg(latency_ms.to_string())
        .arg("--listen")
        .arg(listen.to_string());
    let mut routes = Vec::new();
    for (i, n) in lab.nodes.iter().enumerate() {
        let port = FIRST_PORT + (i as u16 + 1);
        cmd.arg("--route").arg(format!("{port}={}", n.address));
        routes.push(SocketAddrV4::new(listen, port));
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::from(log_file));
    // Its own process group: a Ctrl-C for `up` or a test runner must not stop it; `down` does.
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| LabError::io("starting the delay proxy", e))?;
    let pid = child.id();
    // Recorded before we wait for it, so that a failed `up` still takes it down.
    lab.delay_proxy = Some(DelayProxy {
        latency_ms,
        pid,
        start_time: sys::process_start_time(pid).unwrap_or(0),
        log: log.clone(),
    });
    state::save(lab)?;

    // The proxy prints one line once every port listens, or exits (closing stdout) on error.
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    if line.trim() != "ready" {
        let _ = child.kill();
        let _ = child.wait();
        return Err(LabError::Command {
            what: "starting the delay proxy".into(),
            detail: sys::tail(&log, 5),
        });
    }
    // Reaped whenever `down` kills it, so no zombie lingers in a long-lived caller.
    thread::spawn(move || {
        let _ = child.wait();
    });
    for (n, route) in lab.nodes.iter_mut().zip(routes) {
        n.ssh_proxy = Some(route);
    }
    Ok(())
}

/// Kills the lab's proxy (if it still is that process) and waits until it is gone.
pub fn stop(proxy: &DelayProxy) {
    let pid = proxy.pid;
    if pid == 0 || sys::process_start_time(pid) != Some(proxy.start_time) || !is_proxy(pid) {
        return;
    }
    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
    // Bounded: SIGKILL cannot be refused; 5 s covers a loaded machine.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while sys::process_alive(pid as i32) && std::time::Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
}

fn is_proxy(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| c.split(|&b| b == 0).any(|a| a == b"__delay-proxy"))
        .unwrap_or(false)
}

/// `tandem-lab __delay-proxy`: parses `PORT=ADDRESS` routes. Only lab addresses are accepted.
pub fn parse_route(text: &str) -> Result<(u16, Ipv4Addr), String> {
    let (port, addr) = text
        .split_once('=')
        .ok_or_else(|| format!("route {text:?} is not PORT=ADDRESS"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("route {text:?}: bad port"))?;
    let addr: Ipv4Addr = addr
        .parse()
        .map_err(|_| format!("route {text:?}: bad IPv4 address"))?;
    if !in_lab_range(addr) {
        return Err(format!(
            "route {text:?}: {addr} is not a lab address (198.18.0.0/15)"
        ));
    }
    Ok((port, addr))
}

fn in_lab_range(addr: Ipv4Addr) -> bool {
    let [a, b, _, _] = addr.octets();
    a == 198 && (b == 18 || b == 19)
}

/// The proxy's main loop (the hidden subcommand). Returns an exit status.
pub fn serve(dir: &Path, latency_ms: u32, listen: Ipv4Addr, routes: &[(u16, Ipv4Addr)]) -> i32 {
    if !in_lab_range(listen) || latency_ms > MAX_LATENCY_MS {
        eprintln!("delay proxy: refusing to listen on {listen} with {latency_ms} ms");
        return 2;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("delay proxy: {e}");
            return 1;
        }
    };
    // Half the round trip each way; microseconds so that an odd MS stays exact.
    let half = Duration::from_micros(u64::from(latency_ms) * 500);
    runtime.block_on(async {
        let mut listeners = Vec::with_capacity(routes.len());
        for &(port, target) in routes {
            match TcpListener::bind((listen, port)).await {
                Ok(l) => listeners.push((l, target)),
                Err(e) => {
                    eprintln!("delay proxy: listening on {listen}:{port}: {e}");
                    return 1;
                }
            }
        }
        for (listener, target) in listeners {
            tokio::spawn(accept_loop(listener, target, half));
        }
        println!("ready");
        eprintln!(
            "delay proxy: {} ports on {listen}, {latency_ms} ms round trip",
            routes.len()
        );
        // Exits once the lab is gone, even if `down` never got to kill us.
        let lab_json = state::lab_json(dir);
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if !lab_json.exists() {
                eprintln!("delay proxy: {} is gone, exiting", lab_json.display());
                return 0;
            }
        }
    })
}

async fn accept_loop(listener: TcpListener, target: Ipv4Addr, half: Duration) {
    loop {
        match listener.accept().await {
            Ok((client, _)) => {
                tokio::spawn(forward(client, target, half));
            }
            Err(e) => {
                eprintln!("delay proxy: accept for {target}: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn forward(client: TcpStream, target: Ipv4Addr, half: Duration) {
    let server = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((target, 22))).await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            eprintln!("delay proxy: connecting to {target}:22: {e}");
            return;
        }
        Err(_) => {
            eprintln!("delay proxy: connecting to {target}:22 timed out");
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::join!(
        delayed_copy(client_read, server_write, half),
        delayed_copy(server_read, client_write, half),
    );
}

/// Copies one direction: each chunk is written `delay` after it was read, in order; end of
/// stream (or a read error) becomes a shutdown of the write side, delayed the same way.
async fn delayed_copy(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, delay: Duration) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Option<Vec<u8>>)>(QUEUE);
    let reader = async move {
        let mut buf = vec![0u8; CHUNK];
        loop {
            let chunk = match from.read(&mut buf).await {
                Ok(0) | Err(_) => None,
                Ok(n) => Some(buf[..n].to_vec()),
            };
            let last = chunk.is_none();
            if tx.send((Instant::now() + delay, chunk)).await.is_err() || last {
                break;
            }
        }
    };
    let writer = async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            match chunk {
                Some(bytes) => {
                    if to.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                None => {
                    let _ = to.shutdown().await;
                    break;
                }
            }
        }
        // Dropping rx here makes the reader stop at its next send.
    };
    tokio::join!(reader, writer);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_only_to_lab_addresses() {
        assert_eq!(
            parse_route("20001=198.18.3.11"),
            Ok((20001, Ipv4Addr::new(198, 18, 3, 11)))
        );
        assert!(parse_route("20001=10.0.0.1").is_err());
        assert!(parse_route("20001=198.20.0.1").is_err());
        assert!(parse_route("x=198.18.0.11").is_err());
        assert!(parse_route("20001").is_err());
    }
}
