//! The end-to-end test binary: every test that needs a lab (root, namespaces, real sshd) lives in a
//! module here, so cargo builds one binary and nextest runs each test in its own process.

mod cli;
mod config;
mod day_one_flags;
mod deploy;
pub mod failover;
mod faults;
mod fresh_scripts;
mod game_day_faults;
mod game_day_history;
mod host_key_change;
mod hostile_values;
mod keys;
mod lab;
mod lab_steps;
mod latency;
mod modules_lab;
mod no_route;
mod opensvc_cluster;
mod opensvc_game_day;
mod opensvc_lab;
mod ovh_preflight;
mod packages;
mod playbook_control;
mod report_html;
mod rollout;
mod run;
mod secrets;
mod shell;
mod startups;
mod step_timeout;
mod support;
mod symlinks;
pub mod vip;
