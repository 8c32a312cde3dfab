#!/usr/bin/env python3
"""Run sandpiper over every case of a Zeek corpus manifest and score the logs.

Each case's traces are read in order (-r ... -r ...) with the case's options
(-C for ignore_checksums, -f for a BPF filter, also for a redef of Zeek's
PacketFilter::restricted_filter or default_capture_filter, --conn-key vlan-five-tuple for
Zeek's VLAN-aware connection key, --tunnel-max-depth for Tunnel::max_depth,
--set MODULE.OPTION=VALUE for a redef of a module option
a module's manifest offers, e.g. SSH::max_packet_length, and --likely-server-ports for a
bare run that loads no protocol script) into RUN_DIR/<case-id>/, then
../shared/tools/zeek_compare.py scores RUN_DIR against the baselines.

    python3 tests/corpus/run.py --bin target/release/sandpiper \\
        --manifest ../shared/corpus/zeek/manifest.json --run-dir /tmp/sp-corpus --logs conn

Exit status: 0, or 1 when --min-score is given and the overall score is below it.
"""
import argparse
import concurrent.futures
import fnmatch
import json
import os
import shlex
import shutil
import subprocess
import sys


def module_options(modules_dir):
    """The options each module's manifest offers: {module: {option names}}."""
    import tomllib
    opts = {}
    if os.path.isdir(modules_dir):
        for f in os.listdir(modules_dir):
            if f.endswith(".toml"):
                with open(os.path.join(modules_dir, f), "rb") as fh:
                    try:
                        m = tomllib.load(fh)
                    except tomllib.TOMLDecodeError:
                        continue
                opts[m.get("name", f[:-5])] = set(m.get("options", {}))
    return opts


def option_settings(case, options):
    """--set for the case's redefs of Zeek module options our modules have (SSH::x -> ssh.x)."""
    out = []
    for r in case.get("redefs", []):
        module, _, name = r["name"].partition("::")
        if r["op"] != "=" or not name or name not in options.get(module.lower(), ()):
            continue
        value = r["value"].strip().strip('"')
        value = {"T": "true", "F": "false"}.get(value, value)
        out += ["--set", f"{module.lower()}.{name}={value}"]
    return out


# The UDP ports Zeek's tunnel packet analyzers (loaded even by zeek -b) add to
# likely_server_ports: AYIYA, Teredo, GTPv1 (user and control), VXLAN, Geneve.
TUNNEL_PORTS = "5072/udp,3544/udp,2152/udp,2123/udp,4789/udp,6081/udp"


def case_command(binary, base, case, out_dir, extra=(), options=None):
    cmd = [binary, "-q", "--seed", "1", "--logdir", out_dir, *extra]
    for t in case["traces"]:
        cmd += ["-r", os.path.join(base, t["path"])]
    if case.get("ignore_checksums"):
        cmd.append("-C")
    bpf = case.get("filter")
    # Zeek's capture-filter settings are a BPF filter here too.
    for r in case.get("redefs", []):
        if r["name"] in ("PacketFilter::restricted_filter", "PacketFilter::default_capture_filter") \
                and r["op"] == "=":
            value = r["value"].strip().strip('"')
            bpf = f"({bpf}) and ({value})" if bpf else value
    if bpf:
        cmd += ["-f", bpf]
    # Zeek's VLAN-aware connection key, by its policy script or its factory.
    scripts = case.get("loads", []) + case.get("policy_scripts", [])
    if any(s.rstrip("/").endswith("conn_key/vlan_fivetuple") for s in scripts) or any(
            r["name"] == "ConnKey::factory" and r["value"].endswith("CONNKEY_VLAN_FIVETUPLE")
            for r in case.get("redefs", [])):
        cmd += ["--conn-key", "vlan-five-tuple"]
    for r in case.get("redefs", []):
        if r["name"] == "Tunnel::max_depth" and r["op"] == "=":
            cmd += ["--tunnel-max-depth", r["value"].strip()]
    cmd += option_settings(case, options or {})
    # Zeek's likely_server_ports come from the scripts loaded. A bare run (zeek -b) that loads
    # no protocol script has only the tunnel packet analyzers' ports.
    bare_only = {"base/protocols/conn", "base/frameworks/tunnels", "base/frameworks/notice/weird",
                 "frameworks/conn_key/vlan_fivetuple"}
    if case.get("bare") and all(l in bare_only or l.startswith("protocols/conn/")
                                for l in case.get("loads", [])):
        cmd += ["--likely-server-ports", TUNNEL_PORTS]
    return cmd


def run_case(binary, base, case, run_dir, extra=(), options=None):
    out_dir = os.path.join(run_dir, case["id"])
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    cmd = case_command(binary, base, case, out_dir, extra, options)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    return case["id"], p.returncode, p.stderr.strip()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(here))
    shared = os.path.join(os.path.dirname(repo), "shared")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(repo, "target", "release", "sandpiper"))
    ap.add_argument("--manifest", default=os.path.join(shared, "corpus", "zeek", "manifest.json"))
    ap.add_argument("--compare", default=os.path.join(shared, "tools", "zeek_compare.py"))
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--logs", default="conn", help="comma-separated log types to score (default conn)")
    ap.add_argument("--cases", default="*", help="glob over case ids")
    ap.add_argument("--include-custom", action="store_true")
    ap.add_argument("--min-score", type=float, default=None)
    ap.add_argument("--json", help="write zeek_compare's JSON result here")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--sandpiper-args", default="",
                    help="more options for every run, e.g. '--modules DIR --log-format json'")
    ap.add_argument("--all-cases", action="store_true",
                    help="run every case, not only those with a baseline of --logs")
    ap.add_argument("--no-score", action="store_true",
                    help="only run the cases (exit 0 even if some runs fail)")
    a = ap.parse_args()

    with open(a.manifest) as f:
        manifest = json.load(f)
    base = os.path.dirname(os.path.abspath(a.manifest))
    wanted = set(a.logs.split(","))
    cases = [
        c for c in manifest["cases"]
        if fnmatch.fnmatch(c["id"], a.cases)
        and (a.include_custom or not c.get("custom"))
        and (a.all_cases or any(b["log"] in wanted for b in c["baselines"]))
    ]
    extra = shlex.split(a.sandpiper_args)
    # Zeek's redefs of module options become --set for the modules that have them.
    modules_dir = next((extra[i + 1] for i, x in enumerate(extra[:-1]) if x == "--modules"),
                       os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(a.bin))),
                                    "modules"))
    options = module_options(modules_dir)
    os.makedirs(a.run_dir, exist_ok=True)
    failures = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs) as pool:
        for cid, rc, err in pool.map(
                lambda c: run_case(a.bin, base, c, a.run_dir, extra, options), cases):
            if rc != 0:
                failures.append((cid, rc, err))
    for cid, rc, err in failures:
        print(f"run failed: {cid} (exit {rc}): {err.splitlines()[-1] if err else ''}", file=sys.stderr)
    print(f"ran {len(cases)} cases into {a.run_dir} ({len(failures)} failed)")
    if a.no_score:
        # Runs that fail (an unsupported link type) are reported above; the caller compares.
        return 0

    cmd = [sys.executable, a.compare, "--manifest", a.manifest, "--run-dir", a.run_dir,
           "--logs", a.logs, "--cases", a.cases, "--only-present"]
    if a.include_custom:
        cmd.append("--include-custom")
    text = subprocess.run(cmd, capture_output=True, text=True).stdout
    print(text)
    res = json.loads(subprocess.run(cmd + ["--json"], capture_output=True, text=True).stdout)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    overall = res.get("overall", {}).get("score")
    if overall is None:
        overall = res.get("score")
    print(f"OVERALL {overall}")
    if failures:
        return 1
    if a.min_score is not None and (overall is None or overall < a.min_score):
        print(f"score {overall} is below the floor {a.min_score}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
