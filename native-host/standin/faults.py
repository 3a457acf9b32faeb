"""Fault injection: set by flags at start, changed at run time through the control endpoint."""
import random
import threading

TOOL_CALL_MODES = (
    "parsed", "pieces", "lost", "off", "raw:hermes", "raw:qwen3_coder", "raw:llama3_json", "raw:mistral", "raw:harmony",
    "raw:minimax_m2", "raw:functionary", "raw:granite", "raw:nemotron", "raw:command_r7b", "raw:phi4_mini",
    "raw:llama3_json_cut",
)

# Field name -> (type check, description). The control endpoint accepts exactly these.
FIELDS = {
    "zombie": (bool, "the generation thread dies on its next step; /health stays OK, completions hang"),
    "crash_after_tokens": ((int, type(None)), "abort (SIGABRT, Metal OOM line) after this many tokens of a response"),
    "crash_on_marker": ((str, type(None)), "abort (SIGABRT, Metal OOM line) after the prefill of a request whose prompt contains this text"),
    "hang_after_prefill": (bool, "the generation thread blocks after prefill until cleared"),
    "token_delay_ms": (int, "delay between generated tokens"),
    "prefill_ms": (int, "prompt processing takes this long, one keepalive comment per chunk (as the real server writes)"),
    "prefill_chunk_ms": (int, "how long one prefill chunk takes (the keepalive cadence)"),
    "error_rate": (float, "share of completion requests answered with HTTP 500"),
    "drop_on_marker": ((str, type(None)), "close the connection with no response for requests whose body contains this text (the others are served)"),
    "drop_rate": (float, "share of completion requests whose connection is closed with no response"),
    "tool_calls": (str, "how tool calls come back: " + ", ".join(TOOL_CALL_MODES)),
    "script": (
        (list, type(None)),
        'answers by turn, for agent tests: a list of {"text": "..."} or {"tool_call": {"name": "...", "arguments": {...}}}; '
        "a conversation with n tool results gets entry n (the last one after that); a call comes back as tool_calls says",
    ),
}


def check_script(script):
    """Raises ValueError naming the first entry that is neither a text nor a tool call."""
    if not script:
        raise ValueError("fault 'script' needs at least one entry")
    for i, entry in enumerate(script):
        text_ok = isinstance(entry, dict) and set(entry) == {"text"} and isinstance(entry["text"], str)
        call = entry.get("tool_call") if isinstance(entry, dict) and set(entry) == {"tool_call"} else None
        call_ok = isinstance(call, dict) and isinstance(call.get("name"), str) and isinstance(call.get("arguments"), dict)
        if not (text_ok or call_ok):
            raise ValueError(f"fault 'script' entry {i} must be {{\"text\": str}} or {{\"tool_call\": {{\"name\": str, \"arguments\": object}}}}")


class Faults:
    """Thread-safe fault settings shared by the HTTP threads and the generation thread."""

    def __init__(self, seed=0, **settings):
        self._lock = threading.Lock()
        # Held while a control request is applied and answered: a fault that ends the process
        # (zombie, an abort) waits for it (before_exit), so the client that set the fault hears its answer.
        self.answering = threading.Lock()
        self._random = random.Random(seed)
        self.unhang = threading.Event()
        self.zombie = False
        self.crash_after_tokens = None
        self.crash_on_marker = None
        self.drop_on_marker = None
        self.hang_after_prefill = False
        self.token_delay_ms = 0
        self.prefill_ms = 0
        self.prefill_chunk_ms = 1000
        self.error_rate = 0.0
        self.drop_rate = 0.0
        self.tool_calls = "parsed"
        self.script = None
        self.update(settings)

    def update(self, settings):
        """Applies a dict of settings; raises ValueError naming the first bad field."""
        checked = {}
        for name, value in settings.items():
            if name not in FIELDS:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(FIELDS)}")
            expected, _ = FIELDS[name]
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if isinstance(value, bool) and expected is not bool:
                raise ValueError(f"fault {name!r} must be {expected}, got a boolean")
            if not isinstance(value, expected):
                raise ValueError(f"fault {name!r} must be {expected}, got {type(value).__name__}")
            if name in ("error_rate", "drop_rate") and not 0.0 <= value <= 1.0:
                raise ValueError(f"fault {name!r} must be between 0 and 1")
            if name == "tool_calls" and value not in TOOL_CALL_MODES:
                raise ValueError(f"fault 'tool_calls' must be one of {', '.join(TOOL_CALL_MODES)}")
            if name in ("token_delay_ms", "crash_after_tokens", "prefill_ms") and value is not None and value < 0:
                raise ValueError(f"fault {name!r} must be >= 0")
            if name == "script" and value is not None:
                check_script(value)
            if name == "prefill_chunk_ms" and value < 1:
                raise ValueError(f"fault {name!r} must be >= 1")
            checked[name] = value
        with self._lock:
            for name, value in checked.items():
                setattr(self, name, value)
            if self.hang_after_prefill:
                self.unhang.clear()
            else:
                self.unhang.set()

    def before_exit(self):
        """Called by a fault about to end the process: waits for a control answer being written."""
        with self.answering:
            pass

    def snapshot(self):
        with self._lock:
            return {name: getattr(self, name) for name in FIELDS}

    def roll(self, rate):
        """True with probability `rate`, from the seeded generator (same seed, same sequence)."""
        if rate <= 0:
            return False
        with self._lock:
            return self._random.random() < rate
