# A Jupyter kernel for bash contexts, on ipykernel's Kernel base (Debian packages no bash
# kernel). It drives ONE bash process for its whole life, so the shell's state (working
# directory, variables, functions, aliases) persists from one execution to the next.
#
# Each execution is written to a file that bash sources, followed by a line that prints a
# random marker and the exit status; output (stdout and stderr together, as a terminal shows them) is
# streamed to the client until the marker comes back. A non-zero status is an error
# (`ExitCodeError`, "exit status N"). An interrupt is passed on to bash's process group:
# the running command gets SIGINT, bash itself survives it (its INT trap is a no-op). If the
# shell exits (`exit`), the next execution gets a fresh one, and says so.
import codecs
import os
import secrets
import signal
import subprocess

from ipykernel.kernelapp import IPKernelApp
from ipykernel.kernelbase import Kernel

# The launcher passed this script in the environment: bash need not inherit it.
os.environ.pop("SANDBOX_BASH_KERNEL", None)
CHUNK = 65536
# In the kernel's private /tmp.
CELL = "/tmp/.sandbox-cell.sh"


class BashKernel(Kernel):
    implementation = "sandbox-bash"
    implementation_version = "1.0"
    language = "bash"
    language_info = {"name": "bash", "mimetype": "text/x-sh", "file_extension": ".sh", "codemirror_mode": "shell"}
    banner = "bash"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._bash = None

    def _start(self):
        self._bash = subprocess.Popen(
            ["/bin/bash", "--noprofile", "--norc"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._send_to_bash("trap : INT\nexec 2>&1\n")

    def _send_to_bash(self, text):
        self._bash.stdin.write(text.encode())
        self._bash.stdin.flush()

    def _forward_interrupt(self, signum, frame):
        if self._bash is not None and self._bash.poll() is None:
            try:
                os.killpg(self._bash.pid, signal.SIGINT)
            except ProcessLookupError:
                pass

    def _stream(self, silent, text):
        if text and not silent:
            self.send_response(self.iopub_socket, "stream", {"name": "stdout", "text": text})

    def do_execute(self, code, silent, store_history=True, user_expressions=None, allow_stdin=False, *, cell_id=None):
        # ipykernel sets SIGINT to be ignored once the kernel exists: take it back, for bash's sake.
        signal.signal(signal.SIGINT, self._forward_interrupt)
        restarted = self._bash is not None and self._bash.poll() is not None
        if self._bash is None or restarted:
            self._start()
            if restarted:
                self._stream(silent, "[the shell had exited: this runs in a new one]\n")
        # Sourced from a file (not typed on bash's stdin): the code's commands read /dev/null,
        # never the marker line, and a syntax error ends only this execution.
        with open(CELL, "w") as cell:
            cell.write(code)
        marker = "__sandbox_done_%s__" % secrets.token_hex(8)
        self._send_to_bash("source %s </dev/null; printf '%%s %%s\\n' %s \"$?\"\n" % (CELL, marker))
        status = self._read_until(marker.encode(), silent)
        if status is None:
            self._bash.wait()
            self._stream(silent, "[the shell exited with status %s]\n" % self._bash.returncode)
            status = self._bash.returncode
        if status != 0:
            error = {"ename": "ExitCodeError", "evalue": "exit status %d" % status, "traceback": []}
            if not silent:
                self.send_response(self.iopub_socket, "error", error)
            return {"status": "error", "execution_count": self.execution_count, **error}
        return {"status": "ok", "execution_count": self.execution_count, "payload": [], "user_expressions": {}}

    def _read_until(self, marker, silent):
        """Streams output up to the marker; returns the exit status, or None if bash ended first."""
        fd = self._bash.stdout.fileno()
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = b""
        while True:
            data = os.read(fd, CHUNK)
            if not data:
                self._stream(silent, decoder.decode(pending, final=True))
                return None
            pending += data
            at = pending.find(marker)
            if at >= 0:
                self._stream(silent, decoder.decode(pending[:at], final=True))
                tail = pending[at + len(marker) :]
                while b"\n" not in tail:
                    more = os.read(fd, CHUNK)
                    if not more:
                        break
                    tail += more
                try:
                    return int(tail.split(b"\n", 1)[0].strip() or b"0")
                except ValueError:
                    return 0
            # What could be the start of the marker waits for the next read.
            keep = min(len(pending), len(marker) - 1)
            self._stream(silent, decoder.decode(pending[: len(pending) - keep]))
            pending = pending[len(pending) - keep :]

    def do_shutdown(self, restart):
        if self._bash is not None and self._bash.poll() is None:
            try:
                os.killpg(self._bash.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return {"status": "ok", "restart": restart}


if __name__ == "__main__":
    IPKernelApp.launch_instance(kernel_class=BashKernel)
