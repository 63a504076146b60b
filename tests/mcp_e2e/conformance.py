"""Runs the official MCP conformance suite's authorization-server scenarios against Gatehouse.

`conformance authorization` prints an authorization URL and waits for the redirect on its
own callback server (http://127.0.0.1:<port>/callback). This script plays the person: it
signs in and consents on Gatehouse's pages (pages.Browser) and delivers the redirect to
the suite's callback. Each scenario's checks are read from the suite's output directory.

Usage: python conformance.py --node NODE --cli CONFORMANCE_JS --issuer ISSUER --client-id ID
           --port P --out DIR --label NAME [--resource URI]
       (E2E_EMAIL / E2E_PASSWORD: the person who signs in)
"""
import argparse
import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import httpx2

from checks import Checks
from pages import Browser

TIMEOUT = 240  # seconds for one suite run


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--node", required=True)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--client-id", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--label", required=True)
    ap.add_argument("--resource")
    args = ap.parse_args()
    c = Checks(f"conformance {args.label}")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    cmd = [args.node, args.cli, "authorization", "--url", args.issuer, "--client-id", args.client_id,
           "-p", str(args.port), "-o", str(out)]
    if args.resource:
        cmd += ["--resource", args.resource]
    print("  $ " + " ".join(cmd), flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    # Stopped from outside (run.sh's time limit): stop the suite too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    timer = threading.Timer(TIMEOUT, proc.kill)
    timer.start()
    browser = Browser(os.environ["E2E_EMAIL"], os.environ["E2E_PASSWORD"])
    authorized = 0
    try:
        for line in proc.stdout:
            print("  | " + line.rstrip(), flush=True)
            if line.startswith(f"{args.issuer}/authorize?"):
                try:
                    a = browser.authorize(line.strip())
                    print(f"  > pages {a.pages}, redirect {a.location}", flush=True)
                    # Deliver the redirect to the suite's callback server, as the browser would.
                    deadline = time.monotonic() + 15
                    while True:
                        try:
                            httpx2.get(a.location, timeout=5)
                            break
                        except httpx2.TransportError:
                            if time.monotonic() > deadline:
                                raise
                            time.sleep(0.1)
                    authorized += 1
                except Exception as e:  # the suite then times out; say why here
                    c.check("the person could authorize the suite's request", False, f"{type(e).__name__}: {e}")
                    proc.kill()
        rc = proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        browser.close()
    c.check("the suite's authorization request was completed through the pages", authorized >= 1, authorized)

    results = sorted(out.glob("**/checks.json"))
    seen = 0
    for path in results:
        for chk in json.loads(path.read_text()):
            status = chk.get("status")
            if status in ("SKIPPED", "INFO"):
                continue
            seen += 1
            if status == "WARNING":
                print(f"  warn  {chk.get('id')}: {chk.get('errorMessage') or chk.get('description')}", flush=True)
                continue
            c.check(f"{chk.get('id')} ({path.parent.name})", status == "SUCCESS",
                    chk.get("errorMessage") or json.dumps(chk.get("details"))[:800])
    c.check("the suite reported checks", seen > 0, f"no checks.json under {out}")
    c.check("the suite exited 0", rc == 0, f"exit code {rc}")
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
