#!/usr/bin/env python3
"""demo_view.py — the eyes of tools/demo.sh: asks nodes for their status (aurum status --json),
waits for a condition with a deadline while printing progress lines, and prints the evidence.

    demo_view.py AURUM COMMAND ARGS...
      formed N ADDR...          wait until every ADDR lists N live members; print members, ring
      devices N ADDR...         wait until every ADDR names N devices with one agreed owner; print
      counter V ADDR...         wait until every ADDR reads the shared counter at V; print
      removed DEAD ADDR...      wait until every ADDR reports DEAD removed; print
      reowned DEAD ADDR...      wait until no device is owned by DEAD, agreed by every ADDR; print
      owned-by DEAD ADDR        print the devices ADDR says DEAD owns (one name a line)
Exit status: 0 the condition held, 1 not within the deadline (it says what it saw), 2 usage."""
import json
import subprocess
import sys
import time

DEADLINE = 30.0


def status(aurum, addr):
    try:
        out = subprocess.run([aurum, "status", addr, "--json", "--timeout", "500"],
                             capture_output=True, text=True, timeout=5)
    except subprocess.TimeoutExpired:
        return None
    if out.returncode != 0:
        return None
    return json.loads(out.stdout)


def wait(aurum, addrs, check, what):
    """Polls every address until check(statuses) returns (True, note); progress every ~1 s."""
    start = time.monotonic()
    last = 0.0
    while True:
        sts = {a: status(aurum, a) for a in addrs}
        ok, note = check(sts)
        now = time.monotonic() - start
        if ok:
            print(f"   ... {what}: done after {now:.1f} s")
            return sts
        if now > DEADLINE:
            print(f"   !!! {what}: not within {DEADLINE:.0f} s ({note})")
            sys.exit(1)
        if now - last >= 1.0:
            print(f"   ... {what}: {note} ({now:.1f} s)")
            sys.stdout.flush()
            last = now
        time.sleep(0.2)


def live(st):
    return [m for m in st["members"] if m["state"] != "removed"]


def name_of(addr, names):
    return names.get(addr, addr)


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    aurum, cmd = sys.argv[1], sys.argv[2]
    # Node names for the printout: "node1=127.0.0.1:4000" arguments set them.
    args = [a for a in sys.argv[3:] if "=" not in a]
    names = {a.split("=", 1)[1]: a.split("=", 1)[0] for a in sys.argv[3:] if "=" in a}

    if cmd == "formed":
        n, addrs = int(args[0]), args[1:]

        def check(sts):
            seen = [len(live(s)) if s else 0 for s in sts.values()]
            return all(x == n for x in seen), "members seen by each node: " + ", ".join(
                f"{name_of(a, names)} {x}" for a, x in zip(sts, seen))
        sts = wait(aurum, addrs, check, f"every node sees {n} members")
        st = sts[addrs[0]]
        print(f"   {name_of(st['address'], names)}'s view ({st['address']}):")
        print(f"     {'MEMBER':<8} {'ADDRESS':<18} {'STATE':<7} {'RING SHARE':>10}   ID")
        for m in sorted(st["members"], key=lambda m: name_of(m["address"], names)):
            print(f"     {name_of(m['address'], names):<8} {m['address']:<18} {m['state']:<7} "
                  f"{100 * m['ring_share']:>9.1f}%   {m['id']}")
        agree = len({json.dumps(sorted((m["address"], m["id"]) for m in live(s)))
                     for s in sts.values()}) == 1
        print(f"   every node lists the same members with the same ids: {'yes' if agree else 'NO'}")
        st = sts[addrs[0]]
        print(f"   datagrams so far on {name_of(st['address'], names)}: "
              f"{st['node_stats']['datagrams_sent']} sent, "
              f"{st['node_stats']['datagrams_received']} received, "
              f"{sum(v for k, v in st['node_stats'].items() if k.startswith('drops_'))} dropped")

    elif cmd in ("devices", "reowned"):
        addrs = args[1:]
        want_n = int(args[0]) if cmd == "devices" else None
        dead = args[0] if cmd == "reowned" else None

        def owners(s):
            return {d["name"]: d["owner"] for d in s["devices"] if d["owner"]}

        def check(sts):
            if not all(sts.values()):
                return False, "a node did not answer"
            views = [owners(s) for s in sts.values()]
            agreed = all(v == views[0] for v in views)
            if cmd == "devices":
                return (agreed and len(views[0]) == want_n,
                        "devices named and owned, per node: " +
                        ", ".join(f"{name_of(a, names)} {len(v)}" for a, v in zip(sts, views)) +
                        ("" if agreed else "; owners not yet agreed"))
            on_dead = sorted(d for d, o in views[0].items() if o == dead)
            return (agreed and not on_dead and len(views[0]) > 0,
                    f"still owned by {name_of(dead, names)}: {', '.join(on_dead) or 'none'}" +
                    ("" if agreed else "; owners not yet agreed"))
        what = (f"{want_n} devices known by every node, one owner each" if cmd == "devices"
                else f"{name_of(dead, names)}'s devices taken over")
        sts = wait(aurum, addrs, check, what)
        st = sts[addrs[0]]
        print(f"     {'DEVICE':<10} {'OWNER':<8} (agreed by {', '.join(name_of(a, names) for a in addrs)})")
        for d in sorted(st["devices"], key=lambda d: d["name"]):
            print(f"     {d['name']:<10} {name_of(d['owner'], names):<8}")

    elif cmd == "owned-by":
        dead, addr = args[0], args[1]
        st = status(aurum, addr)
        for d in sorted(st["devices"] if st else [], key=lambda d: d["name"]):
            if d["owner"] == dead:
                print(d["name"])

    elif cmd == "counter":
        v, addrs = int(args[0]), args[1:]

        def check(sts):
            seen = [s["counter"] if s else None for s in sts.values()]
            return all(x == v for x in seen), "counter per node: " + ", ".join(
                f"{name_of(a, names)} {x}" for a, x in zip(sts, seen))
        sts = wait(aurum, addrs, check, f"every node reads the counter at {v}")
        print("     " + ", ".join(f"{name_of(a, names)}: counter = {s['counter']}"
                                  for a, s in sts.items()))

    elif cmd == "removed":
        dead, addrs = args[0], args[1:]

        def state(s):
            for m in s["members"] if s else []:
                if m["address"] == dead:
                    return m["state"] + (f" ({m['reason']})" if m["reason"] else "")
            return "unknown"

        def check(sts):
            seen = [state(s) for s in sts.values()]
            return all(x.startswith("removed") for x in seen), \
                f"{name_of(dead, names)} as each node sees it: " + ", ".join(
                    f"{name_of(a, names)} {x}" for a, x in zip(sts, seen))
        sts = wait(aurum, addrs, check, f"{name_of(dead, names)} removed by every survivor")
        for a, s in sts.items():
            print(f"     {name_of(a, names)} sees: " + ", ".join(
                f"{name_of(m['address'], names)} {m['state']}"
                + (f" ({m['reason']})" if m["reason"] else "")
                + (f" {100 * m['ring_share']:.0f}% of the ring" if m["state"] != "removed" else "")
                for m in sorted(s["members"], key=lambda m: name_of(m["address"], names))))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
