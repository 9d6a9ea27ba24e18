#!/bin/sh
# The deploy benchmark's floor: every check of the workload (tandem.yml), as one POSIX sh script
# run in one plain `ssh` session per node. It changes nothing; it prints the steps that are not
# converged and exits 1 if there are any. The benchmark also runs it after each tool's converged
# run, to show all three tools left the nodes in the same state.
bad=0
no() { echo "not converged: $1"; bad=$((bad + 1)); }
sha() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }
mode() { stat -c %a "$1" 2>/dev/null; }

# packages
n=$(dpkg-query -W -f='${Status}\n' lxc rsync bridge-utils iproute2 2>/dev/null | grep -c ' installed$')
[ "$n" = 4 ] || no packages
# directories
for d in /etc/tandem-bench /var/lib/tandem-bench/a /var/lib/tandem-bench/b /var/lib/tandem-bench/c; do
    [ -d "$d" ] && [ "$(mode "$d")" = 755 ] || no "dir $d"
done
# configs (inline content)
[ "$(sha /etc/tandem-bench/one.conf)" = "$(printf 'x = 1\n' | sha256sum | cut -d' ' -f1)" ] &&
    [ "$(mode /etc/tandem-bench/one.conf)" = 644 ] || no "config one"
[ "$(sha /etc/tandem-bench/two.conf)" = "$(printf 'listen = 0.0.0.0:8080\nworkers = 4\n' | sha256sum | cut -d' ' -f1)" ] &&
    [ "$(mode /etc/tandem-bench/two.conf)" = 644 ] || no "config two"
[ "$(sha /etc/tandem-bench/three.conf)" = "$(printf '[cache]\nsize = 64M\nttl = 300\n' | sha256sum | cut -d' ' -f1)" ] &&
    [ "$(mode /etc/tandem-bench/three.conf)" = 644 ] || no "config three"
[ "$(sha /etc/tandem-bench/four.conf)" = "$(printf 'token = not-a-secret\n' | sha256sum | cut -d' ' -f1)" ] &&
    [ "$(mode /etc/tandem-bench/four.conf)" = 600 ] || no "config four"
# template
grep -qx "node = $(hostname)" /etc/tandem-bench/t.conf 2>/dev/null && grep -qx 'workers = 4' /etc/tandem-bench/t.conf ||
    no template
# sysctl.d lines
for l in 'net.ipv4.ip_forward = 1' 'vm.swappiness = 10' 'fs.inotify.max_user_watches = 65536'; do
    grep -qxF "$l" /etc/sysctl.d/99-bench.conf 2>/dev/null || no "line $l"
done
# live sysctl
[ "$(cat /proc/sys/net/ipv4/ip_forward)" = 1 ] || no ip_forward
# block
grep -qx '10.0.0.1 a' /etc/tandem-bench/hosts.conf 2>/dev/null && grep -qx '10.0.0.2 b' /etc/tandem-bench/hosts.conf ||
    no "hosts block"
# command with creates
[ -e /var/lib/tandem-bench/done ] || no marker
# symlink
[ "$(readlink /etc/tandem-bench/current)" = /etc/tandem-bench/one.conf ] || no link
# mode/owner
[ "$(stat -c '%a %U %G' /var/lib/tandem-bench 2>/dev/null)" = '750 root root' ] || no "state dir mode"

[ "$bad" = 0 ] && echo converged
[ "$bad" = 0 ]
