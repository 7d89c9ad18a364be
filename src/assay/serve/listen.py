"""Before and when ``assay serve`` listens: is the host this machine only, is the port free, and
what to print on start."""

from __future__ import annotations

import errno
import ipaddress
import socket

from assay.errors import UserError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_port(host: str, port: int) -> None:
    """Fail early, before loading a model, when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except OSError as exc:
            raise UserError(
                f"cannot listen on {host}:{port}: {exc.strerror}",
                hint="pick another port with --port" if exc.errno == errno.EADDRINUSE else None,
            ) from exc


def banner(served_name: str, host: str, port: int, api_key: str | None) -> str:
    """What ``assay serve`` prints on start: the URL and how to use it."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    shown = f"[{shown}]" if ":" in shown else shown
    base = f"http://{shown}:{port}/v1"
    key = "<your --api-key>" if api_key else "not-needed"
    return (
        f"Serving {served_name} at {base} (OpenAI-compatible)\n"
        f"\n"
        f"  from openai import OpenAI\n"
        f'  client = OpenAI(base_url="{base}", api_key="{key}")\n'
        f"  reply = client.chat.completions.create(\n"
        f'      model="{served_name}",\n'
        f'      messages=[{{"role": "user", "content": "Hello!"}}],\n'
        f"  )\n"
        f"  print(reply.choices[0].message.content)\n"
        f"\n"
        f'  # or from assay: assay.load("openai:{served_name}@{base}")\n'
        f"\n"
        f"Press Ctrl+C to stop."
    )
