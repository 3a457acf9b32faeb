"""The HTTP handler: mlx_lm.server's routes, framing, error matrix and JSON/SSE shapes."""
import json
import platform
import time
import uuid
from http.server import BaseHTTPRequestHandler

from . import __version__
from .engine import ModelNotFound
from .generator import token_id

CONTROL_PATH = "/__standin/faults"
SYSTEM_FINGERPRINT = f"{__version__}-standin-{platform.platform()}-cpu"


def validate_model_parameters(body):
    """The checks of mlx_lm.server's validate_model_parameters (0.32): a failure raises ValueError,
    answered 400 with its message."""

    def check(name, kinds, low=None, high=None, whitelist=()):
        if name not in body:
            return
        value = body[name]
        if not isinstance(value, kinds):
            allowed = tuple(kind.__name__ for kind in kinds) if len(kinds) > 1 else kinds[0].__name__
            raise ValueError(f"{name} must be of type {allowed}")
        if value in whitelist:
            return
        if low is not None and value < low:
            raise ValueError(f"{name} must be at least {low}")
        if high is not None and value > high:
            raise ValueError(f"{name} must be at most {high}")

    # The server reads max_completion_tokens into max_tokens, and model into requested_model, and
    # names them so in its messages.
    body = {**body, **({"max_tokens": body["max_completion_tokens"]} if body.get("max_completion_tokens") is not None else {})}
    if "model" in body:
        body["requested_model"] = body["model"]
    number = (float, int)
    check("stream", (bool,))
    check("max_tokens", (int,), 1)
    check("temperature", number, 0)
    check("top_p", number, 0, 1)
    check("top_k", (int,), 0)
    check("min_p", number, 0, 1)
    check("num_draft_tokens", (int,), 0)
    check("repetition_penalty", number, 0)
    check("repetition_context_size", (int,), 0)
    check("presence_penalty", number)
    check("presence_context_size", (int,), 0)
    check("frequency_penalty", number)
    check("frequency_context_size", (int,), 0)
    check("logprobs", (bool,))
    check("top_logprobs", (int,), 0, 11, whitelist=(-1,))
    check("xtc_probability", (float,), 0, 1)
    check("xtc_threshold", (float,), 0, 1)
    check("requested_model", (str,))
    if body.get("seed") is not None:
        check("seed", (int,))
    if body.get("logit_bias") is not None:
        check("logit_bias", (dict,))
        try:
            {int(key): float(value) for key, value in body["logit_bias"].items()}
        except ValueError as error:
            raise ValueError("logit_bias must be a dict of int to float") from error


class APIHandler(BaseHTTPRequestHandler):
    def __init__(self, response_generator, faults, control, *args, **kwargs):
        self.response_generator = response_generator
        self.faults = faults
        self.control = control
        self.created = int(time.time())
        super().__init__(*args, **kwargs)

    # -- headers ---------------------------------------------------------------------------------
    def _set_cors_headers(self):
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Methods", "*")
        self.send_header("Access-Control-Allow-Headers", "*")

    def _set_completion_headers(self, status_code=200):
        self.send_response(status_code)
        self.send_header("Content-type", "application/json")
        self._set_cors_headers()

    def _set_stream_headers(self, status_code=200):
        self.send_response(status_code)
        self.send_header("Content-type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self._set_cors_headers()

    def _json_error(self, status, message):
        self._set_completion_headers(status)
        self.end_headers()
        self.wfile.write(json.dumps({"error": message}).encode())

    def do_OPTIONS(self):
        self._set_completion_headers(204)
        self.end_headers()

    # -- GET -------------------------------------------------------------------------------------
    def do_GET(self):
        if self.path.startswith("/v1/models"):
            self._handle_models()
        elif self.path == "/health":
            self._set_completion_headers(200)
            self.end_headers()
            self.wfile.write(json.dumps({"status": "ok"}).encode())
        elif self.control and self.path == CONTROL_PATH:
            self._set_completion_headers(200)
            self.end_headers()
            self.wfile.write(json.dumps(self.faults.snapshot()).encode())
        else:
            self._set_completion_headers(404)
            self.end_headers()
            self.wfile.write(b"Not Found")

    def _handle_models(self):
        self._set_completion_headers(200)
        self.end_headers()
        model = self.response_generator.model_provider.cli_args.model
        models = [model] if model else []
        wanted = self.path[len("/v1/models/") :] if self.path.startswith("/v1/models/") else None
        data = [{"id": m, "object": "model", "created": self.created} for m in models if wanted in (None, m)]
        self.wfile.write(json.dumps({"object": "list", "data": data}).encode())

    # -- POST ------------------------------------------------------------------------------------
    def do_POST(self):
        endpoints = {"/v1/completions": "text", "/v1/chat/completions": "chat", "/chat/completions": "chat"}
        control = self.control and self.path == CONTROL_PATH
        if self.path not in endpoints and not control:
            self._set_completion_headers(404)
            self.end_headers()
            self.wfile.write(b"Not Found")
            return
        length = self.headers.get("Content-Length")
        if length is None:
            self._json_error(411, "Content-Length header is required")
            return
        try:
            content_length = int(length)
        except ValueError:
            self._json_error(400, "Invalid Content-Length header")
            return
        raw_body = self.rfile.read(content_length)
        try:
            body = json.loads(raw_body.decode())
        except json.JSONDecodeError as error:
            self._json_error(400, f"Invalid JSON in request body: {error}")
            return
        if not isinstance(body, dict):
            self._json_error(400, "Request should be a JSON dictionary")
            return
        if control:
            self._handle_control(body)
            return
        marker = self.faults.drop_on_marker
        if self.faults.roll(self.faults.drop_rate) or (marker and marker.encode() in raw_body):
            self.close_connection = True
            return
        if self.faults.roll(self.faults.error_rate):
            self._json_error(500, "Internal server error (injected by the stand-in)")
            return
        kind = endpoints[self.path]
        try:
            validate_model_parameters(body)
        except ValueError as error:
            self._json_error(400, str(error))
            return
        if "messages" not in body if kind == "chat" else "prompt" not in body:
            self._json_error(400, "Request did not contain messages" if kind == "chat" else "Request did not contain a prompt")
            return
        try:
            self.response_generator.model_provider.load(body.get("model", "default_model"))
            for message in body.get("messages") or []:
                content = message.get("content")
                if isinstance(content, list) and any(p.get("type") != "text" for p in content):
                    raise ValueError("Only 'text' content type is supported.")
        except (ModelNotFound, ValueError) as error:
            self._json_error(404, str(error))
            return
        self._handle_completion(kind, body)

    def _handle_control(self, body):
        with self.faults.answering:
            try:
                self.faults.update(body)
            except ValueError as error:
                self._json_error(400, str(error))
                return
            self._set_completion_headers(200)
            self.end_headers()
            self.wfile.write(json.dumps(self.faults.snapshot()).encode())

    # -- completions -----------------------------------------------------------------------------
    def _handle_completion(self, kind, body):
        stream = body.get("stream", False)
        request = self.response_generator.submit(body, stream)
        model = body.get("model", "default_model")
        prefix = "chatcmpl-" if kind == "chat" else "cmpl-"
        self.response = {"id": prefix + str(uuid.uuid4()), "system_fingerprint": SYSTEM_FINGERPRINT, "model": model}
        try:
            if stream:
                self._stream(kind, body, request)
            else:
                self._complete(kind, body, request)
        finally:
            request.should_stop = True

    def _envelope(self, obj):
        return {"id": self.response["id"], "system_fingerprint": SYSTEM_FINGERPRINT, "object": obj, "model": self.response["model"], "created": self.created}

    def _usage(self, request, completion_tokens):
        return {
            "prompt_tokens": request.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": request.prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": request.cached_tokens},
        }

    def _write_event(self, payload):
        self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
        self.wfile.flush()

    def _stream(self, kind, body, request):
        chunk_object = "chat.completion.chunk" if kind == "chat" else "text_completion"
        index = 0
        while True:
            event = request.events.get()
            if event[0] == "prefill":
                _, total, long_prefill = event
                self._set_stream_headers(200)
                self.end_headers()
                done = 0 if long_prefill else total
                self.wfile.write(f": keepalive 0/{total}\n\n".encode() + (f": keepalive {done}/{total}\n\n".encode() if not long_prefill else b""))
                self.wfile.flush()
                continue
            if event[0] == "keepalive":
                self.wfile.write(f": keepalive {event[1]}/{event[2]}\n\n".encode())
                self.wfile.flush()
                continue
            if event[0] == "done":
                _, finish_reason, leftover, generated = event
                choice = {"index": 0, "finish_reason": finish_reason}
                if kind == "chat":
                    choice["delta"] = {"role": "assistant", **({"content": leftover} if leftover else {})}
                else:
                    choice["text"] = leftover
                self._write_event({**self._envelope(chunk_object), "choices": [choice]})
                stream_options = body.get("stream_options")
                if isinstance(stream_options, dict):
                    # Like the real server: a stream_options without include_usage ends the stream here.
                    if stream_options["include_usage"]:
                        self._write_event({**self._envelope("chat.completion"), "choices": [], "usage": self._usage(request, generated)})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                return
            choice = {"index": 0, "finish_reason": None}
            if kind == "text":
                if event[0] != "content":
                    continue
                choice["text"] = event[1]
            elif event[0] == "tool_call":
                # A call streamed in pieces names its own index; a whole call takes the next one.
                call = {"index": index, **event[1]}
                choice["delta"] = {"role": "assistant", "tool_calls": [call]}
                index = call["index"] + 1
            else:
                choice["delta"] = {"role": "assistant", event[0]: event[1]}
            self._write_event({**self._envelope(chunk_object), "choices": [choice]})

    def _complete(self, kind, body, request):
        content, reasoning, tool_calls, tokens = "", "", [], []
        while True:
            event = request.events.get()
            if event[0] == "prefill":
                # The access line is logged now; status and headers reach the wire only at the end.
                self.send_response(200)
            elif event[0] == "keepalive":
                pass
            elif event[0] == "content":
                content += event[1]
                tokens.append(event[1])
            elif event[0] == "reasoning":
                reasoning += event[1]
            elif event[0] == "tool_call":
                call = {k: v for k, v in event[1].items() if k != "index"}
                if "id" not in call and tool_calls:
                    # A piece of the call before it: a whole answer holds the call whole.
                    tool_calls[-1]["function"]["arguments"] += call["function"]["arguments"]
                else:
                    tool_calls.append(call)
            else:
                _, finish_reason, leftover, generated = event
                content += leftover
                if leftover:
                    tokens.append(leftover)
                break
        choice = {"index": 0, "finish_reason": finish_reason}
        if body.get("logprobs"):
            choice["logprobs"] = {"content": [self._logprob(t, body.get("top_logprobs", -1)) for t in tokens]}
        if kind == "chat":
            message = {"role": "assistant", "content": content or None}
            if reasoning:
                message["reasoning"] = reasoning
            if tool_calls:
                message["tool_calls"] = tool_calls
            choice["message"] = message
        else:
            choice["text"] = content
        payload = json.dumps({**self._envelope("chat.completion" if kind == "chat" else "text_completion"), "choices": [choice], "usage": self._usage(request, generated)}).encode()
        self.send_header("Content-type", "application/json")
        self._set_cors_headers()
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    @staticmethod
    def _logprob(token, top):
        entry = {"id": token_id(token), "logprob": -0.01}
        if top and top > 0:
            entry = {"id": token_id(token), "token": token, "logprob": -0.01, "top_logprobs": [{"id": token_id(token), "token": token, "logprob": -0.01}][:top]}
        return entry
