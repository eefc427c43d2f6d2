#!/usr/bin/env python3
"""Renders each case's template.j2 with its vars.json through Ansible's own
`template` module (ansible-playbook, local connection) into OUT/CASE.

usage: render.py OUT CASE_DIR...
"""
import json
import os
import subprocess
import sys
import tempfile

out = os.path.abspath(sys.argv[1])
cases = [os.path.abspath(c) for c in sys.argv[2:]]
os.makedirs(out, exist_ok=True)
plays = []
for case in cases:
    name = os.path.basename(case)
    plays.append({
        "name": name,
        "hosts": "localhost",
        "gather_facts": False,
        "vars_files": [os.path.join(case, "vars.json")],
        "tasks": [{"template": {"src": os.path.join(case, "template.j2"),
                                "dest": os.path.join(out, name)}}],
    })
with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
    json.dump(plays, f)
    playbook = f.name
env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0",
           ANSIBLE_INVENTORY_UNPARSED_WARNING="0", ANSIBLE_RETRY_FILES_ENABLED="0")
run = subprocess.run(
    ["ansible-playbook", "-i", "localhost,", "-c", "local",
     "-e", "ansible_python_interpreter=" + sys.executable, playbook],
    env=env, capture_output=True, text=True)
os.unlink(playbook)
if run.returncode != 0:
    sys.stderr.write(run.stdout + run.stderr)
    sys.exit(run.returncode)
