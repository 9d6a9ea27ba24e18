"""The deploy benchmark's workload for pyinfra (18 operations, same as ../tandem.yml)."""

from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.facts.files import File
from pyinfra.operations import apt, files, server

TEMPLATE = str(Path(__file__).resolve().parent.parent / "templates" / "bench.conf.j2")

apt.packages(name="packages", packages=["lxc", "rsync", "bridge-utils", "iproute2"], present=True)
files.directory(name="dir etc", path="/etc/tandem-bench", mode="755")
for d in ("a", "b", "c"):
    files.directory(name=f"dir {d}", path=f"/var/lib/tandem-bench/{d}", mode="755")
for name, content, mode in (
    ("one", "x = 1\n", "644"),
    ("two", "listen = 0.0.0.0:8080\nworkers = 4\n", "644"),
    ("three", "[cache]\nsize = 64M\nttl = 300\n", "644"),
    ("four", "token = not-a-secret\n", "600"),
):
    files.put(name=f"config {name}", src=StringIO(content), dest=f"/etc/tandem-bench/{name}.conf", mode=mode)
files.template(
    name="template",
    src=TEMPLATE,
    dest="/etc/tandem-bench/t.conf",
    mode="644",
    node=host.data.node,
    cluster=host.data.cluster,
    workers=4,
)
for key, value in (
    ("net.ipv4.ip_forward", "1"),
    ("vm.swappiness", "10"),
    ("fs.inotify.max_user_watches", "65536"),
):
    files.line(
        name=f"sysctl line {key}",
        path="/etc/sysctl.d/99-bench.conf",
        line=f"^{key}",
        replace=f"{key} = {value}",
    )
server.sysctl(name="ip_forward", key="net.ipv4.ip_forward", value=1)
files.block(name="hosts block", path="/etc/tandem-bench/hosts.conf", content="10.0.0.1 a\n10.0.0.2 b")
# `creates`: pyinfra's idiom is a fact read while the deploy is prepared.
if not host.get_fact(File, path="/var/lib/tandem-bench/done"):
    server.shell(name="marker", commands=["touch /var/lib/tandem-bench/done"])
files.link(name="link", path="/etc/tandem-bench/current", target="/etc/tandem-bench/one.conf")
files.directory(name="state dir mode", path="/var/lib/tandem-bench", mode="750", user="root", group="root")
