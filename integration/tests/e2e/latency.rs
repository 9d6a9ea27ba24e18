//! `tandem-lab up --latency-ms`: the delay proxy adds the asked round-trip time to ssh, the
//! inventory points at it, and `down` stops it.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddrV4, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tandem_integration::lab::{Lab, TempLab};

use crate::support::{stderr, stdout, tandem_lab};

const ROUND_TRIPS: u32 = 10;

/// Mean time of one request/answer round trip inside one ssh session to `to` (a line written to a
/// remote `sh` echo loop, read back), after the login.
fn mean_round_trip(lab: &Lab, to: SocketAddrV4) -> Duration {
    let mut child = Command::new("ssh")
        .arg("-i")
        .arg(lab.identity())
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            lab.known_hosts().display()
        ))
        .args([
            "-F",
            "/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=5",
            "-p",
        ])
        .arg(to.port().to_string())
        .arg(format!("root@{}", to.ip()))
        .arg("echo ready; while read l; do echo \"$l\"; done")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("running ssh");
    let mut input = child.stdin.take().expect("stdin");
    let mut output = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    output.read_line(&mut line).expect("ssh answers");
    assert_eq!(line.trim(), "ready", "the remote loop did not start");
    let started = Instant::now();
    for i in 0..ROUND_TRIPS {
        writeln!(input, "ping{i}").expect("write");
        input.flush().expect("flush");
        line.clear();
        output.read_line(&mut line).expect("read");
        assert_eq!(line.trim(), format!("ping{i}"));
    }
    let mean = started.elapsed() / ROUND_TRIPS;
    drop(input);
    assert!(child.wait().expect("ssh exits").success());
    mean
}

#[test]
fn proxy_adds_the_round_trip_time_and_inventory_points_at_it() {
    let ms = 40;
    let lab = TempLab::with_latency(2, ms);
    let proxy = lab.delay_proxy().expect("the lab records its proxy");
    assert_eq!(proxy.latency_ms, ms);

    let inventory = std::fs::read_to_string(lab.inventory()).unwrap();
    let known_hosts = std::fs::read_to_string(lab.known_hosts()).unwrap();
    for (i, node) in lab.nodes().iter().enumerate() {
        let via = node.ssh_proxy.expect("each node has a proxy port");
        assert_eq!(*via.ip(), lab.bridge_address());
        assert_eq!(via.port(), 20001 + i as u16);
        assert!(
            inventory.contains(&format!("port: {}", via.port())),
            "{inventory}"
        );
        assert!(
            known_hosts.contains(&format!("[{}]:{} ssh-ed25519 ", via.ip(), via.port())),
            "{known_hosts}"
        );
    }
    assert!(inventory.contains(&format!("address: {}", lab.bridge_address())));

    let node = &lab.nodes()[0];
    let direct = mean_round_trip(&lab, SocketAddrV4::new(node.address, 22));
    let proxied = mean_round_trip(&lab, node.ssh_endpoint());
    let added = proxied.saturating_sub(direct);
    eprintln!("round trip: direct {direct:?}, through the proxy {proxied:?}, added {added:?}");
    let want = Duration::from_millis(u64::from(ms));
    assert!(
        added >= want.mul_f64(0.9) && added <= want.mul_f64(1.5),
        "the proxy added {added:?} per round trip, expected about {want:?}"
    );
}

#[test]
fn down_stops_the_proxy_and_a_plain_lab_has_none() {
    let dir =
        Path::new("/tmp/tandem-lab-tests").join(format!("latency-cli-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let up = tandem_lab()
        .args([
            "up",
            "--no-opensvc",
            "--nodes",
            "1",
            "--latency-ms",
            "10",
            "--dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(up.status.success(), "up failed: {}", stderr(&up));
    let lab = Lab::load(&dir).unwrap();
    let proxy = lab.delay_proxy().expect("proxy recorded").clone();
    let endpoint = lab.nodes()[0].ssh_endpoint();
    assert!(Path::new(&format!("/proc/{}", proxy.pid)).exists());
    assert!(listening(endpoint), "nothing listens on {endpoint}");
    assert!(TcpStream::connect_timeout(&endpoint.into(), Duration::from_secs(2)).is_ok());

    let down = tandem_lab()
        .arg("down")
        .arg("--dir")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(down.status.success(), "down failed: {}", stderr(&down));
    assert!(stdout(&down).contains("is down"));
    assert!(
        !tandem_integration_alive(proxy.pid),
        "the proxy (pid {}) outlived down",
        proxy.pid
    );
    // Checked in the socket table, not by connecting: with the bridge gone, its address would be
    // routed off this machine.
    assert!(!listening(endpoint), "{endpoint} still listens after down");
    let _ = std::fs::remove_dir_all(&dir);

    let plain = TempLab::new(1);
    assert!(plain.delay_proxy().is_none());
    assert_eq!(plain.nodes()[0].ssh_endpoint().port(), 22);
    let inventory = std::fs::read_to_string(plain.inventory()).unwrap();
    assert!(!inventory.contains("port:"), "{inventory}");
}

/// True while the process exists and is not a zombie.
fn tandem_integration_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(") ")
                .is_some_and(|(_, rest)| !rest.starts_with('Z'))
        })
        .unwrap_or(false)
}

/// True when a socket of this machine listens on exactly this address and port (/proc/net/tcp).
fn listening(at: SocketAddrV4) -> bool {
    // Local addresses are little-endian hex on x86: 198.18.0.1:20001 is "010012C6:4E21".
    let want = format!(
        "{:08X}:{:04X}",
        u32::from_le_bytes(at.ip().octets()),
        at.port()
    );
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(1) == Some(&want.as_str()) && f.get(3) == Some(&"0A")
        })
}
