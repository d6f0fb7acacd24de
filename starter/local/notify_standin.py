"""A local stand-in for GOV.UK Notify's API (v2), for `earlyhelp up` and the tests.

It answers the calls `notifications-python-client` makes: POST
/v2/notifications/email and /v2/notifications/letter, GET /v2/notifications/{id} and GET
/v2/notifications (the latest, a page at a time, or by ?reference=). It checks the API key's token as Notify does
(a JWT, HS256, signed with the key's secret, issued by the service id, within
30 seconds) and keeps what was "sent" in a JSON-lines file. Addresses choose
what goes wrong, so tests can drive every path:

- `...+flaky@...`: the first send answers 500, later ones succeed;
- `...+busy@...`: the first send answers 429 (rate limited);
- `...+down@...`: every send answers 500 (Notify down for as long as the test likes);
- `...+fail@...`: accepted, then `permanent-failure`;
- `...+bounce@...`: accepted, then `temporary-failure`;
- anything else: `sending`, then `delivered` when next read.

A letter needs three to seven address lines, the last a UK postcode (else 400 ValidationError, as Notify
answers); it is `accepted`, then `received` (by the printer) when next read.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web

TOKEN_LEEWAY = 30  # seconds either side, as Notify allows
PAGE = 250  # messages a page of GET /v2/notifications, as Notify pages them
POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}$")


class Standin:
    def __init__(self, service_id: str, secret: str, outbox: Path) -> None:
        self.service_id, self.secret, self.outbox = service_id, secret, outbox
        self.sent: dict[str, dict[str, Any]] = {}
        self.refused_once: set[str] = set()
        self.looked_up: list[str] = []  # the references asked for (a sender checking it has not sent one already)
        self.listed = 0  # pages of the latest messages read (statuses followed in bulk)
        self.read_by_id: list[str] = []  # the messages whose status was read one at a time
        if outbox.exists():
            for line in outbox.read_text().splitlines():
                item = json.loads(line)
                self.sent[item["id"]] = item

    def authorised(self, request: web.Request) -> None:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        try:
            claims = jwt.decode(token, self.secret, algorithms=["HS256"], options={"verify_iat": False})
        except jwt.PyJWTError as e:
            raise _error(403, "AuthError", f"Invalid token: {type(e).__name__}") from None
        if claims.get("iss") != self.service_id or abs(time.time() - claims.get("iat", 0)) > TOKEN_LEEWAY:
            raise _error(403, "AuthError", "Invalid token: service id or time of issue")

    async def send_email(self, request: web.Request) -> web.Response:
        self.authorised(request)
        body = await request.json()
        address = str(body.get("email_address", ""))
        for marker, status, kind in (("+flaky@", 500, "Exception"), ("+busy@", 429, "RateLimitError")):
            if marker in address and address not in self.refused_once:
                self.refused_once.add(address)
                raise _error(status, kind, "try again later")
        if "+down@" in address:
            raise _error(500, "Exception", "try again later")
        if "@" not in address or not body.get("template_id"):
            raise _error(400, "BadRequestError", "email_address and template_id are required")
        item = {
            "id": str(uuid.uuid4()),
            "reference": body.get("reference"),
            "email_address": address,
            "template_id": body["template_id"],
            "personalisation": body.get("personalisation") or {},
            "status": "sending",
            "created_at": time.time(),
            "type": "email",
        }
        self._keep(item)
        return web.json_response(
            {
                "id": item["id"],
                "reference": item["reference"],
                "content": {"subject": item["personalisation"].get("subject", "")},
                "template": {"id": item["template_id"]},
            },
            status=201,
        )

    def _keep(self, item: dict[str, Any]) -> None:
        """What was sent, in memory and in the JSON-lines file (which a restart reads back)."""
        self.sent[item["id"]] = item
        with self.outbox.open("a") as f:
            f.write(json.dumps(item) + "\n")

    async def send_letter(self, request: web.Request) -> web.Response:
        self.authorised(request)
        body = await request.json()
        personalisation = body.get("personalisation") or {}
        lines = [str(personalisation.get(f"address_line_{n}") or "").strip() for n in range(1, 8)]
        lines = [line for line in lines if line]
        if not body.get("template_id") or not 3 <= len(lines) <= 7:
            raise _error(400, "ValidationError", "template_id, and 3 to 7 address lines, are required")
        if not POSTCODE.match(lines[-1].upper()):
            raise _error(400, "ValidationError", "Last line of address must be a real UK postcode")
        item = {
            "id": str(uuid.uuid4()),
            "reference": body.get("reference"),
            "email_address": "",
            "address": lines,
            "template_id": body["template_id"],
            "personalisation": personalisation,
            "status": "accepted",
            "created_at": time.time(),
            "type": "letter",
        }
        self._keep(item)
        return web.json_response({"id": item["id"], "reference": item["reference"], "postage": "second"}, status=201)

    def _advanced(self, item: dict[str, Any]) -> dict[str, Any]:
        """Each read moves a sending email on to its final status (a letter: received by the printer)."""
        if item["status"] == "accepted":
            item["status"] = "received"
        if item["status"] == "sending":
            address = item["email_address"]
            item["status"] = (
                "permanent-failure"
                if "+fail@" in address
                else "temporary-failure"
                if "+bounce@" in address
                else "delivered"
            )
        return item

    async def get_one(self, request: web.Request) -> web.Response:
        self.authorised(request)
        item = self.sent.get(request.match_info["id"])
        self.read_by_id.append(request.match_info["id"])
        if item is None:
            raise _error(404, "NoResultFound", "No result found")
        return web.json_response(self._advanced(item))

    async def get_all(self, request: web.Request) -> web.Response:
        """As Notify lists them: newest first, PAGE a page, `older_than` a notification's id for the next page
        (`links.next`), `reference` to find one's sends; a listed message counts as read (it moves on)."""
        self.authorised(request)
        reference, older_than = request.query.get("reference"), request.query.get("older_than")
        if reference is not None:
            self.looked_up.append(reference)
        else:
            self.listed += 1
        newest_first = sorted(self.sent.values(), key=lambda i: -i["created_at"])
        if older_than is not None:
            after = [n for n, i in enumerate(newest_first) if i["id"] == older_than]
            newest_first = newest_first[after[0] + 1 :] if after else []
        found = [self._advanced(i) for i in newest_first if reference is None or i["reference"] == reference][:PAGE]
        links = {"current": str(request.url)}
        if len(found) == PAGE:
            links["next"] = str(request.url.update_query(older_than=found[-1]["id"]))
        return web.json_response({"notifications": found, "links": links})

    async def page(self, request: web.Request) -> web.Response:
        """What was sent, newest first (no token: a local page for the demo)."""
        rows = "".join(
            f"<tr><td>{i['email_address'] or ', '.join(i.get('address', []))}</td><td>{i['personalisation'].get('subject', '')}</td>"
            f"<td>{i['status']}</td><td>{i['reference']}</td></tr>"
            for i in sorted(self.sent.values(), key=lambda i: -i["created_at"])
        )
        return web.Response(
            content_type="text/html",
            text=f"<h1>Sent by the local Notify stand-in</h1><table>"
            f"<tr><th>to</th><th>subject</th><th>status</th><th>reference</th></tr>{rows}</table>",
        )


class NotifyError(Exception):
    """An error as Notify answers it: a status, and {"errors": [{"error", "message"}]}."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind = status, kind


def _error(status: int, kind: str, message: str) -> NotifyError:
    return NotifyError(status, kind, message)


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except NotifyError as e:
        return web.json_response(
            {"status_code": e.status, "errors": [{"error": e.kind, "message": str(e)}]}, status=e.status
        )


def build_app(standin: Standin) -> web.Application:
    app = web.Application(middlewares=[_errors])
    app.router.add_post("/v2/notifications/email", standin.send_email)
    app.router.add_post("/v2/notifications/letter", standin.send_letter)
    app.router.add_get("/v2/notifications/{id}", standin.get_one)
    app.router.add_get("/v2/notifications", standin.get_all)
    app.router.add_get("/", standin.page)
    return app


def api_key(service_id: str, secret: str, name: str = "earlyhelp") -> str:
    """A key in Notify's format: `{name}-{service id}-{secret}`."""
    return f"{name}-{service_id}-{secret}"


def main() -> None:
    """`python -m starter.local.notify_standin --port P --outbox FILE --service-id S --secret K` (for `up`)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--outbox", type=Path, required=True)
    parser.add_argument("--service-id", required=True)
    parser.add_argument("--secret", required=True)
    args = parser.parse_args()
    web.run_app(
        build_app(Standin(args.service_id, args.secret, args.outbox)), host="127.0.0.1", port=args.port, print=None
    )


if __name__ == "__main__":
    main()
