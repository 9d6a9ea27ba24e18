#!/usr/bin/env bash
# Helpers the scripts here share; sourced, never run (`. integration/scripts/lib.sh`).

# What comes from ../shared, the directory beside this clone (not part of the repository):
#   ../shared/seed/lxc-clustered-services-on-ovh.rst   the cookbook tandem's playbook follows
#   ../shared/opensvc/opensvc-agent-2.1-17db875.tar.gz the OpenSVC v2 agent the lab nodes run
# Each script names the files it reads with need_shared before it starts any work.
# shellcheck disable=SC2034 # read by the scripts that source this file
shared_cookbook=../shared/seed/lxc-clustered-services-on-ovh.rst
# shellcheck disable=SC2034 # read by the scripts that source this file
shared_opensvc_tarball=../shared/opensvc/opensvc-agent-2.1-17db875.tar.gz

# need_shared PATH WHAT: fails with one line naming the missing file and where it comes from,
# instead of a script failing later, deep in a build or a lab, for a file it never had.
need_shared() {
    local path=$1 what=$2
    if [ ! -r "$path" ]; then
        echo "$(basename "$0"): $what is missing: $(pwd)/$path comes from ../shared, the directory beside this clone (not in the repository): put it there, then run this again" >&2
        exit 2
    fi
}

# Stages with their timings: `stage NAME` ends the stage before and starts NAME; `stages_report`
# ends the last one and prints one line per stage and the total.
stage_names=()
stage_ms=()
stage_started=
stage_now_ms() { date +%s%3N; }
stage() {
    stage_end
    stage_names+=("$1")
    stage_started=$(stage_now_ms)
    echo
    echo "==== stage: $1"
}
stage_end() {
    if [ -n "$stage_started" ]; then
        stage_ms+=($(($(stage_now_ms) - stage_started)))
        stage_started=
    fi
}
# The milliseconds the stages named after the first argument took, together.
stages_ms_after() {
    local after=$1 i total=0 counting=
    for i in "${!stage_ms[@]}"; do
        [ -n "$counting" ] && total=$((total + stage_ms[i]))
        [ "${stage_names[i]}" = "$after" ] && counting=1
    done
    echo "$total"
}
stages_report() {
    stage_end
    local i total=0
    echo
    echo "==== timings"
    for i in "${!stage_ms[@]}"; do
        printf '  %-10s %7.1f s\n' "${stage_names[i]}" "$(echo "${stage_ms[i]}" | awk '{print $1 / 1000}')"
        total=$((total + stage_ms[i]))
    done
    printf '  %-10s %7.1f s\n' total "$(echo "$total" | awk '{print $1 / 1000}')"
}
