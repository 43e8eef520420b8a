#!/usr/bin/env python3
"""Smoke test for the SCTP test guest (tools/sctp-vm): does this kernel do SCTP?

Checks, each with a deadline:
  1. one-to-many SCTP (SOCK_SEQPACKET) on 127.0.0.1: a message there and a reply back;
  2. one-to-one SCTP (SOCK_STREAM) on 127.0.0.1: connect, accept, echo;
  3. `ip netns` (the host's iproute2): a namespace, SCTP inside it, removed again (root only;
     required in the guest, skipped elsewhere when not root);
  4. `sipp -v` runs and is built with SCTP;
  5. one SIP call over SCTP (`sipp -t s1`, uac against uas) on 127.0.0.1.
Exits 0 when all pass. Run it in the guest: tools/sctp-vm/run.sh -- python3 tools/sctp-vm/smoke.py
"""
import os
import shutil
import socket
import subprocess
import sys
import time

IPPROTO_SCTP = getattr(socket, "IPPROTO_SCTP", 132)
MSG_NOTIFICATION = 0x8000
DEADLINE = 20.0  # seconds for any one wait
IN_GUEST = os.environ.get("SCTP_VM_GUEST") == "1"

CHECKS = []


def check(name):
    def register(fn):
        CHECKS.append((name, fn))
        return fn
    return register


def recv_data(sock, bufsize=4096):
    """recvmsg, skipping SCTP notifications; returns (data, address)."""
    end = time.monotonic() + DEADLINE
    while True:
        sock.settimeout(max(0.1, end - time.monotonic()))
        data, _anc, flags, addr = sock.recvmsg(bufsize)
        if not flags & MSG_NOTIFICATION:
            return data, addr
        if time.monotonic() > end:
            raise TimeoutError("only notifications before the deadline")


def seqpacket_pair_exchange():
    a = socket.socket(socket.AF_INET, socket.SOCK_SEQPACKET, IPPROTO_SCTP)
    b = socket.socket(socket.AF_INET, socket.SOCK_SEQPACKET, IPPROTO_SCTP)
    with a, b:
        for s in (a, b):
            s.bind(("127.0.0.1", 0))
            s.listen()
        a.settimeout(DEADLINE)
        a.sendto(b"ping over sctp", b.getsockname())
        data, peer = recv_data(b)
        assert data == b"ping over sctp", data
        assert peer[1] == a.getsockname()[1], (peer, a.getsockname())
        b.sendto(b"pong", peer)
        data, _ = recv_data(a)
        assert data == b"pong", data
        return f"{a.getsockname()[1]} <-> {b.getsockname()[1]}"


@check("sctp one-to-many (SOCK_SEQPACKET) on 127.0.0.1")
def _one_to_many():
    return seqpacket_pair_exchange()


@check("sctp one-to-one (SOCK_STREAM) on 127.0.0.1")
def _one_to_one():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM, IPPROTO_SCTP)
    with srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        srv.settimeout(DEADLINE)
        cli = socket.socket(socket.AF_INET, socket.SOCK_STREAM, IPPROTO_SCTP)
        with cli:
            cli.settimeout(DEADLINE)
            cli.connect(srv.getsockname())
            conn, _ = srv.accept()
            with conn:
                conn.settimeout(DEADLINE)
                cli.sendall(b"hello")
                assert conn.recv(100) == b"hello"
                conn.sendall(b"world")
                assert cli.recv(100) == b"world"


def run(cmd, timeout=DEADLINE, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


@check("ip netns: a namespace with SCTP inside")
def _netns():
    ip = shutil.which("ip")
    if os.geteuid() != 0 or ip is None:
        if IN_GUEST:
            raise RuntimeError("need root and iproute2's ip in the guest")
        return "skip"
    name = f"sctpvm-smoke-{os.getpid()}"
    r = run([ip, "netns", "add", name])
    if r.returncode != 0:
        raise RuntimeError(f"ip netns add: {r.stderr.strip()}")
    try:
        r = run([ip, "-n", name, "link", "set", "lo", "up"])
        assert r.returncode == 0, r.stderr
        # The one-to-many exchange again, inside the namespace (this file with --inner).
        r = run([ip, "netns", "exec", name, sys.executable, os.path.abspath(__file__), "--inner"])
        assert r.returncode == 0, f"in the namespace: {r.stdout}{r.stderr}"
        return r.stdout.strip()
    finally:
        run([ip, "netns", "del", name])


@check("sipp -v (built with SCTP)")
def _sipp_version():
    sipp = shutil.which("sipp")
    if sipp is None:
        raise RuntimeError("no sipp on PATH (Debian package sip-tester)")
    r = run([sipp, "-v"])  # sipp -v exits 99 after printing its version
    line = next((l.strip() for l in r.stdout.splitlines() if "SIPp v" in l), "")
    assert line, f"no version line: {r.stdout!r} {r.stderr!r}"
    assert "SCTP" in line, f"sipp is built without SCTP: {line}"
    return line


def free_sctp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_SEQPACKET, IPPROTO_SCTP)
    with s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_sctp_listener(port, proc):
    """Until an SCTP endpoint is bound to port (/proc/net/sctp/eps), with a deadline."""
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"sipp uas exited {proc.returncode} before listening")
        try:
            with open("/proc/net/sctp/eps") as f:
                # columns: ENDPT SOCK STY SST HBKT LPORT UID INODE LADDRS
                if any(len(w) > 5 and w[5] == str(port) for w in (l.split() for l in f)):
                    return
        except FileNotFoundError:
            time.sleep(0.5)  # no /proc/net/sctp: give the uas a moment instead
            return
        time.sleep(0.05)
    raise TimeoutError(f"sipp uas not listening on SCTP port {port} after {DEADLINE}s")


@check("sipp: one call over SCTP (-t s1), uac -> uas on 127.0.0.1")
def _sipp_call():
    sipp = shutil.which("sipp")
    if sipp is None:
        raise RuntimeError("no sipp on PATH")
    port = free_sctp_port()
    common = ["-t", "s1", "-i", "127.0.0.1", "-m", "1", "-timeout", "30s", "-nostdin",
              "-trace_err", "-error_file", os.devnull]
    uas = subprocess.Popen([sipp, "-sn", "uas", "-p", str(port)] + common,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_sctp_listener(port, uas)
        uac = run([sipp, "-sn", "uac", f"127.0.0.1:{port}", "-p", "0"] + common,
                  timeout=45)
        assert uac.returncode == 0, f"uac exit {uac.returncode}: {uac.stderr.strip()[-500:]}"
        # uac exit 0: INVITE, 100, 180, 200, ACK, BYE, 200 all went through. The built-in uas
        # scenario then pauses 4 s before it counts the call: end it now instead.
        if uas.poll() not in (None, 0):
            raise RuntimeError(f"uas exit {uas.returncode}: {uas.stderr.read().strip()[-500:]}")
        return f"port {port}"
    finally:
        if uas.poll() is None:
            uas.kill()
            uas.wait(timeout=5)


def main():
    if sys.argv[1:] == ["--inner"]:
        print("in the namespace: " + seqpacket_pair_exchange())
        return 0
    passed = failed = 0
    for name, fn in CHECKS:
        t = time.monotonic()
        try:
            detail = fn()
        except Exception as e:  # a failed check is reported, the others still run
            failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
            continue
        if detail == "skip":
            print(f"skip {name}", flush=True)
            continue
        passed += 1
        print(f"ok   {name} ({time.monotonic() - t:.2f}s){': ' + detail if detail else ''}",
              flush=True)
    print(f"smoke: {passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
