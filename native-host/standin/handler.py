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
    """The checks of mlx_lm.server's validate_model_parameters: a failure raises, dropping the connection."""

    def number(name, low=None, high=None, kinds=(int, float)):
        value = body.get(name)
        if name not in body:
            return
        if not isinstance(value, kinds):
            raise ValueError(f"{name} must be of type {' or '.join(k.__name__ for k in kinds)}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(f"{name} must be between {low} and {high}" if high is not None else f"{name} must be >= {low}")

    if "model" in body and not isinstance(body["model"], str):
        raise ValueError("model must be a string")
    for name in ("max_tokens", "max_completion_tokens", "top_k", "repetition_context_size", "num_draft_tokens"):
        number(name, 0, kinds=(int,))
    for name in ("presence_context_size", "frequency_context_size"):
        number(name, 0, kinds=(int,))
    number("temperature", 0)
    number("repetition_penalty", 0)
    number("top_p", 0, 1)
    number("min_p", 0, 1)
    number("presence_penalty")
    number("frequency_penalty")
    number("xtc_probability", 0, 1, kinds=(float,))
    number("xtc_threshold", 0, 1, kinds=(float,))
    for name in ("logprobs", "stream"):
        if name in body and not isinstance(body[name], bool):
            raise ValueError(f"{name} must be a boolean")
    if "top_logprobs" in body:
        number("top_logprobs", -1, 11, kinds=(int,))
    if "seed" in body and body["seed"] is not None and not isinstance(body["seed"], int):
        raise ValueError("seed must be an integer")
    if "logit_bias" in body and body["logit_bias"] is not None:
        if not isinstance(body["logit_bias"], dict):
            raise ValueError("logit_bias must be a dict of int to float")
        for key, value in body["logit_bias"].items():
            int(key)
            float(value)
    stop = body.get("stop")
    if stop is not None and not isinstance(stop, str) and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        raise ValueError("stop must be a string or a list of strings")


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
        validate_model_parameters(body)
        if kind == "chat":
            assert "messages" in body, "Chat request must include 'messages'"
        else:
            assert "prompt" in body, "Text completion request must include 'prompt'"
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
