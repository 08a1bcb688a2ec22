"""The shipped nginx site (deploy/nginx) rewritten onto loopback ports with a scratch
certificate, and the nginx command line that serves it from a test's directory."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "nginx"
NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).is_file()), None)
MISSING = NGINX is None or shutil.which("openssl") is None
MISSING_REASON = "nginx or openssl is not installed here (apt-get install nginx openssl)"

DASHBOARD = "telehub.example.nhs.uk"
API = "api.telehub.example.nhs.uk"


@dataclass(frozen=True)
class Site:
    """The shipped site rewritten onto loopback: its config directory and TLS port."""

    root: Path
    tls_port: int

    @property
    def certificate(self) -> Path:
        """The scratch certificate (for both host names)."""
        return self.root / "fullchain.pem"


def loopback_site(tmp: Path, tls_port: int, plain_port: int, dashboard_port: int,
                  api_port: int) -> Site:
    """deploy/nginx/telehub.conf with loopback ports, a scratch certificate and the snippet
    from this checkout: otherwise the file as shipped."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", f"/CN={DASHBOARD}",
                    "-addext", f"subjectAltName=DNS:{DASHBOARD},DNS:{API}",
                    "-keyout", str(tmp / "privkey.pem"), "-out", str(tmp / "fullchain.pem")],
                   check=True, capture_output=True)
    site = (DEPLOY / "telehub.conf").read_text()
    site = site.replace("/etc/telehub/tls/", f"{tmp}/")
    site = site.replace("/var/log/nginx/", f"{tmp}/")
    site = site.replace("/etc/nginx/snippets/telehub-headers.conf",
                        str(DEPLOY / "telehub-headers.conf"))
    site = re.sub(r"listen \[::\]:\d+[^;]*;", "", site)
    site = re.sub(r"listen 443 ", f"listen 127.0.0.1:{tls_port} ", site)
    site = re.sub(r"listen 80;", f"listen 127.0.0.1:{plain_port};", site)
    site = site.replace("127.0.0.1:8501", f"127.0.0.1:{dashboard_port}")
    site = site.replace("127.0.0.1:8000", f"127.0.0.1:{api_port}")
    (tmp / "telehub.conf").write_text(site)
    (tmp / "nginx.conf").write_text(f"""
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
worker_processes 1;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/telehub.conf;
}}
""")
    return Site(tmp, tls_port)


def nginx_command(site: Site, *args: str) -> list[str]:
    """nginx serving `site` from its own directory (no root-owned paths)."""
    assert NGINX is not None
    return [NGINX, "-p", str(site.root), "-e", str(site.root / "error.log"),
            "-c", str(site.root / "nginx.conf"), *args]


@contextmanager
def running_nginx(site: Site) -> Iterator[None]:
    """nginx in the foreground on the site's ports until the block ends."""
    proc = subprocess.Popen(nginx_command(site, "-g", "daemon off;"), stdin=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(f"https://127.0.0.1:{site.tls_port}/", verify=False,  # noqa: S501
                          headers={"Host": API}, timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read() if proc.stderr else b""
                    raise RuntimeError(f"nginx did not start: {err!r}") from None
                time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        proc.wait(10)
