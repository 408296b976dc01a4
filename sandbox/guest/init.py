"""pid 1 inside the sandbox (stdlib only; runs under the sandbox's /usr/bin/python3).

It binds the egress forwarder (127.0.0.1:3128 -> the host relay's Unix socket)
*before* starting the agent, so the agent never sees a moment where the proxy
port is closed; then it forks the agent, forwards polite signals to it, reaps
orphans (pid 1's job) and exits with the agent's status (128+N for signal N).

Usage: init.py [--proxy SOCKET] -- CMD [ARGS...]
"""
import os
import signal
import socket
import sys
import threading

LISTEN = ("127.0.0.1", 3128)
# Large buffers: under gVisor's ptrace platform every syscall is a trap to the
# sentry, so bytes per syscall, not copies, decide the throughput.
BUF = 1 << 20
SOCKBUF = 4 << 20


def _tune(s):
    for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        try:
            s.setsockopt(socket.SOL_SOCKET, opt, SOCKBUF)
        except OSError:
            pass


def _pump(src, dst):
    buf = bytearray(BUF)
    view = memoryview(buf)
    try:
        while True:
            n = src.recv_into(buf)
            if not n:
                break
            dst.sendall(view[:n])
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def _handle(client, path):
    up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        _tune(up)
        up.connect(path)
    except OSError:
        # Fail closed: no relay, no egress.
        client.close()
        up.close()
        return
    _tune(client)
    back = threading.Thread(target=_pump, args=(up, client), daemon=True)
    try:
        back.start()
    except RuntimeError:  # out of threads: fail this connection, not the forwarder
        client.close()
        up.close()
        return
    _pump(client, up)
    back.join()
    client.close()
    up.close()


def _serve(listener, path):
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            continue
        try:
            threading.Thread(target=_handle, args=(client, path), daemon=True).start()
        except RuntimeError:
            # Out of threads (the agent hit its process limit): drop this connection, keep
            # serving; the forwarder must outlive the agent's own exhaustion.
            client.close()


def main(argv):
    proxy = None
    if argv[:1] == ["--proxy"]:
        proxy, argv = argv[1], argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("init.py: no command", file=sys.stderr)
        return 127
    if proxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(LISTEN)
        listener.listen(128)
        threading.Thread(target=_serve, args=(listener, proxy), daemon=True).start()
    child = os.fork()
    if child == 0:
        try:
            os.execvp(argv[0], argv)
        except OSError as exc:
            print(f"ptaudit-init: cannot exec {argv[0]}: {exc}", file=sys.stderr)
            os._exit(127)

    def forward(signum, _frame):
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid == child:
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) \
                else 128 + os.WTERMSIG(status)


if __name__ == "__main__":
    sys.stdout.flush()
    os._exit(main(sys.argv[1:]))
