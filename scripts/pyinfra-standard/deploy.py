# The standard workload (tests/workloads/standard) as a pyinfra deploy:
# the same 77 resources per host, for scripts/bench-vs-pyinfra.
from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.facts.files import File
from pyinfra.operations import files, server

ROOT = "/srv/bench"
NAME = host.name
TEMPLATE = str(Path(__file__).resolve().parents[2] / "tests/workloads/standard/templates/app.conf.j2")

server.group(name="group benchapp", group="benchapp")
server.group(name="group benchops", group="benchops")
files.directory(name="dir root", path=ROOT, mode="755")
server.user(
    name="user benchapp", user="benchapp", group="benchapp", groups=["benchops"],
    home=f"{ROOT}/home", create_home=True, shell="/bin/sh",
)
server.user(name="user benchops", user="benchops", group="benchops", create_home=False, shell="/bin/sh")
files.directory(name="dir files", path=f"{ROOT}/files", user="benchapp", group="benchapp", mode="755")
files.directory(name="dir conf", path=f"{ROOT}/conf", mode="755")
files.directory(name="dir state", path=f"{ROOT}/state", user="benchapp", mode="750")

for i in range(50):
    files.put(
        name=f"file f{i:02}", src=StringIO(f"file {i} of {NAME}\n"), dest=f"{ROOT}/files/f{i:02}",
        user="benchapp", group="benchapp", mode="644",
    )

if not host.get_fact(File, path=f"{ROOT}/state/checksums"):
    server.shell(name="checksums", commands=[f"cd {ROOT}/files && sha256sum f?? > {ROOT}/state/checksums"])

changed = []
for i in range(10):
    changed.append(files.template(
        name=f"template app-{i}", src=TEMPLATE, dest=f"{ROOT}/conf/app-{i}.conf", mode="644",
        host=NAME, index=i, workers=4, log_level="info",
        features=["cache", "metrics", "tracing"], primary=i == 0,
        # Ansible's template defaults, which mc follows.
        jinja_env_kwargs={"trim_blocks": True},
    ))

files.line(name="limits nofile", path=f"{ROOT}/conf/limits.conf", line="^benchapp soft nofile",
           replace="benchapp soft nofile 4096")
files.line(name="limits nproc", path=f"{ROOT}/conf/limits.conf", line="^benchapp soft nproc",
           replace="benchapp soft nproc 512")
files.line(name="env mode", path=f"{ROOT}/conf/env", line="^APP_MODE=", replace="APP_MODE=production")
files.line(name="env host", path=f"{ROOT}/conf/env", line="^APP_HOST=", replace=f"APP_HOST={NAME}")
files.line(name="env workers", path=f"{ROOT}/conf/env", line="^APP_WORKERS=", replace="APP_WORKERS=4")

if not host.get_fact(File, path=f"{ROOT}/state/built"):
    server.shell(name="marker", commands=[f"echo built > {ROOT}/state/built"])
if not host.get_fact(File, path=f"{ROOT}/state/conf.tar"):
    server.shell(name="archive", commands=[f"tar -cf {ROOT}/state/conf.tar -C {ROOT} conf"])

server.shell(
    name="reload-app", commands=[f"echo reload >> {ROOT}/state/reloads"],
    _if=lambda: any(op.did_change() for op in changed),
)
