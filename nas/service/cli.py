"""``nas serve``: the HTTP API and dashboard under uvicorn."""

from __future__ import annotations

import argparse
import os
import sys

from nas.service.settings import DEFAULT_MAX_BODY, ServiceSettings, is_loopback, token_from_env


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="HTTP API and dashboard over the same storage, with one shared Ray runtime")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--storage", default=None, help="database URL (default: $NAS_STORAGE or sqlite:///nas.db)")
    p.add_argument(
        "--address",
        default=None,
        help="Ray cluster to join from one of its nodes (auto or the head's host:port); default: start a local Ray",
    )
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray (default: all)")
    p.add_argument("--no-ray", action="store_true", help="run only executor: local studies (no Ray runtime)")
    p.add_argument(
        "--allow-module",
        action="append",
        default=[],
        metavar="MODULE",
        help="a module (or package) whose module:function evaluators requests may name (repeatable)",
    )
    p.add_argument("--public-read", action="store_true", help="serve reads without the token on a non-loopback address")
    p.add_argument("--max-body", type=int, default=DEFAULT_MAX_BODY, help="largest request body in bytes")
    p.add_argument(
        "--cache-ttl",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="how long a front read from the store is reused for studies run elsewhere (0: never)",
    )
    p.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from nas.cli import CLIError
    from nas.executors.address import AddressError, check_address
    from nas.service.app import create_app
    from storage import resolve_url

    try:
        check_address(args.address)
    except AddressError as e:
        raise CLIError(str(e)) from None
    token, generated = token_from_env()
    settings = ServiceSettings(
        storage=resolve_url(args.storage),
        token=token,
        host=args.host,
        public_read=args.public_read,
        allow_modules=tuple(args.allow_module),
        max_body=args.max_body,
        ray=not args.no_ray,
        address=args.address,
        num_cpus=args.num_cpus,
        cache_ttl_s=args.cache_ttl,
    )
    app = create_app(settings)
    print(
        f"nas serve: http://{_url_host(args.host)}:{args.port}/  (API docs at /docs) over "
        f"{_masked(settings.storage or '')}",
        file=sys.stderr,
    )
    if generated:
        print(f"API token (set NAS_API_TOKEN to choose one): {token}", file=sys.stderr)
    if not is_loopback(args.host):
        print(
            "listening beyond loopback: "
            + ("reads are public (--public-read)" if args.public_read else "reads need the token too"),
            file=sys.stderr,
        )
    sys.stderr.flush()
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
    # The app has stopped its runs and its Ray; exit now rather than wait in Ray's exit hooks
    # for a runtime that was still starting (its watchdog clears it once this process is gone).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _masked(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(storage URL)"
