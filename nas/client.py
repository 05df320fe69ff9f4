"""``Client``: the HTTP API of ``nas serve`` from Python (standard library only).

from nas.client import Client
c = Client("http://127.0.0.1:8000")          # token: NAS_API_TOKEN unless given
c.submit(spec_dict)
c.wait("zdt1-demo")
front = c.pareto("zdt1-demo")                # list of {"number", "params", "values", ...}
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

FINAL_STATES = frozenset({"complete", "stopped", "failed", "interrupted"})


class ClientError(RuntimeError):
    """The server refused a request (``status``) or could not be reached (``status`` 0)."""

    def __init__(self, status: int, detail: Any, url: str) -> None:
        self.status, self.detail, self.url = status, detail, url
        super().__init__(f"{url}: HTTP {status}: {_detail_text(detail)}" if status else f"{url}: {detail}")


def _detail_text(detail: Any) -> str:
    if isinstance(detail, list):
        return "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
    return str(detail)


class Client:
    def __init__(self, url: str, token: str | None = None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.token = token if token is not None else os.environ.get("NAS_API_TOKEN") or None
        self.timeout = timeout

    # ---- transport -----------------------------------------------------------------------

    def _request(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Any:
        q = {k: v for k, v in (query or {}).items() if v is not None}
        url = self.url + path + (f"?{urllib.parse.urlencode(q)}" if q else "")
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                raw = r.read()
                ctype = r.headers.get("content-type", "")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                detail = json.loads(raw).get("detail", raw.decode(errors="replace"))
            except (ValueError, AttributeError):
                detail = raw.decode(errors="replace")[:500]
            raise ClientError(e.code, detail, url) from None
        except (urllib.error.URLError, OSError) as e:
            raise ClientError(0, f"cannot reach the server: {getattr(e, 'reason', e)}", url) from None
        return json.loads(raw) if "json" in ctype else raw.decode()

    @staticmethod
    def _path(name: str) -> str:
        return "/studies/" + urllib.parse.quote(name, safe="")

    # ---- the API -------------------------------------------------------------------------

    def submit(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Create a study from ``spec`` and start it on the server; returns its status."""
        return self._request("POST", "/studies", spec)

    def studies(self) -> list[dict[str, Any]]:
        return self._request("GET", "/studies")

    def study(self, name: str) -> dict[str, Any]:
        return self._request("GET", self._path(name))

    def trials_page(
        self, name: str, state: str | None = None, offset: int = 0, limit: int = 1000, order: str = "asc"
    ) -> dict[str, Any]:
        query = {"state": state.lower() if state else None, "offset": offset, "limit": limit, "order": order}
        return self._request("GET", self._path(name) + "/trials", query=query)

    def trials(self, name: str, state: str | None = None, page_size: int = 5000) -> list[dict[str, Any]]:
        """Every trial (optionally in one state), by number, read a page at a time."""
        out: list[dict[str, Any]] = []
        while True:
            page = self.trials_page(name, state, offset=len(out), limit=page_size)
            out += page["trials"]
            if not page["trials"] or len(out) >= page["total"]:
                return out

    def pareto(self, name: str) -> list[dict[str, Any]]:
        return self._request("GET", self._path(name) + "/pareto")

    def pareto_csv(self, name: str) -> str:
        return self._request("GET", self._path(name) + "/pareto", query={"format": "csv"})

    def hypervolume(self, name: str) -> dict[str, Any]:
        return self._request("GET", self._path(name) + "/hypervolume")

    def resume(self, name: str) -> dict[str, Any]:
        return self._request("POST", self._path(name) + "/resume")

    def stop(self, name: str) -> dict[str, Any]:
        return self._request("POST", self._path(name) + "/stop")

    def wait(
        self,
        name: str,
        timeout: float | None = None,
        poll_s: float = 1.0,
        on_update: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll until the study is no longer running; returns its last status."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.study(name)
            if on_update is not None:
                on_update(status)
            if status["state"] in FINAL_STATES:
                return status
            if end is not None and time.monotonic() > end:
                raise TimeoutError(f"study {name!r} still {status['state']} after {timeout:g} s")
            time.sleep(poll_s)


__all__ = ["Client", "ClientError"]
