"""How the fake says no: Twilio's JSON errors, refused webhooks, and answers that never come."""

from __future__ import annotations

from aiohttp import web


class TwilioError(Exception):
    """An error answered in Twilio's JSON shape: `{"code", "message", "more_info", "status"}`."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> web.Response:
        body = {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }
        headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if self.status == 401 else None
        return web.json_response(body, status=self.status, headers=headers)


def not_found(path: str) -> TwilioError:
    return TwilioError(404, 20404, f"The requested resource {path} was not found")


class CallbackRefused(RuntimeError):
    """A webhook would have left this machine; the fake only ever talks to loopback addresses unless allowed."""


class Dropped(Exception):
    """The answer is never sent: the connection is cut."""


def drop(request: web.Request) -> web.Response:
    """Cut the connection of `request`; the response returned is never seen by the client."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    return web.Response(status=500)
