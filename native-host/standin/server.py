"""Entry point: flags, logging and the start-up order of mlx_lm.server (>= 0.28.4 by default)."""
import argparse
import json
import logging
import socket
import warnings
from http.server import HTTPServer, ThreadingHTTPServer

from .engine import ModelProvider, ResponseGenerator
from .faults import FIELDS, TOOL_CALL_MODES, Faults
from .handler import APIHandler


def build_parser():
    parser = argparse.ArgumentParser(description="A stand-in for mlx_lm.server with fault injection.")
    # The real server's flags (mlx_lm/server.py's argument parser, 0.32); the stand-in accepts and mostly ignores them.
    parser.add_argument("--model", type=str, help="the default model (echoed as given)")
    parser.add_argument("--adapter-path", type=str)
    parser.add_argument("--host", type=str, default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--allowed-origins", type=str, default="*")
    parser.add_argument("--draft-model", type=str)
    parser.add_argument("--num-draft-tokens", type=int, default=3)
    parser.add_argument("--trust-remote-code", action="store_true")
    parser.add_argument("--log-level", type=str, default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
    parser.add_argument("--chat-template", type=str, default="")
    parser.add_argument("--use-default-chat-template", action="store_true")
    parser.add_argument("--temp", type=float, default=0.0)
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--top-k", type=int, default=0)
    parser.add_argument("--min-p", type=float, default=0.0)
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--chat-template-args", type=json.loads, default="{}")
    parser.add_argument("--decode-concurrency", type=int, default=32)
    parser.add_argument("--prompt-concurrency", type=int, default=8)
    parser.add_argument("--prefill-step-size", type=int, default=2048)
    parser.add_argument("--prompt-cache-size", type=int, default=10)
    parser.add_argument("--prompt-cache-bytes", type=str)
    # Stand-in behaviour.
    standin = parser.add_argument_group("stand-in behaviour")
    standin.add_argument("--load-time-ms", type=int, default=0, help="how long loading the model takes")
    standin.add_argument("--load-stall", action="store_true", help="loading never finishes and prints nothing")
    standin.add_argument("--footprint-mb", type=int, default=0, help="memory the loaded model holds, written so that it is resident (as real weights are)")
    standin.add_argument("--exit-during-load", action="store_true", help="loading fails with a traceback; exit 1")
    standin.add_argument("--bind-after-load", action="store_true", help="<= 0.31.2: load, then bind (default: bind first)")
    standin.add_argument("--serial", action="store_true", help="<= 0.28.3: one connection at a time")
    standin.add_argument("--bind-failure", action="store_true", help="print 'Address already in use' and never exit")
    standin.add_argument("--reasoning-tokens", type=int, default=0, help="thinking tokens before the answer")
    standin.add_argument(
        "--launch-faults",
        type=str,
        help=f"a JSON file read once at start, if it exists: load behaviour for this launch ({', '.join(LAUNCH_FAULTS)}), "
        "so a fault can be armed for the next relaunch of a running campaign",
    )
    standin.add_argument("--control", action="store_true", help=f"serve GET/POST /__standin/faults ({', '.join(FIELDS)})")
    standin.add_argument("--fault-seed", type=int, default=0, help="seed for error_rate and drop_rate")
    for name, (kind, description) in FIELDS.items():
        flag = "--" + name.replace("_", "-")
        if kind is bool:
            standin.add_argument(flag, action="store_true", help=description)
        elif name == "tool_calls":
            standin.add_argument(flag, choices=TOOL_CALL_MODES, default="parsed", help=description)
        elif name == "script":
            standin.add_argument(flag, type=json.loads, default=None, help=description + " (JSON)")
        else:
            standin.add_argument(flag, type=kind[0] if isinstance(kind, tuple) else kind, default=None, help=description)
    return parser


# Start-up behaviours a launch-faults file may set, and the type each takes.
LAUNCH_FAULTS = {"load_time_ms": int, "exit_during_load": bool, "load_stall": bool}


def apply_launch_faults(args):
    """Overrides the load flags with the launch-faults file's, when it exists; a bad file is a usage error."""
    if not args.launch_faults:
        return
    try:
        with open(args.launch_faults, encoding="utf-8") as file:
            settings = json.load(file)
    except FileNotFoundError:
        return
    except (OSError, ValueError) as error:
        raise SystemExit(f"--launch-faults {args.launch_faults}: cannot read it: {error}") from error
    if not isinstance(settings, dict):
        raise SystemExit(f"--launch-faults {args.launch_faults}: expected a JSON object")
    for name, value in settings.items():
        kind = LAUNCH_FAULTS.get(name)
        if kind is None or type(value) is not kind:
            raise SystemExit(f"--launch-faults {args.launch_faults}: {name!r} is not one of {', '.join(LAUNCH_FAULTS)} with its type")
        setattr(args, name, value)


def run(host, port, response_generator, handler_class, serial, fail_bind):
    server_class = HTTPServer if serial else ThreadingHTTPServer
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    server_class.address_family, _, _, _, server_address = next(iter(infos))
    if fail_bind:
        # Hold the port ourselves, so the bind below fails for real (errno 98 on Linux, 48 on macOS).
        occupier = socket.socket(server_class.address_family, socket.SOCK_STREAM)
        occupier.bind(server_address)
        occupier.listen()
        server_address = occupier.getsockname()
    httpd = server_class(server_address, handler_class)
    # The real server logs the configured port; the stand-in logs the bound one, so port 0 works.
    logging.info(f"Starting httpd at {host} on port {httpd.server_address[1]}...")
    httpd.serve_forever()


def main():
    args = build_parser().parse_args()
    apply_launch_faults(args)
    logging.basicConfig(level=getattr(logging, args.log_level.upper()), format="%(asctime)s - %(levelname)s - %(message)s")
    faults = Faults(
        seed=args.fault_seed,
        # "is not": 0 == False in Python, and --crash-after-tokens 0 is a real setting.
        **{name: value for name in FIELDS if (value := getattr(args, name)) is not None and value is not False},
    )
    model_provider = ModelProvider(args)
    if args.bind_after_load:
        model_provider.load_default()
    warnings.warn("mlx_lm.server is not recommended for production as it only implements basic security checks.")
    # Started before the bind, as in >= 0.28.4: a failed bind leaves this non-daemon thread running.
    response_generator = ResponseGenerator(model_provider, faults, args)

    def handler(*handler_args, **handler_kwargs):
        return APIHandler(response_generator, faults, args.control, *handler_args, **handler_kwargs)

    run(args.host, args.port, response_generator, handler, args.serial, args.bind_failure)
