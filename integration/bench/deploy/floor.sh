#!/bin/sh
# The deploy benchmark's floor: every check of the workload (tandem.yml), as one POSIX sh script
# run in one plain `ssh` session per node, with as few processes as a careful hand would use (one
# dpkg-query, one stat, one sha256sum, one grep per file). It changes nothing; it prints the steps
# that are not converged and exits 1 if there are any. The benchmark also runs it after each
# tool's runs, to show every tool left the nodes in the same state.
bad=0
no() { echo "not converged: $1"; bad=$((bad + 1)); }
E=/etc/tandem-bench
V=/var/lib/tandem-bench

# packages
n=$(dpkg-query -W -f='${Status}\n' lxc rsync bridge-utils iproute2 2>/dev/null | grep -c ' installed$')
[ "$n" = 4 ] || no packages
# directories, file modes, owner (one stat for all)
got=$(stat -c '%n %a %U %G' $E $V/a $V/b $V/c $E/one.conf $E/two.conf $E/three.conf $E/four.conf $V 2>/dev/null)
want="$E 755 root root
$V/a 755 root root
$V/b 755 root root
$V/c 755 root root
$E/one.conf 644 root root
$E/two.conf 644 root root
$E/three.conf 644 root root
$E/four.conf 600 root root
$V 750 root root"
[ "$got" = "$want" ] || no "directories, modes, owner"
# configs: inline content, sha256 of the wanted bytes
got=$(sha256sum $E/one.conf $E/two.conf $E/three.conf $E/four.conf 2>/dev/null)
want="9e26bf369911c45c243c684147b23fc9e1dcfcf257d299a1c632016a6fcd33f4  $E/one.conf
eb4751e47dcbbc27d9e924d2c640cc75b0c0c1dfd52c8375d4bef44d87e8e65b  $E/two.conf
f0b4f72338ecd90a70e5ca880485f14a72cb517b4f4915a4a4af785b354ab777  $E/three.conf
fe4fcd5165db435db242e9dd5560ce47df286402ba8fe03398e82d40e68821c4  $E/four.conf"
[ "$got" = "$want" ] || no configs
# template (its rendering differs per node)
[ "$(grep -cxE "node = $(cat /etc/hostname)|workers = 4" $E/t.conf 2>/dev/null)" = 2 ] || no template
# sysctl.d lines
[ "$(grep -cxF -e 'net.ipv4.ip_forward = 1' -e 'vm.swappiness = 10' -e 'fs.inotify.max_user_watches = 65536' \
    /etc/sysctl.d/99-bench.conf 2>/dev/null)" = 3 ] || no "sysctl.d lines"
# live sysctl
read -r f </proc/sys/net/ipv4/ip_forward
[ "$f" = 1 ] || no ip_forward
# block
[ "$(grep -cxE '10\.0\.0\.1 a|10\.0\.0\.2 b' $E/hosts.conf 2>/dev/null)" = 2 ] || no "hosts block"
# command with creates
[ -e $V/done ] || no marker
# symlink
[ "$(readlink $E/current)" = $E/one.conf ] || no link

[ "$bad" = 0 ] && echo converged
[ "$bad" = 0 ]
