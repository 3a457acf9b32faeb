"""The model provider and the generation thread, shaped like mlx_lm.server's (so they fail alike)."""
import logging
import os
import queue
import sys
import threading
import time

from .generator import held_back, plan, prompt_words, split_tokens, truncate_at_stop

METAL_OOM = (
    "libc++abi: terminating due to uncaught exception of type std::runtime_error: "
    "[METAL] Command buffer execution failed: Insufficient Memory "
    "(00000008:kIOGPUCommandBufferCallbackErrorOutOfMemory)\n"
)


class ModelNotFound(Exception):
    pass


class ModelProvider:
    """Loads "the model": takes `load_time_ms`, can stall forever or fail with a traceback."""

    def __init__(self, args):
        self.cli_args = args
        self.model_key = None
        self._lock = threading.Lock()
        # "The weights": memory held while the model is loaded (--footprint-mb).
        self._weights = None

    def load(self, model_path, adapter_path=None, draft_model_path=None):
        if model_path not in ("default_model", self.cli_args.model):
            raise ModelNotFound(
                f"404 Client Error. Repository Not Found for model '{model_path}'. "
                "Please make sure you specified the correct `repo_id` and `repo_type`."
            )
        # One load at a time: a request that arrives while the model loads waits for it.
        with self._lock:
            if self.model_key is None:
                self._load_weights()
                self.model_key = (model_path, adapter_path, draft_model_path)
        return self.model_key

    def load_default(self):
        if self.cli_args.model is not None:
            self.load("default_model")

    def _load_weights(self):
        args = self.cli_args
        if args.load_stall:
            threading.Event().wait()
        if args.exit_during_load:
            raise FileNotFoundError(f"No safetensors found in {args.model}")
        steps = 9
        repo_id = args.model and "/" in args.model and not os.path.exists(args.model)
        # As huggingface_hub's bar (tqdm) draws it from this thread: redrawn after a carriage
        # return, one newline when done, so the main thread's log lines may land mid-bar.
        for step in range(1, steps + 1):
            time.sleep(args.load_time_ms / 1000 / steps)
            if repo_id:
                done = "█" * step + " " * (steps - step)
                sys.stderr.write(f"\rFetching {steps} files: {step * 100 // steps:3d}%|{done}| {step}/{steps}")
                sys.stderr.flush()
        if repo_id:
            sys.stderr.write("\n")
            sys.stderr.flush()
        if args.footprint_mb > 0:
            # Multiplying writes every byte, so the pages are resident, not merely reserved.
            self._weights = bytearray(b"\x01") * (args.footprint_mb * 1024 * 1024)


class PromptCache:
    """An LRU of recent prompts; `cached_tokens` is the longest prefix shared with one of them."""

    def __init__(self, size=10):
        self._entries = []
        self._size = size
        self._lock = threading.Lock()

    def lookup_and_insert(self, tokens):
        with self._lock:
            best = 0
            for entry in self._entries:
                shared = 0
                for a, b in zip(entry, tokens):
                    if a != b:
                        break
                    shared += 1
                best = max(best, min(shared, len(tokens) - 1))
            self._entries = ([tokens] + [e for e in self._entries if e != tokens])[: self._size]
            return max(best, 0)


class Request:
    """One completion in the generation thread; events go back to its HTTP thread on `events`."""

    def __init__(self, body, stream, faults, reasoning_tokens, cache):
        self.body = body
        self.stream = stream
        self.events = queue.Queue()
        self.should_stop = False
        self.prompt_tokens = len(prompt_words(body)) + 4
        self.cached_tokens = cache.lookup_and_insert(prompt_words(body))
        self.plan = plan(body, faults.tool_calls, reasoning_tokens, faults.script)
        self.max_tokens = body.get("max_completion_tokens", body.get("max_tokens", 512))
        stop = body.get("stop") or []
        self.stops = [stop] if isinstance(stop, str) else list(stop)
        self.steps = [("reasoning", t) for t in self.plan.reasoning] + [("content", t) for t in self.plan.content]
        self.steps += [("tool_call", c) for c in self.plan.tool_calls]
        self.prefill_left_ms = None
        self.prefill_total_ms = 0
        self.hang_checked = False
        self.position = 0
        self.generated = 0
        self.text = ""
        self.sent = 0

    def step(self):
        """Produces the next token's events; returns the finish reason once the request is done."""
        if self.generated >= self.max_tokens:
            return self._finish("length")
        if self.position >= len(self.steps):
            return self._finish(self.plan.finish_reason)
        kind, value = self.steps[self.position]
        self.position += 1
        if kind == "tool_call":
            self.generated += len(split_tokens(value["function"]["arguments"])) + 2
            self.events.put(("tool_call", value))
            return None
        self.generated += 1
        if kind == "reasoning":
            self.events.put(("reasoning", value))
            return None
        self.text += value
        text, stopped = truncate_at_stop(self.text, self.stops)
        if stopped:
            self.text = text
            return self._finish("stop")
        visible = len(self.text) - held_back(self.text, self.stops)
        if visible > self.sent:
            self.events.put(("content", self.text[self.sent : visible]))
            self.sent = visible
        return None

    def _finish(self, reason):
        leftover = self.text[self.sent :]
        self.sent = len(self.text)
        self.events.put(("done", reason, leftover, self.generated))
        return reason


class ResponseGenerator:
    """The generation thread: a non-daemon `Thread(target=_generate)` that serves every request."""

    def __init__(self, model_provider, faults, args):
        self.model_provider = model_provider
        self.faults = faults
        self.args = args
        self.requests = queue.Queue()
        self.cache = PromptCache()
        self._generation_thread = threading.Thread(target=self._generate)
        self._generation_thread.start()

    def submit(self, body, stream):
        request = Request(body, stream, self.faults, self.args.reasoning_tokens, self.cache)
        self.requests.put(request)
        return request

    def _generate(self):
        if not self.args.bind_after_load:
            # >= 0.31.3: the model loads here while the HTTP server already answers.
            try:
                self.model_provider.load_default()
            except Exception:
                logging.exception("failed to load the model")
                sys.stderr.flush()
                os._exit(1)
        active = []
        while True:
            try:
                active.append(self.requests.get(timeout=None if not active else 0))
            except queue.Empty:
                pass
            self._next(active)

    def _next(self, active):
        """One step of the loop: at most one prefill chunk (as mlx_lm >= 0.31.2), then one token per request."""
        if self.faults.zombie:
            self._batch_step_failed()
        for request in active:
            if request.prefill_left_ms is None:
                request.prefill_left_ms = request.prefill_total_ms = self.faults.prefill_ms
                request.events.put(("prefill", request.prompt_tokens, request.prefill_left_ms > 0))
                if request.prefill_left_ms <= 0:
                    logging.info(f"Prompt processing progress: {request.prompt_tokens}/{request.prompt_tokens}")
        prefilling = next((r for r in active if r.prefill_left_ms > 0 and not r.should_stop), None)
        if prefilling is not None:
            self._prefill_chunk(prefilling)
        for request in active:
            if request.prefill_left_ms == 0 and not request.hang_checked:
                request.hang_checked = True
                marker = self.faults.crash_on_marker
                if marker and marker in " ".join(prompt_words(request.body)):
                    # A prompt too large for the GPU: the real server dies at its prefill.
                    self._abort_after_sent(request)
                self.faults.unhang.wait()
        delay = self.faults.token_delay_ms
        for request in list(active):
            if request.should_stop:
                active.remove(request)
                continue
            if request.prefill_left_ms > 0:
                continue
            if request.step() is not None:
                active.remove(request)
            crash_after = self.faults.crash_after_tokens
            if crash_after is not None and request.generated >= crash_after:
                self._abort_after_sent(request)
        if delay:
            time.sleep(delay / 1000)

    def _prefill_chunk(self, request):
        total_ms = request.prefill_total_ms
        chunk = min(self.faults.prefill_chunk_ms, request.prefill_left_ms)
        time.sleep(chunk / 1000)
        request.prefill_left_ms -= chunk
        processed = request.prompt_tokens * (total_ms - request.prefill_left_ms) // total_ms
        request.events.put(("keepalive", processed, request.prompt_tokens))
        logging.info(f"Prompt processing progress: {processed}/{request.prompt_tokens}")

    def _abort_after_sent(self, request):
        # Let the HTTP thread write the tokens made so far, as the real server has, then die the
        # way a Metal out-of-memory does: an uncaught C++ exception, SIGABRT.
        deadline = time.monotonic() + 0.5
        while not request.events.empty() and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.02)
        self.faults.before_exit()
        sys.stderr.write(METAL_OOM)
        sys.stderr.flush()
        os.abort()

    def _batch_step_failed(self):
        # The shape of mlx-lm#1505: an exception escapes _generate and the thread dies.
        self.faults.before_exit()
        raise RuntimeError("[metal::malloc] Resource limit (499000) exceeded.")
