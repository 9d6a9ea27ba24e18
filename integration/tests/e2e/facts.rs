//! Facts on lab nodes: memory, addresses and interfaces, disks and mounts, the init system and
//! the OpenSVC agent, compared with what the node itself says; and gathered only when read.

use std::path::Path;

use tandem_integration::lab::TempLab;

use crate::cli::Tandem;

fn sh(lab: &TempLab, node: &str, script: &str) -> String {
    let out = lab.exec(node, script).unwrap();
    assert!(out.status.success(), "{script}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

const FACTS: &str = r#"
steps:
  - name: facts as the node's templates see them
    copy:
      dest: /srv/facts
      content: |
        memory {{ facts.memory_mb }}
        addresses {{ facts.addresses | join(',') }}
        interfaces {{ facts.interfaces | list | sort | join(',') }}
        disks {{ facts.disks | map(attribute='name') | sort | join(',') }}
        root {{ (facts.mounts | selectattr('mount', 'equalto', '/') | list | length) > 0 }}
        init {{ facts.init_system }}
        opensvc {{ facts.opensvc_installed }}
  - name: only with enough memory
    copy: {dest: /srv/big, content: "yes\n"}
    when: facts.memory_mb > 64 and address in facts.addresses
"#;

#[test]
fn facts_match_what_the_node_says_and_are_gathered_only_when_read() {
    let lab = TempLab::new(2);
    let playbook = lab.dir().join("facts.yml");
    std::fs::write(&playbook, FACTS).unwrap();
    // The agent's command on node1 only.
    sh(
        &lab,
        "node1",
        "mkdir -p /usr/local/bin && printf '#!/bin/sh\\n' > /usr/local/bin/om && chmod 755 /usr/local/bin/om",
    );
    let log = lab.dir().join("facts.log");
    let run = Tandem::new(["deploy", "-i"]).run_with(
        &lab.inventory(),
        &[
            playbook.to_str().unwrap(),
            "--json",
            "--log-file",
            log.to_str().unwrap(),
        ],
    );
    run.expect_code(0);
    for (node, agent) in [("node1", "True"), ("node2", "False")] {
        let memory = sh(
            &lab,
            node,
            "awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo",
        );
        let interfaces = sh(&lab, node, "ls /sys/class/net | sort | paste -sd, -");
        let disks = sh(
            &lab,
            node,
            "for b in /sys/block/*; do [ \"$(cat $b/size)\" != 0 ] && echo ${b##*/}; done | sort | paste -sd, -",
        );
        let init = sh(
            &lab,
            node,
            "if [ -d /run/systemd/system ]; then echo systemd; else cat /proc/1/comm; fi",
        );
        let address = lab.node(node).address.to_string();
        let seen = sh(&lab, node, "cat /srv/facts");
        let lines: Vec<&str> = seen.lines().collect();
        assert_eq!(lines[0], format!("memory {memory}"), "{seen}");
        assert!(
            lines[1].starts_with("addresses ") && lines[1].split([' ', ',']).any(|a| a == address),
            "{address} not in: {seen}"
        );
        assert_eq!(lines[2], format!("interfaces {interfaces}"), "{seen}");
        assert_eq!(lines[3], format!("disks {disks}"), "{seen}");
        assert_eq!(lines[4], "root True", "{seen}");
        assert_eq!(lines[5], format!("init {init}"), "{seen}");
        assert_eq!(lines[6], format!("opensvc {agent}"), "{seen}");
        assert_eq!(sh(&lab, node, "cat /srv/big"), "yes");
    }
    // Read: their lines were in the facts frame.
    let sent = std::fs::read_to_string(&log).unwrap();
    assert!(
        sent.contains("MemTotal") && sent.contains("ip -j addr"),
        "facts frame not logged"
    );

    // A playbook that reads none of them sends the base facts only.
    let plain = lab.dir().join("plain.yml");
    std::fs::write(
        &plain,
        "steps:\n  - copy: {dest: /srv/os, content: \"{{ facts.os_id }}\\n\"}\n",
    )
    .unwrap();
    let log = lab.dir().join("plain.log");
    Tandem::new(["deploy", "-i"])
        .run_with(
            &lab.inventory(),
            &[plain.to_str().unwrap(), "--log-file", log.to_str().unwrap()],
        )
        .expect_code(0);
    let sent = std::fs::read_to_string(&log).unwrap();
    assert!(
        sent.contains("tandem_fact os_id"),
        "no facts frame in the log"
    );
    assert!(
        !sent.contains("MemTotal") && !sent.contains("ip -j addr"),
        "gathered unread facts"
    );
    assert!(Path::new(&log).exists());
}

#[test]
fn a_fact_name_that_is_no_fact_is_refused_before_connecting() {
    let lab = TempLab::new(1);
    let playbook = lab.dir().join("typo.yml");
    std::fs::write(
        &playbook,
        "steps:\n  - command: {cmd: \"true\"}\n    when: facts.memroy_mb > 1\n",
    )
    .unwrap();
    let run = Tandem::new(["deploy", "-i"]).run_with(
        &lab.inventory(),
        &[playbook.to_str().unwrap(), "--syntax-check"],
    );
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("reads `facts.memroy_mb`, which is not a fact")
            && run.stderr.contains("did you mean `memory_mb`?"),
        "{}",
        run.stderr
    );
}
