"""loadops demo target: a small HTTP service with the API contract the k6 scenarios exercise.

Standard library only (Python 3.9+), one file, meant for trying the collection out and for its
integration tests; it is not an application server.

Run:
    python3 loadops_demo_target.py --host 127.0.0.1 --port 8480 [--config knobs.json]

Once listening it prints one line, ``loadops-demo-target listening on http://HOST:PORT``
(``--port 0`` picks a free port; read the real one from that line).

Contract
    POST /auth/login/        JSON {"email", "password"} -> 200 {"token": ...}; 401 on bad
                             credentials, 400 on a malformed body
    GET  /auth/me/           the user (bearer token required: ``Authorization: Bearer <token>``)
    GET  /auth/me/teams/     JSON list (token required)
    GET  /health/            200 "OK" (no token)
    GET  /api/tasks/         JSON list, newest first, at most 50 (token required)
    POST /api/tasks/         JSON {"title": str, ...} -> 201 with the created task (token required);
                             the in-memory list keeps only the newest --max-tasks tasks
    GET  /api/campaigns/  /api/core/projects/  /api/assets/  /api/budgets/   JSON lists (token)
    GET  /  /login  /tasks  /campaigns  /projects                           small HTML pages
    Anything else: 404; a known path with another method: 405.

Credentials: demo@example.com / demo-password (the defaults of k6/scripts/config.js), overridden
by env LOADOPS_DEMO_EMAIL / LOADOPS_DEMO_PASSWORD, overridden by --email / --password. Tokens are
HMAC-signed with a per-process secret: no server-side session state, invalid after a restart.

Knobs (to make the target slow or failing on purpose, e.g. to prove a threshold trips)
    Per endpoint: ``latency_ms`` (sleep added before answering), ``jitter_ms`` (extra uniform
    random sleep in [0, jitter_ms]) and ``error_rate`` (probability, 0..1, of answering 500).
    A JSON file given with --config:
        {"default": {"latency_ms": 0, "error_rate": 0},
         "/api/tasks/": {"latency_ms": 300},
         "POST /api/tasks/": {"error_rate": 0.1}}
    and/or flags, which win over the file:  --latency /api/tasks/=300  --error-rate /api/assets/=0.5
    Lookup order for a request: "METHOD /path", then "/path", then "default", key by key.

--allowed-hosts a,b,...   Reject (400) a request whose Host header's hostname is not listed,
    like Django's ALLOWED_HOSTS: "*" allows all, ".example.com" allows example.com and its
    subdomains. Default: allow all.
--verbose   One log line per request on stderr (default: silent apart from the ready line).
SIGTERM / SIGINT stop the server cleanly (exit code 0).

Measured capacity (November 2026: 2-core Debian 12 VM, Python 3.11, k6 v1.1.0 on the same
2 cores, loopback). The stress journey with no think time (13 reads, a cached login, one create
per 10 iterations), 10 s, peak 20 VUs:
    K6_NO_USAGE_REPORT=true K6_THINK_TIME=0 K6_TIME_SCALE=0.0119 K6_VU_SCALE=0.1 \
    K6_BASE_URL=http://127.0.0.1:8480 k6 run --address "" -q k6/scripts/scenarios/stress.js
gave about 4,400 requests/s (3,800 at 10 VUs, 4,300 at 50 VUs), 0 errors, read p(95) 7 ms
(3.6 ms at 10 VUs, 19 ms at 50 VUs). The server used ~0.5 core; k6 on the same machine was
the limit. With the scenarios' default think time (up to 0.5 s), the spike profile scaled to
10 s (K6_TIME_SCALE=0.12) ran 100 VUs at ~2,900 requests/s (read p(95) 2.5 ms) and 200 VUs
(K6_VU_SCALE=2) at the ~4,000 requests/s plateau (read p(95) 41 ms, iteration p(95) 0.8 s):
saturated but still inside the base thresholds. An order of magnitude, not a benchmark.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import random
import secrets
import signal
import sys
import threading
import time
import traceback
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socket import AF_INET6
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple
from urllib.parse import urlsplit

DEFAULT_EMAIL = "demo@example.com"
DEFAULT_PASSWORD = "demo-password"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8480
DEFAULT_MAX_TASKS = 1000
TASK_PAGE_SIZE = 50
MAX_BODY_BYTES = 64 * 1024
KNOB_KEYS = {"latency_ms": float, "jitter_ms": float, "error_rate": float}
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


class ConfigError(ValueError):
    """A knob file or flag is invalid."""


# --- knobs -----------------------------------------------------------------------------------


def _validate_knob(where: str, knob: Any) -> Dict[str, float]:
    if not isinstance(knob, dict):
        raise ConfigError(f"{where}: expected an object like {{\"latency_ms\": 100}}, got {knob!r}")
    unknown = set(knob) - set(KNOB_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown knob(s) {sorted(unknown)}; known: {sorted(KNOB_KEYS)}")
    clean: Dict[str, float] = {}
    for key, value in knob.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}.{key}: expected a number, got {value!r}")
        if value < 0 or (key == "error_rate" and value > 1):
            limit = "between 0 and 1" if key == "error_rate" else ">= 0"
            raise ConfigError(f"{where}.{key}: must be {limit}, got {value!r}")
        clean[key] = float(value)
    return clean


def _validate_key(key: str) -> str:
    if key == "default":
        return key
    parts = key.split(" ")
    path = parts[-1]
    if len(parts) > 2 or not path.startswith("/") or (len(parts) == 2 and parts[0] not in HTTP_METHODS):
        raise ConfigError(f"knob key {key!r}: expected 'default', '/path' or 'METHOD /path'")
    return key


class Knobs:
    """Latency and error injection per endpoint."""

    def __init__(self, table: Optional[Dict[str, Dict[str, float]]] = None) -> None:
        self.table: Dict[str, Dict[str, float]] = {}
        for key, knob in (table or {}).items():
            self.set(key, knob)

    def set(self, key: str, knob: Dict[str, Any]) -> None:
        key = _validate_key(key)
        merged = dict(self.table.get(key, {}))
        merged.update(_validate_knob(key, knob))
        self.table[key] = merged

    def resolve(self, method: str, path: str) -> Dict[str, float]:
        result = {"latency_ms": 0.0, "jitter_ms": 0.0, "error_rate": 0.0}
        for key in ("default", path, f"{method} {path}"):
            result.update(self.table.get(key, {}))
        return result

    @classmethod
    def from_file(cls, path: str) -> "Knobs":
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read knob file {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"knob file {path}: top level must be an object")
        return cls(data)


def _parse_flag(flag: str, text: str, cast: Callable[[str], float]) -> Tuple[str, float]:
    key, sep, value = text.rpartition("=")
    if not sep or not key:
        raise ConfigError(f"{flag} {text!r}: expected PATH=VALUE, e.g. /api/tasks/=300")
    try:
        return key, cast(value)
    except ValueError as exc:
        raise ConfigError(f"{flag} {text!r}: {value!r} is not a number") from exc


# --- application state -----------------------------------------------------------------------


def _sample(label: str, count: int, **extra: Any) -> List[Dict[str, Any]]:
    return [{"id": i, "name": f"{label} {i}", **extra} for i in range(1, count + 1)]


class DemoApp:
    """Everything the handlers share; safe to use from many threads."""

    def __init__(
        self,
        email: str,
        password: str,
        knobs: Knobs,
        allowed_hosts: Optional[List[str]] = None,
        max_tasks: int = DEFAULT_MAX_TASKS,
        verbose: bool = False,
    ) -> None:
        self.email = email
        self.password = password
        self.knobs = knobs
        self.allowed_hosts = [h.strip().lower() for h in (allowed_hosts or []) if h.strip()]
        self.verbose = verbose
        self.secret = secrets.token_bytes(32)
        self.lock = threading.Lock()
        self.tasks: deque = deque(maxlen=max(1, max_tasks))
        self.next_task_id = 1
        for title in ("Write brief", "Review assets", "Approve budget"):
            self._add_task({"title": title, "status": "todo"})
        self.static = {
            "/auth/me/teams/": _sample("Team", 2, role="member"),
            "/api/campaigns/": _sample("Campaign", 5, status="active"),
            "/api/core/projects/": _sample("Project", 3),
            "/api/assets/": _sample("Asset", 8, kind="image"),
            "/api/budgets/": _sample("Budget", 3, amount=1000, currency="EUR"),
        }

    # tokens: base64url(email) "." hex(hmac(secret, email)) -- stateless, bounded memory
    def issue_token(self, email: str) -> str:
        user = base64.urlsafe_b64encode(email.encode()).decode().rstrip("=")
        return f"{user}.{self._sign(email)}"

    def user_for_token(self, token: str) -> Optional[str]:
        user, sep, signature = token.partition(".")
        if not sep:
            return None
        try:
            email = base64.urlsafe_b64decode(user + "=" * (-len(user) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        return email if hmac.compare_digest(signature, self._sign(email)) else None

    def _sign(self, email: str) -> str:
        return hmac.new(self.secret, email.encode(), hashlib.sha256).hexdigest()

    def host_allowed(self, host_header: Optional[str]) -> bool:
        if not self.allowed_hosts:
            return True
        if not host_header:
            return False
        host = host_header.strip().lower()
        if host.startswith("["):  # [::1]:8480
            host = host[1:].partition("]")[0]
        elif host.count(":") == 1:
            host = host.partition(":")[0]
        for pattern in self.allowed_hosts:
            if pattern == "*" or pattern == host:
                return True
            if pattern.startswith(".") and (host == pattern[1:] or host.endswith(pattern)):
                return True
        return False

    def _add_task(self, fields: Dict[str, Any]) -> Dict[str, Any]:
        task = {"id": self.next_task_id, "title": fields["title"], "status": fields.get("status", "todo")}
        self.next_task_id += 1
        self.tasks.append(task)
        return task

    def create_task(self, fields: Dict[str, Any]) -> Dict[str, Any]:
        with self.lock:
            return self._add_task(fields)

    def list_tasks(self) -> List[Dict[str, Any]]:
        with self.lock:
            newest = list(self.tasks)[-TASK_PAGE_SIZE:]
        newest.reverse()
        return newest


# --- HTTP ------------------------------------------------------------------------------------

PAGE_TITLES = {"/": "Home", "/login": "Log in", "/tasks": "Tasks", "/campaigns": "Campaigns", "/projects": "Projects"}

Response = Tuple[int, str, bytes]  # status, content type, body


def _json(status: int, payload: Any) -> Response:
    return status, "application/json", json.dumps(payload).encode()


def _page(title: str) -> Response:
    html = (
        "<!doctype html><html><head><meta charset=\"utf-8\">"
        f"<title>{title} - loadops demo</title></head>"
        f"<body><h1>{title}</h1><p>loadops demo target</p></body></html>"
    )
    return 200, "text/html; charset=utf-8", html.encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like real servers behind k6
    server_version = "loadops-demo-target/1.0"
    sys_version = ""
    timeout = 60  # drop idle keep-alive connections
    disable_nagle_algorithm = True  # headers and body are two writes: avoid the 40 ms delayed-ACK stall

    app: DemoApp  # set on the subclass built by make_server()

    # routing table: path -> {method: (handler, needs_auth)}
    ROUTES: Dict[str, Dict[str, Tuple[str, bool]]] = {
        "/health/": {"GET": ("health", False)},
        "/auth/login/": {"POST": ("login", False)},
        "/auth/me/": {"GET": ("me", True)},
        "/auth/me/teams/": {"GET": ("static_list", True)},
        "/api/tasks/": {"GET": ("list_tasks", True), "POST": ("create_task", True)},
        "/api/campaigns/": {"GET": ("static_list", True)},
        "/api/core/projects/": {"GET": ("static_list", True)},
        "/api/assets/": {"GET": ("static_list", True)},
        "/api/budgets/": {"GET": ("static_list", True)},
        **{path: {"GET": ("page", False)} for path in PAGE_TITLES},
    }

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _read_body(self) -> Optional[bytes]:
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            size = int(length)
        except ValueError:
            return None
        if size < 0 or size > MAX_BODY_BYTES:
            return None
        return self.rfile.read(size)

    def _dispatch(self, method: str) -> None:
        body = self._read_body()
        if body is None:
            self.close_connection = True
            self._send(*_json(413, {"detail": f"body missing a valid Content-Length or over {MAX_BODY_BYTES} bytes"}))
            return
        path = urlsplit(self.path).path
        try:
            response, extra = self._handle(method, path, body)
        except Exception:  # a bug here must not kill the connection thread silently
            traceback.print_exc(file=sys.stderr)
            response, extra = _json(500, {"detail": "internal error"}), {}
        self._send(*response, extra_headers=extra)

    def _handle(self, method: str, path: str, body: bytes) -> Tuple[Response, Dict[str, str]]:
        app = self.app
        if not app.host_allowed(self.headers.get("Host")):
            host = self.headers.get("Host", "")
            return (400, "text/html; charset=utf-8",
                    f"<h1>Bad Request (400)</h1><p>Invalid Host header: {host!r}</p>".encode()), {}
        routes = self.ROUTES.get(path)
        if routes is None:
            return _json(404, {"detail": "Not found."}), {}
        if method not in routes:
            return _json(405, {"detail": f'Method "{method}" not allowed.'}), {"Allow": ", ".join(routes)}

        knob = app.knobs.resolve(method, path)
        delay = knob["latency_ms"] + (random.uniform(0, knob["jitter_ms"]) if knob["jitter_ms"] else 0)
        if delay > 0:
            time.sleep(delay / 1000.0)
        if knob["error_rate"] > 0 and random.random() < knob["error_rate"]:
            return _json(500, {"detail": "injected error (error_rate knob)"}), {}

        handler_name, needs_auth = routes[method]
        user = None
        if needs_auth:
            auth = self.headers.get("Authorization", "")
            scheme, _sep, token = auth.partition(" ")
            user = app.user_for_token(token.strip()) if scheme.lower() == "bearer" else None
            if user is None:
                return (_json(401, {"detail": "Authentication credentials were not provided or are invalid."}),
                        {"WWW-Authenticate": "Bearer"})
        return getattr(self, f"_h_{handler_name}")(path, body, user), {}

    # handlers --------------------------------------------------------------------------------

    def _h_health(self, path: str, body: bytes, user: Optional[str]) -> Response:
        return 200, "text/plain; charset=utf-8", b"OK"

    def _h_login(self, path: str, body: bytes, user: Optional[str]) -> Response:
        data = _parse_json_object(body)
        if data is None or not isinstance(data.get("email"), str) or not isinstance(data.get("password"), str):
            return _json(400, {"detail": 'Expected a JSON object {"email": ..., "password": ...}.'})
        app = self.app
        email_ok = hmac.compare_digest(data["email"].encode(), app.email.encode())
        password_ok = hmac.compare_digest(data["password"].encode(), app.password.encode())
        if not (email_ok and password_ok):
            return _json(401, {"detail": "Invalid credentials."})
        return _json(200, {"token": app.issue_token(app.email)})

    def _h_me(self, path: str, body: bytes, user: Optional[str]) -> Response:
        return _json(200, {"id": 1, "email": user, "name": "Demo User"})

    def _h_static_list(self, path: str, body: bytes, user: Optional[str]) -> Response:
        return _json(200, self.app.static[path])

    def _h_list_tasks(self, path: str, body: bytes, user: Optional[str]) -> Response:
        return _json(200, self.app.list_tasks())

    def _h_create_task(self, path: str, body: bytes, user: Optional[str]) -> Response:
        data = _parse_json_object(body)
        if data is None or not isinstance(data.get("title"), str) or not data["title"].strip():
            return _json(400, {"detail": 'Expected a JSON object with a non-empty "title".'})
        status = data.get("status", "todo")
        if not isinstance(status, str):
            return _json(400, {"detail": '"status" must be a string.'})
        return _json(201, self.app.create_task({"title": data["title"][:200], "status": status[:32]}))

    def _h_page(self, path: str, body: bytes, user: Optional[str]) -> Response:
        return _page(PAGE_TITLES[path])

    # plumbing --------------------------------------------------------------------------------

    def _send(self, status: int, content_type: str, body: bytes, extra_headers: Optional[Dict[str, str]] = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        if self.app.verbose:
            sys.stderr.write(f"{self.address_string()} - {format % args}\n")


def _parse_json_object(body: bytes) -> Optional[Dict[str, Any]]:
    try:
        data = json.loads(body.decode("utf-8") or "null")
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


class DemoServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    verbose = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)) and not self.verbose:
            return  # clients hanging up mid-response are normal under load
        super().handle_error(request, client_address)


def make_server(host: str, port: int, app: DemoApp) -> DemoServer:
    handler = type("BoundHandler", (Handler,), {"app": app})
    server_class = DemoServer
    if ":" in host:  # IPv6 literal
        server_class = type("DemoServer6", (DemoServer,), {"address_family": AF_INET6})
    server = server_class((host.strip("[]"), port), handler)
    server.verbose = app.verbose
    return server


# --- CLI -------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Demo HTTP target for the loadops.k6 scenarios (stdlib only).",
        epilog="Knob file example: {\"default\": {\"latency_ms\": 0, \"error_rate\": 0}, "
        "\"/api/tasks/\": {\"latency_ms\": 300}}",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port, 0 = any free port (default %(default)s)")
    parser.add_argument("--config", help="JSON knob file (latency_ms / jitter_ms / error_rate per endpoint)")
    parser.add_argument("--latency", action="append", default=[], metavar="PATH=MS",
                        help="added latency in ms for an endpoint key ('/path', 'METHOD /path' or 'default'); repeatable")
    parser.add_argument("--error-rate", action="append", default=[], metavar="PATH=P",
                        help="probability (0..1) of a 500 for an endpoint key; repeatable")
    parser.add_argument("--allowed-hosts", action="append", default=[], metavar="HOST[,HOST...]",
                        help="accepted Host header names (400 otherwise), like Django ALLOWED_HOSTS; default: all")
    parser.add_argument("--email", default=os.environ.get("LOADOPS_DEMO_EMAIL") or DEFAULT_EMAIL,
                        help="login email (env LOADOPS_DEMO_EMAIL, default %(default)s)")
    parser.add_argument("--password", default=os.environ.get("LOADOPS_DEMO_PASSWORD") or DEFAULT_PASSWORD,
                        help="login password (env LOADOPS_DEMO_PASSWORD)")
    parser.add_argument("--max-tasks", type=int, default=DEFAULT_MAX_TASKS,
                        help="tasks kept in memory, oldest dropped first (default %(default)s)")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser


def load_knobs(config: Optional[str], latency: Iterable[str], error_rate: Iterable[str]) -> Knobs:
    knobs = Knobs.from_file(config) if config else Knobs()
    for text in latency:
        key, value = _parse_flag("--latency", text, float)
        knobs.set(key, {"latency_ms": value})
    for text in error_rate:
        key, value = _parse_flag("--error-rate", text, float)
        knobs.set(key, {"error_rate": value})
    return knobs


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        knobs = load_knobs(args.config, args.latency, args.error_rate)
    except ConfigError as exc:
        print(f"loadops-demo-target: {exc}", file=sys.stderr)
        return 2
    allowed = [h for item in args.allowed_hosts for h in item.split(",") if h.strip()]
    app = DemoApp(args.email, args.password, knobs, allowed, args.max_tasks, args.verbose)
    try:
        server = make_server(args.host, args.port, app)
    except OSError as exc:
        print(f"loadops-demo-target: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1

    stop = threading.Event()

    def request_stop(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    host, port = server.server_address[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"loadops-demo-target listening on http://{shown}:{port}", flush=True)
    worker = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    worker.start()
    try:
        while not stop.wait(0.5):
            if not worker.is_alive():
                return 1
    finally:
        server.shutdown()
        server.server_close()
    if args.verbose:
        print("loadops-demo-target stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
