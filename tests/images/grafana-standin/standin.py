"""TEST STAND-IN for Grafana (grafana/grafana-oss), for the loadops.k6 grafana role's tests only.

It proves the role's container wiring: bind mounts (provisioning, dashboards, data), the env the
real image reads, the admin password file (GF_SECURITY_ADMIN_PASSWORD__FILE), listen address and
port, and that uid 472 / gid 0 can read what the role writes. It does NOT prove that real Grafana
accepts the provisioning files or dashboards: it parses only the YAML subset the role writes.

Env as the real image: GF_SERVER_HTTP_ADDR (empty: all interfaces), GF_SERVER_HTTP_PORT (3000),
GF_SECURITY_ADMIN_USER, GF_SECURITY_ADMIN_PASSWORD__FILE, GF_PATHS_PROVISIONING, GF_PATHS_DATA,
GF_AUTH_ANONYMOUS_ENABLED. Exits 1 (reason on stderr) when it cannot read a provisioning file,
a dashboards directory or the password file, or cannot write the data directory.
Answers only: GET /api/health, GET /api/user, POST /api/admin/provisioning/{datasources,
dashboards}/reload, GET /api/datasources/uid/<uid>[/health] (health really runs SHOW MEASUREMENTS
on the datasource's InfluxDB as its user), GET /api/dashboards/uid/<uid> (providers' options.path).
"""
import base64
import glob
import json
import os
import signal
import sys
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ENV = os.environ.get
PROVISIONING = ENV("GF_PATHS_PROVISIONING") or "/etc/grafana/provisioning"
DATA = ENV("GF_PATHS_DATA") or "/var/lib/grafana"
ADMIN = ENV("GF_SECURITY_ADMIN_USER") or "admin"
ANONYMOUS = (ENV("GF_AUTH_ANONYMOUS_ENABLED") or "false").lower() == "true"
STATE = {"datasources": {}, "dashboard_dirs": []}


def die(message):
    sys.exit("grafana-standin: %s" % message)  # exit status 1, message on stderr


def scalar(text):
    try:
        return json.loads(text.strip())  # the role writes strings with to_json; also 1, true, null
    except ValueError:
        return None if text.strip() in ("", "~") else text.strip()


def parse_yaml(text):
    """Block mappings and lists of mappings with one scalar per line: what the role writes."""
    lines = [(len(l) - len(l.lstrip(" ")), l.strip()) for l in text.splitlines()
             if l.strip() and not l.strip().startswith("#")]

    def block(i, indent):
        items = []
        while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
            lines[i] = (indent + 2, lines[i][1][2:])  # "- key: v" opens a mapping 2 columns in
            item, i = block(i, indent + 2)
            items.append(item)
        if items:
            return items, i
        mapping = {}
        while i < len(lines) and lines[i][0] == indent and not lines[i][1].startswith("- "):
            key, sep, rest = lines[i][1].partition(":")
            if not sep:
                raise ValueError("line %r is not 'key: value'" % lines[i][1])
            i += 1
            nested = not rest.strip() and i < len(lines) and (
                lines[i][0] > indent or (lines[i][0] == indent and lines[i][1].startswith("- ")))
            mapping[key.strip()], i = block(i, lines[i][0]) if nested else (scalar(rest), i)
        return mapping, i

    value, end = block(0, lines[0][0]) if lines else ({}, 0)
    if end != len(lines):
        raise ValueError("cannot parse line %r" % lines[end][1])
    return value


def read_provisioning():
    """(Re)read every provisioning file; any file we cannot read or parse is fatal, like at start."""
    datasources, dashboard_dirs = {}, []
    for kind in ("datasources", "dashboards"):
        directory = os.path.join(PROVISIONING, kind)
        for path in sorted(glob.glob(os.path.join(directory, "*.yml")) + glob.glob(os.path.join(directory, "*.yaml"))):
            try:
                with open(path) as handle:
                    config = parse_yaml(handle.read()) or {}
            except (OSError, ValueError) as exc:
                raise RuntimeError("cannot read provisioning file %s: %s" % (path, exc))
            datasources.update((ds.get("uid"), ds) for ds in config.get("datasources") or [])
            dashboard_dirs += [(p.get("options") or {}).get("path") or "" for p in config.get("providers") or []]
    for directory in dashboard_dirs:
        try:
            os.listdir(directory)
        except OSError as exc:
            raise RuntimeError("cannot read the dashboards directory %s: %s" % (directory, exc.strerror))
    STATE.update(datasources=datasources, dashboard_dirs=dashboard_dirs)


def influx_health(ds):
    """SHOW MEASUREMENTS on the datasource's database, as its user: Grafana's InfluxQL health check."""
    params = {"db": (ds.get("jsonData") or {}).get("dbName") or "", "q": "SHOW MEASUREMENTS"}
    if ds.get("user"):
        params.update(u=ds["user"], p=(ds.get("secureJsonData") or {}).get("password") or "")
    url = "%s/query?%s" % (str(ds.get("url") or "").rstrip("/"), urllib.parse.urlencode(params))
    try:
        body = json.loads(urllib.request.urlopen(url, timeout=5).read().decode())
    except urllib.error.HTTPError as exc:
        return 400, {"status": "ERROR", "message": "InfluxDB returned error: %s" % exc.read().decode(errors="replace").strip()}
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return 400, {"status": "ERROR", "message": "error performing influxQL query: %s" % getattr(exc, "reason", exc)}
    result = (body.get("results") or [{}])[0]
    if body.get("error") or result.get("error"):
        return 400, {"status": "ERROR", "message": "InfluxDB returned error: %s" % (body.get("error") or result.get("error"))}
    count = len(((result.get("series") or [{}])[0]).get("values") or [])
    return 200, {"status": "OK", "message": "datasource is working. %d measurements found" % count}


class Handler(BaseHTTPRequestHandler):
    server_version = "grafana-standin"

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authorized(self):
        expected = "Basic " + base64.b64encode(("%s:%s" % (ADMIN, self.server.password)).encode()).decode()
        return self.headers.get("Authorization") == expected

    def do_GET(self):  # noqa: N802
        path = self.path.split("?")[0]
        if path == "/api/health":
            return self.reply(200, {"database": "ok", "version": "stand-in", "commit": "stand-in"})
        if path == "/api/user" and ANONYMOUS and "Authorization" not in self.headers:
            return self.reply(200, {"login": "", "isAnonymous": True})
        if not self.authorized():
            return self.reply(401, {"message": "Unauthorized"})
        if path == "/api/user":
            return self.reply(200, {"login": ADMIN, "isGrafanaAdmin": True})
        parts = path.split("/")
        if path.startswith("/api/datasources/uid/") and len(parts) in (5, 6):
            ds = STATE["datasources"].get(urllib.parse.unquote(parts[4]))
            if ds is None:
                return self.reply(404, {"message": "Data source not found"})
            if len(parts) == 6 and parts[5] == "health":
                return self.reply(*influx_health(ds))
            if len(parts) == 5:
                return self.reply(200, {"uid": ds.get("uid"), "name": ds.get("name"), "type": ds.get("type"),
                                        "url": ds.get("url"), "database": (ds.get("jsonData") or {}).get("dbName")})
        if path.startswith("/api/dashboards/uid/") and len(parts) == 5:
            uid = urllib.parse.unquote(parts[4])
            for directory in STATE["dashboard_dirs"]:
                for file in sorted(glob.glob(os.path.join(directory, "*.json"))):
                    with open(file) as handle:
                        dashboard = json.load(handle)
                    if dashboard.get("uid") == uid:
                        return self.reply(200, {"dashboard": dashboard, "meta": {"provisioned": True}})
        return self.reply(404, {"message": "Not found"})

    def do_POST(self):  # noqa: N802
        if not self.authorized():
            return self.reply(401, {"message": "Unauthorized"})
        if self.path in ("/api/admin/provisioning/datasources/reload", "/api/admin/provisioning/dashboards/reload"):
            try:
                read_provisioning()
            except RuntimeError as exc:
                return self.reply(500, {"message": str(exc)})
            return self.reply(200, {"message": "%s config reloaded" % self.path.split("/")[4].rstrip("s").capitalize()})
        return self.reply(404, {"message": "Not found"})


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    password_file = ENV("GF_SECURITY_ADMIN_PASSWORD__FILE")
    password = ENV("GF_SECURITY_ADMIN_PASSWORD") or "admin"
    if password_file:
        try:
            with open(password_file) as handle:
                password = handle.read().strip()
        except OSError as exc:
            die("cannot read GF_SECURITY_ADMIN_PASSWORD__FILE %s: %s" % (password_file, exc.strerror))
    try:
        open(os.path.join(DATA, "grafana-standin.db"), "a").close()  # Grafana keeps grafana.db there
    except OSError as exc:
        die("GF_PATHS_DATA %s is not writable: %s" % (DATA, exc.strerror))
    try:
        read_provisioning()
    except RuntimeError as exc:
        die(str(exc))
    server = ThreadingHTTPServer((ENV("GF_SERVER_HTTP_ADDR") or "0.0.0.0", int(ENV("GF_SERVER_HTTP_PORT") or 3000)), Handler)
    server.password = password
    sys.stderr.write("grafana-standin: listening on %s:%d, %d datasource(s)\n"
                     % (server.server_address[0], server.server_address[1], len(STATE["datasources"])))
    server.serve_forever()


if __name__ == "__main__":
    main()
