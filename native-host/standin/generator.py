"""A deterministic text generator: the same request gives the same tokens; no model weights."""
import hashlib
import json
import random
import uuid

WORDS = (
    "the model answers with a short deterministic sentence about local inference on apple silicon "
    "while the sidecar keeps every client safe from hangs crashes and zombie servers so requests "
    "finish quickly tokens stream steadily and tools get called when they should"
).split()

ARGUMENT_WORDS = {"city": "Paris", "location": "Paris", "query": "weather", "unit": "celsius", "name": "Ada"}


class Plan:
    """What one request will produce: reasoning, visible text and tool calls, as token lists."""

    def __init__(self, reasoning, content, tool_calls, raw_tool_text, finish_reason):
        self.reasoning = reasoning  # list[str]
        self.content = content  # list[str]
        self.tool_calls = tool_calls  # list[dict] in the server's parsed form
        self.raw_tool_text = raw_tool_text  # markup left in content, or ""
        self.finish_reason = finish_reason


def request_rng(body):
    key = json.dumps(
        {k: body.get(k) for k in ("messages", "prompt", "seed", "temperature", "top_p", "tools")},
        sort_keys=True,
        default=str,
    )
    return random.Random(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big"))


def prompt_words(body):
    if "prompt" in body:
        return str(body["prompt"]).split()
    words = []
    for message in body.get("messages") or []:
        words += ["<|im_start|>", str(message.get("role"))]
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(part.get("text", "") for part in content if isinstance(part, dict))
        words += str(content or "").split() + ["<|im_end|>"]
    return words


def sentence(rng, count):
    tokens = [(" " if i else "") + rng.choice(WORDS) for i in range(count)]
    if tokens:
        tokens[0] = tokens[0].capitalize()
        tokens[-1] += "."
    return tokens


def example_value(name, schema, rng):
    kind = schema.get("type")
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    if kind == "integer":
        return rng.randint(1, 10)
    if kind == "number":
        return round(rng.uniform(0, 100), 1)
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return {}
    return ARGUMENT_WORDS.get(name, rng.choice(WORDS))


def choose_tool(tools, messages):
    """The tool the last user message names, else the first one; none after a tool result."""
    if not messages or messages[-1].get("role") != "user":
        return None
    text = str(messages[-1].get("content") or "")
    functions = [t.get("function", {}) for t in tools if isinstance(t, dict)]
    for function in functions:
        if function.get("name") and function["name"] in text:
            return function
    return functions[0] if functions else None


def tool_arguments(function, rng):
    parameters = function.get("parameters") or {}
    properties = parameters.get("properties") or {}
    required = parameters.get("required") or list(properties)
    return {name: example_value(name, properties.get(name, {}), rng) for name in required}


def render_raw(fmt, name, arguments):
    """Tool-call markup as the model writes it, for servers that leave it in content."""
    if fmt == "hermes":
        return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}) + "\n</tool_call>"
    if fmt == "qwen3_coder":
        params = "".join(
            f"<parameter={k}>\n{v if isinstance(v, str) else json.dumps(v)}\n</parameter>\n" for k, v in arguments.items()
        )
        return f"<tool_call>\n<function={name}>\n{params}</function>\n</tool_call>"
    if fmt == "llama3_json":
        return "<|python_tag|>" + json.dumps({"name": name, "parameters": arguments})
    if fmt == "llama3_json_cut":
        # A bare Llama 3 call the model broke off (its last brace and more missing): it does not parse.
        return json.dumps({"name": name, "parameters": arguments})[:-2]
    if fmt == "mistral":
        return f"[TOOL_CALLS]{name}[ARGS]" + json.dumps(arguments)
    if fmt == "harmony":
        return (
            "<|channel|>analysis<|message|>The user asked for it, so I call the tool.<|end|>"
            f"<|start|>assistant<|channel|>commentary to=functions.{name} <|constrain|>json<|message|>"
            + json.dumps(arguments)
        )
    call = {"name": name, "arguments": arguments}
    if fmt == "minimax_m2":
        params = "".join(f'<parameter name="{k}">{v if isinstance(v, str) else json.dumps(v)}</parameter>\n' for k, v in arguments.items())
        return f'<minimax:tool_call>\n<invoke name="{name}">\n{params}</invoke>\n</minimax:tool_call>'
    if fmt == "functionary":
        return f"<function={name}>" + json.dumps(arguments) + "</function>"
    if fmt == "granite":
        return "<|tool_call|>" + json.dumps([call])
    if fmt == "nemotron":
        return "<TOOLCALL>" + json.dumps([call]) + "</TOOLCALL>"
    if fmt == "command_r7b":
        return "<|START_ACTION|>" + json.dumps([{"tool_call_id": "0", "tool_name": name, "parameters": arguments}]) + "<|END_ACTION|>"
    if fmt == "phi4_mini":
        return "functools" + json.dumps([call])
    raise ValueError(f"unknown raw tool-call format {fmt!r}")


def split_tokens(text):
    """Splits text into token-sized pieces that join back to it exactly."""
    pieces, current = [], ""
    for char in text:
        current += char
        if char in " \n>]}," or len(current) >= 6:
            pieces.append(current)
            current = ""
    if current:
        pieces.append(current)
    return pieces


def scripted_turn(script, messages):
    """The script's entry for this conversation: its number of tool results picks it."""
    turn = sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "tool")
    return script[min(turn, len(script) - 1)]


def plan(body, tool_mode, reasoning_tokens, script=None):
    rng = request_rng(body)
    tools = body.get("tools") or []
    reasoning = sentence(rng, reasoning_tokens) if reasoning_tokens else []
    if script:
        entry = scripted_turn(script, body.get("messages") or [])
        if "text" in entry or tool_mode == "off":
            return Plan(reasoning, split_tokens(entry.get("text", "(no tool calls)")), [], "", "stop")
        name, arguments = entry["tool_call"]["name"], entry["tool_call"]["arguments"]
    else:
        function = choose_tool(tools, body.get("messages") or []) if tools and tool_mode != "off" else None
        if function is None:
            return Plan(reasoning, sentence(rng, rng.randint(12, 40)), [], "", "stop")
        name = function.get("name", "tool")
        arguments = tool_arguments(function, rng)
    if tool_mode == "parsed":
        call = {"function": {"name": name, "arguments": json.dumps(arguments)}, "type": "function", "id": str(uuid.uuid4())}
        return Plan(reasoning, [], [call], "", "tool_calls")
    if tool_mode == "pieces":
        # As llama.cpp's server and vLLM stream a call: its id and name first, then the argument
        # text a few characters at a time, each piece under the call's index.
        text = json.dumps(arguments)
        first = {"index": 0, "function": {"name": name, "arguments": ""}, "type": "function", "id": uuid.uuid4().hex[:24]}
        pieces = [{"index": 0, "function": {"arguments": text[i:i + 5]}} for i in range(0, len(text), 5)]
        return Plan(reasoning, [], [first, *pieces], "", "tool_calls")
    if tool_mode == "lost":
        # The server's parser failed: the call is dropped, the finish reason still says tool_calls.
        return Plan(reasoning, [], [], "", "tool_calls")
    raw = render_raw(tool_mode.split(":", 1)[1], name, arguments)
    return Plan(reasoning, split_tokens(raw), [], raw, "stop")


def truncate_at_stop(text, stops):
    """(text cut before the first stop sequence, whether one was found)."""
    cut = min((text.find(s) for s in stops if s and s in text), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def held_back(text, stops):
    """How many trailing characters could still become a stop sequence (never streamed early)."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:size]):
                longest = max(longest, size)
                break
    return longest


def token_id(text):
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:2], "big")
