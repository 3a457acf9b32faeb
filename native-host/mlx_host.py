#!/usr/bin/env python3
"""Hosts mlx_lm.server (or the stand-in) in this interpreter and adds what it lacks.

    python3 mlx_host.py [--backend mlx|standin] [--events-fd N] [--no-stdin-watchdog] -- SERVER_ARGS...

- Exits when its stdin reaches end-of-file, taking its process group with it (SIGKILL to the group
  when it leads one, else exit code 5): the parent holds the other end of that pipe, so a killed
  parent (even by SIGKILL) never leaves an orphaned model server, on macOS as on Linux.
- Exits with a distinct code when the generation thread dies, instead of serving as a zombie, and
  when the server cannot bind its port, instead of running on without a socket.
- Writes one JSON line per lifecycle step (started, listening, model_loaded, fatal, exiting) to
  file descriptor N (default: stdout), apart from the server's own logs on stderr.
- Writes a heartbeat line every second from a thread of its own: whether the server is busy and
  how long its generation loop has gone without a step (a prefill chunk or a decode step). Its
  absence means a frozen process; busy with no step means a wedged generation.
- Says which of the server's functions it hooked for that heartbeat (one `hooks` event, and a
  `fired` count per hook in each heartbeat), and names on stderr any hook this mlx_lm version
  should have but lacks.
- Given a key in its environment (MLX_HOST_API_KEY, removed from it at once; never on the
  command line), answers only requests that carry it (`Authorization: Bearer <key>`, 401
  otherwise) and sends no CORS headers: the server's port is mlx-guard's alone, not any local
  process's or web page's (mlx_lm.server answers every origin with `Access-Control-Allow-Origin: *`).
- Passes every argument after `--` to the server unchanged.
- For tests only: MLX_HOST_TEST_FAULTS names a file whose word ("wedge" or "raise") the next
  decode step obeys (TestFaults). Unset, nothing is read.

Python 3 standard library only.
"""
import argparse
import errno
import functools
import hmac
import importlib
import json
import os
import signal
import sys
import threading
import time
import traceback

EXIT_SERVER_FAILED = 1  # the server's main raised; it would otherwise linger on its non-daemon thread
EXIT_BAD_ARGUMENTS = 2  # argparse's own code: a flag this mlx_lm version does not know
EXIT_NOT_IMPORTABLE = 3  # mlx_lm cannot be imported by this Python
EXIT_GENERATION_DIED = 4  # the generation thread died: every completion would hang
EXIT_PARENT_GONE = 5  # stdin reached end-of-file: the parent is gone (when not leading a process group)
EXIT_BIND_FAILED = 6  # the port could not be bound

HERE = os.path.dirname(os.path.abspath(__file__))
API_KEY_ENV = "MLX_HOST_API_KEY"


class Events:
    """JSON lines on their own stream; a write that fails (reader gone) is not worth dying for."""

    def __init__(self, fd):
        self._stream = os.fdopen(fd, "w", buffering=1, closefd=False) if fd is not None else sys.stdout
        self._lock = threading.Lock()

    def emit(self, event, **fields):
        line = json.dumps({"event": event, "time": int(time.time() * 1000), **fields})
        with self._lock:
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
            except (OSError, ValueError):
                pass


def exit_now(events, code, reason, **fields):
    """Leaves at once: os._exit, because the server's non-daemon threads would block a normal exit."""
    events.emit("exiting", code=code, reason=reason, **fields)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def watch_stdin(events):
    def watch():
        try:
            while os.read(sys.stdin.fileno(), 65536):
                pass
        except OSError:
            pass
        events.emit("parent_gone")
        if os.getpgrp() == os.getpid():
            # Group leader: take the whole group, whatever the server started included. Only the
            # main thread may touch signal handlers, so no SIGTERM dance: SIGKILL cannot be blocked.
            events.emit("exiting", signal="SIGKILL", reason="stdin closed: the parent is gone; ending the process group")
            sys.stderr.flush()
            os.killpg(os.getpid(), signal.SIGKILL)
        exit_now(events, EXIT_PARENT_GONE, "stdin closed: the parent is gone")

    threading.Thread(target=watch, name="mlx_host-stdin-watchdog", daemon=True).start()


def watch_generation_thread(events):
    default_hook = threading.excepthook

    def hook(args):
        default_hook(args)  # the usual "Exception in thread Thread-1 (_generate):" traceback
        if args.thread is not None and args.thread.name.endswith("(_generate)"):
            events.emit("fatal", reason="generation_thread_died", error=f"{args.exc_type.__name__}: {args.exc_value}")
            exit_now(events, EXIT_GENERATION_DIED, "the generation thread died")

    threading.excepthook = hook


def watch_http_server(events):
    import http.server

    server_class = http.server.HTTPServer
    original_bind = server_class.server_bind
    original_activate = server_class.server_activate

    @functools.wraps(original_bind)
    def server_bind(self):
        try:
            original_bind(self)
        except OSError as error:
            traceback.print_exc()
            reason = "address_in_use" if error.errno == errno.EADDRINUSE else "bind_failed"
            events.emit("fatal", reason=reason, error=str(error), address=list(self.server_address[:2]))
            exit_now(events, EXIT_BIND_FAILED, reason)

    @functools.wraps(original_activate)
    def server_activate(self):
        original_activate(self)
        host, port = self.server_address[:2]
        events.emit("listening", host=host, port=port)

    server_class.server_bind = server_bind
    server_class.server_activate = server_activate


def require_key(api_key):
    """Every request must carry `api_key`; no CORS header goes out (http.server's base handler,
    which mlx_lm.server's and the stand-in's handlers build on)."""
    import http.server

    handler = http.server.BaseHTTPRequestHandler
    original_parse = handler.parse_request
    original_send_header = handler.send_header
    expected = f"Bearer {api_key}".encode()

    @functools.wraps(original_parse)
    def parse_request(self):
        if not original_parse(self):
            return False
        given = (self.headers.get("Authorization") or "").encode("utf-8", "replace")
        if hmac.compare_digest(given, expected):
            return True
        # send_error closes the connection: the body, if any, is never read.
        self.send_error(401, "this model server answers only the mlx-guard that started it")
        return False

    @functools.wraps(original_send_header)
    def send_header(self, keyword, value):
        if not keyword.lower().startswith("access-control-"):
            original_send_header(self, keyword, value)

    handler.parse_request = parse_request
    handler.send_header = send_header


def watch_model_provider(events, provider_class, heartbeat):
    original_load = provider_class.load
    loaded = threading.Event()

    @functools.wraps(original_load)
    def load(self, model_path, *args, **kwargs):
        started = time.monotonic()
        # A load (even a download) is not a stalled generation loop.
        if heartbeat is not None:
            heartbeat.entered_load()
        try:
            result = original_load(self, model_path, *args, **kwargs)
        finally:
            if heartbeat is not None:
                heartbeat.left_load()
        if not loaded.is_set():
            loaded.set()
            events.emit("model_loaded", model=model_path, load_ms=round((time.monotonic() - started) * 1000))
        return result

    provider_class.load = load


class Heartbeat:
    """What the generation loop is doing, sampled by a daemon thread that writes one line a second.

    MLX releases the GIL while it waits on the GPU, so this thread keeps running while a step is
    under way; when the whole process stops (SIGSTOP, swapping to death, a native call that holds
    the GIL), the lines stop, and that silence is the verdict. The thread makes no MLX calls.
    """

    def __init__(self, events, interval_s, hooks):
        self._events = events
        self._interval = interval_s
        self._hooks = hooks
        self._lock = threading.Lock()
        self._inflight = 0
        self._busy_since = 0.0
        self._last_step = time.monotonic()
        self._steps = 0
        self._in_step = 0
        self._loading = 0
        self._load_started = 0.0
        self._generators = []
        self.instrumented = False

    def step(self):
        """A step boundary: a prefill chunk or decode step began or ended."""
        self._last_step = time.monotonic()
        self._steps += 1

    def entered_load(self):
        with self._lock:
            if self._loading == 0:
                self._load_started = time.monotonic()
            self._loading += 1

    def left_load(self):
        # Time spent loading a model is not time without a step: the stall clock pauses. A load
        # that finds the model already loaded (every request makes one) pauses it for nothing.
        with self._lock:
            self._loading -= 1
            if self._loading == 0:
                paused = time.monotonic() - self._load_started
                self._last_step += paused
                self._busy_since += paused

    def entered_step(self):
        with self._lock:
            self._in_step += 1
        self.step()

    def left_step(self):
        with self._lock:
            self._in_step -= 1
        self.step()

    def request_started(self):
        with self._lock:
            if self._inflight == 0:
                self._busy_since = time.monotonic()
            self._inflight += 1

    def request_ended(self):
        with self._lock:
            self._inflight -= 1

    def watch_generator(self, response_generator):
        self._generators.append(response_generator)

    def sample(self):
        now = time.monotonic()
        with self._lock:
            busy, in_step, loading = self._inflight, self._in_step > 0, self._loading > 0
            since = now - max(self._last_step, self._busy_since)
        threads = [getattr(g, "_generation_thread", None) for g in self._generators]
        alive = [t.is_alive() for t in threads if t is not None]
        return {
            "busy": busy,
            "in_step": in_step,
            # Only meaningful while busy: an idle loop makes no steps and is not stalled.
            "stalled_ms": round(since * 1000) if busy > 0 and self.instrumented and not loading else 0,
            "loading": loading,
            "steps": self._steps,
            "instrumented": self.instrumented,
            "gen_alive": all(alive) if alive else None,
            "fired": self._hooks.fired(),
        }

    def start(self):
        def beat():
            while True:
                sample = self.sample()
                self._events.emit("heartbeat", **sample)
                if sample["gen_alive"] is False:
                    # mlx_lm >= 0.32.0 catches the thread's exception itself (no excepthook call)
                    # and answers /health 503 for good: the same zombie, so the same exit.
                    self._events.emit("fatal", reason="generation_thread_died", error="the generation thread ended")
                    exit_now(self._events, EXIT_GENERATION_DIED, "the generation thread died")
                time.sleep(self._interval)

        threading.Thread(target=beat, name="mlx_host-heartbeat", daemon=True).start()


class Hooks:
    """The server functions the heartbeat hooked, what each signals, and how often each has fired.

    A hook this mlx_lm version should have but that was not found is reported as missing (the
    `hooks` event, a line on stderr and mlx-guard's /status), so a renamed function shows up
    instead of silently turning freeze and wedge detection into slower evidence.
    """

    def __init__(self, version):
        self.version = version
        self._hooks = {}

    def add(self, name, kind, installed, since=None, until=None):
        expected = _version_in(self.version, since, until)
        self._hooks[name] = {"kind": kind, "installed": bool(installed), "expected": expected, "fired": 0}
        return bool(installed)

    def fire(self, name):
        self._hooks[name]["fired"] += 1  # one writer per hook at a time; a lost count is harmless

    def fired(self):
        return {name: hook["fired"] for name, hook in self._hooks.items() if hook["installed"]}

    def report(self):
        return [{"name": name, **{k: v for k, v in hook.items() if k != "fired"}} for name, hook in self._hooks.items()]

    def missing(self):
        return [name for name, hook in self._hooks.items() if hook["expected"] and not hook["installed"]]


def _version_tuple(text):
    parts = []
    for piece in str(text).split("."):
        digits = "".join(ch for ch in piece if ch.isdigit()) if piece[:1].isdigit() else ""
        if not digits:
            break
        parts.append(int(digits))
        if not piece.isdigit():
            break
    return tuple(parts)


def _version_in(version, since, until):
    """Whether `version` is in [since, until]; an unreadable version expects nothing."""
    have = _version_tuple(version)
    if not have:
        return False
    if since is not None and have < _version_tuple(since):
        return False
    return until is None or have <= _version_tuple(until)


class TestFaults:
    """Test-only faults inside the real generation loop, off unless MLX_HOST_TEST_FAULTS names a file.

    At each decode step the file is read when it exists: "wedge" blocks that step for good (the
    GIL released, as a hung GPU wait would: the heartbeat goes on and reports the stall), "raise"
    raises inside the generation thread. The file is removed first, so a fault fires once. A
    "{pid}" in the name becomes this process's id, so that tests running several servers at
    once can aim at one.
    """

    def __init__(self, path):
        self._path = path.replace("{pid}", str(os.getpid())) if path else None

    def at_decode_step(self):
        if self._path is None or not os.path.exists(self._path):
            return
        try:
            with open(self._path) as source:
                fault = source.read().strip()
            os.remove(self._path)
        except OSError:
            return
        if fault == "wedge":
            threading.Event().wait()
        elif fault == "raise":
            raise RuntimeError("mlx_host test fault: an exception inside a decode step")


def _wrap_method(hooks, label, owner, name, before, after, kind, counts=None, **versions):
    """`counts(args)` says whether a call is the event the hook stands for (default: every call)."""
    original = getattr(owner, name, None) if owner is not None else None
    if original is not None:

        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            if counts is not None and not counts(args):
                return original(*args, **kwargs)
            hooks.fire(label)
            before()
            try:
                return original(*args, **kwargs)
            finally:
                after()

        setattr(owner, name, wrapper)
    return hooks.add(label, kind, original is not None, **versions)


def _wrap_step_generator(hooks, module, name, heartbeat, faults, **versions):
    """Each value a generation generator yields is one decode step (mlx_lm's generate_step)."""
    original = getattr(module, name, None) if module is not None else None
    progress_label = f"{name}.prompt_progress_callback"
    if original is not None:

        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            callback = kwargs.get("prompt_progress_callback")
            if callback is not None:
                # One call per prefill chunk: a long prompt is progress, not a stall.
                def progress(*progress_args):
                    hooks.fire(progress_label)
                    heartbeat.step()
                    return callback(*progress_args)

                kwargs["prompt_progress_callback"] = progress
            heartbeat.step()
            for value in original(*args, **kwargs):
                hooks.fire(name)
                heartbeat.step()
                faults.at_decode_step()
                yield value

        setattr(module, name, wrapper)
    installed = hooks.add(name, "decode", original is not None, **versions)
    # The speculative path pops the callback (mlx_lm >= 0.26.4): only generate_step reports prefill.
    if name == "generate_step":
        hooks.add(progress_label, "prefill", original is not None, **versions)
    return installed


def _capture_instances(cls, on_instance):
    original = cls.__init__

    @functools.wraps(original)
    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        on_instance(self)

    cls.__init__ = init


def instrument(heartbeat, hooks, faults, backend):
    """Hooks the step, request and generation-thread points of the server (docs/mlx-lm.md, "Heartbeat").

    Every target is looked up by name and skipped when absent, so an mlx_lm version that renamed
    one degrades to fewer signals (the frozen verdict always holds), never to a crash; `hooks`
    says which were expected for this version and which were found.
    """
    noop = lambda: None  # noqa: E731
    if backend == "standin":
        engine = importlib.import_module("standin.engine")
        handler = importlib.import_module("standin.handler")
        hooked = _wrap_method(hooks, "ResponseGenerator._next", engine.ResponseGenerator, "_next", heartbeat.entered_step, heartbeat.left_step, "step")
        _wrap_method(hooks, "APIHandler._handle_completion", handler.APIHandler, "_handle_completion", heartbeat.request_started, heartbeat.request_ended, "request")
        _capture_instances(engine.ResponseGenerator, heartbeat.watch_generator)
        heartbeat.instrumented = hooked
        return
    server = importlib.import_module("mlx_lm.server")
    try:
        generate = importlib.import_module("mlx_lm.generate")
    except ImportError:
        generate = None
    hooked = False
    for name in ("generate_step", "speculative_generate_step"):
        hooked |= _wrap_step_generator(hooks, generate, name, heartbeat, faults, since="0.26.0")
    batch = getattr(generate, "BatchGenerator", None)
    hooked |= _wrap_method(hooks, "BatchGenerator.next", batch, "next", heartbeat.entered_step, heartbeat.left_step, "step", since="0.28.4")
    # 0.28.4-0.31.1 run a whole prompt batch inside one next(): its chunks report through the
    # callback the server gives the generator.
    if batch is not None and _version_in(hooks.version, "0.28.4", "0.31.1"):

        def wrap_progress(instance):
            callback = getattr(instance, "prompt_progress_callback", None)
            if callable(callback):

                def progress(*args, **kwargs):
                    hooks.fire("BatchGenerator.prompt_progress_callback")
                    heartbeat.step()
                    return callback(*args, **kwargs)

                instance.prompt_progress_callback = progress

        _capture_instances(batch, wrap_progress)
    hooks.add("BatchGenerator.prompt_progress_callback", "prefill", batch is not None and _version_in(hooks.version, "0.28.4", "0.31.1"), since="0.28.4", until="0.31.1")
    # 0.31.2 on: one prefill chunk per PromptProcessingBatch.prompt, one decode step per
    # GenerationBatch.next, each inside a BatchGenerator.next.
    # BatchGenerator calls prompt() on every step, with no tokens when no prompt is pending.
    has_tokens = lambda args: len(args) > 1 and any(len(tokens) for tokens in args[1])  # noqa: E731
    _wrap_method(hooks, "PromptProcessingBatch.prompt", getattr(generate, "PromptProcessingBatch", None), "prompt", heartbeat.step, noop, "prefill", counts=has_tokens, since="0.31.2")
    _wrap_method(hooks, "GenerationBatch.next", getattr(generate, "GenerationBatch", None), "next", faults.at_decode_step, noop, "decode", since="0.31.2")
    _wrap_method(hooks, "APIHandler.handle_completion", getattr(server, "APIHandler", None), "handle_completion", heartbeat.request_started, heartbeat.request_ended, "request", since="0.26.0")
    responses = getattr(server, "ResponseGenerator", None)
    if responses is not None:

        def watch(instance):
            hooks.fire("ResponseGenerator")
            heartbeat.watch_generator(instance)

        _capture_instances(responses, watch)
    hooks.add("ResponseGenerator", "thread", responses is not None, since="0.28.4")
    heartbeat.instrumented = hooked


def import_server(backend, events):
    if backend == "standin":
        sys.path.insert(0, HERE)
        import standin

        return importlib.import_module("standin.server"), importlib.import_module("standin.engine"), standin.__version__
    try:
        server = importlib.import_module("mlx_lm.server")
    except ImportError as error:
        print(
            f"mlx_host: cannot import mlx_lm with {sys.executable} ({error}).\n"
            "mlx_host: install it into this Python (`python3 -m pip install mlx-lm`, on an Apple Silicon Mac),\n"
            "mlx_host: or point mlx-guard at a Python that has it (--python, or activate its venv).",
            file=sys.stderr,
        )
        events.emit("fatal", reason="mlx_lm_not_importable", error=str(error), python=sys.executable)
        exit_now(events, EXIT_NOT_IMPORTABLE, "mlx_lm is not importable")
    version = getattr(importlib.import_module("mlx_lm"), "__version__", "unknown")
    return server, server, version


def main():
    own, server_args = sys.argv[1:], []
    if "--" in own:
        split = own.index("--")
        own, server_args = own[:split], own[split + 1 :]
    parser = argparse.ArgumentParser(prog="mlx_host.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["mlx", "standin"], default="mlx")
    parser.add_argument("--events-fd", type=int, default=None, help="file descriptor for JSON event lines (default: stdout)")
    parser.add_argument("--no-stdin-watchdog", action="store_true", help="do not exit when stdin closes")
    parser.add_argument("--heartbeat-ms", type=int, default=1000, help="heartbeat interval; 0 turns it off")
    options = parser.parse_args(own)

    events = Events(options.events_fd)
    api_key = os.environ.pop(API_KEY_ENV, None)
    if api_key:
        require_key(api_key)
    if not options.no_stdin_watchdog:
        watch_stdin(events)
    watch_generation_thread(events)
    watch_http_server(events)
    server, provider_module, version = import_server(options.backend, events)
    hooks = Hooks(version)
    heartbeat = Heartbeat(events, options.heartbeat_ms / 1000, hooks) if options.heartbeat_ms > 0 else None
    if hasattr(provider_module, "ModelProvider"):
        watch_model_provider(events, provider_module.ModelProvider, heartbeat)
    if heartbeat is not None:
        instrument(heartbeat, hooks, TestFaults(os.environ.get("MLX_HOST_TEST_FAULTS")), options.backend)
        missing = hooks.missing()
        if missing:
            print(
                f"mlx_host: mlx_lm {version} lacks {', '.join(missing)}, which the heartbeat hooks for this version: "
                "stalls inside the generation loop are seen later or not at all (a frozen process still is). "
                "Report it to mlx-guard with the mlx_lm version.",
                file=sys.stderr,
            )
    events.emit("started", pid=os.getpid(), pgid=os.getpgrp(), backend=options.backend, version=version, python=sys.executable)
    if heartbeat is not None:
        events.emit("hooks", version=version, hooks=hooks.report(), missing=hooks.missing())
        heartbeat.start()

    sys.argv = [f"{options.backend}.server", *server_args]
    try:
        server.main()
    except SystemExit as error:
        code = error.code if isinstance(error.code, int) else EXIT_SERVER_FAILED
        if code == EXIT_BAD_ARGUMENTS:
            events.emit("fatal", reason="bad_arguments", arguments=server_args)
        exit_now(events, code, "the server exited")
    except BaseException as error:  # noqa: BLE001 - anything escaping main ends the host, loudly
        traceback.print_exc()
        events.emit("fatal", reason="server_failed", error=f"{type(error).__name__}: {error}")
        exit_now(events, EXIT_SERVER_FAILED, "the server's main raised")
    exit_now(events, 0, "the server returned")


if __name__ == "__main__":
    main()
