"""The SMS side of the fake: a message created from a Messages.json form, its status changes and the replies of
relatives, each POSTed signed to opaska."""

from __future__ import annotations

from simulator.fake_twilio.errors import TwilioError
from simulator.fake_twilio.records import (
    API_VERSION,
    MESSAGE_STATUSES,
    CallbackResult,
    FakeMessage,
    form_value,
    is_e164,
    is_sender,
    move_to,
    new_sid,
)
from simulator.fake_twilio.webhooks import EventSource, is_http_url


class Messaging(EventSource):
    """Outbound messages, their status callbacks, and relatives' replies."""

    def create(self, form: dict[str, list[str]]) -> FakeMessage:
        """A new outbound message from the form of a POST to Messages.json, validated as Twilio does."""
        to, from_, service, body, callback = (
            form_value(form, name) for name in ("To", "From", "MessagingServiceSid", "Body", "StatusCallback")
        )
        if not to:
            raise TwilioError(400, 21604, "A 'To' phone number is required.")
        if not is_e164(to):
            raise TwilioError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not from_ and not service:
            raise TwilioError(400, 21603, "A 'From' phone number is required.")
        if from_ and not is_sender(from_):
            raise TwilioError(400, 21212, f"Invalid From Number (caller ID): {from_}")
        if from_ and self._config.numbers is not None and from_ not in self._config.numbers:
            raise TwilioError(
                400,
                21606,
                f"The 'From' phone number provided ({from_}) is not a valid  message-capable Twilio phone number",
            )
        if service and not (service.startswith("MG") and len(service) == 34):
            raise TwilioError(400, 21701, f"The Messaging Service Sid {service} is invalid.")
        if not body and "MediaUrl" not in form:
            raise TwilioError(400, 21602, "Message body is required.")
        if len(body) > 1600:
            raise TwilioError(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        if callback and not is_http_url(callback):
            raise TwilioError(400, 21609, f"Invalid StatusCallback url: {callback}")
        status = "accepted" if service and not from_ else "queued"
        message = FakeMessage(
            sid=new_sid("SM"),
            account_sid=self._config.account_sid,
            to=to,
            from_=from_ or None,
            body=body,
            status=status,
            date_created=self._config.now(),
            messaging_service_sid=service or None,
            status_callback=callback or None,
            form=form,
            statuses=[status],
        )
        self._store.messages.append(message)
        return message

    async def message_status(
        self,
        sid: str,
        status: str,
        *,
        error_code: int | None = None,
        sign_with: str | None = None,
        signed: bool = True,
    ) -> CallbackResult | None:
        """Move a message to `status` and POST its StatusCallback (if it has one)."""
        if status not in MESSAGE_STATUSES:
            raise ValueError(f"unknown message status {status!r}")
        message = self._store.message(sid)
        moment = self._config.now()
        move_to(message, status, moment)
        if status == "sent" and message.date_sent is None:
            message.date_sent = moment
        if status in {"failed", "undelivered"}:
            message.error_code = error_code or 30003
        self._store.touch()
        if not message.status_callback:
            return None
        params = {
            "AccountSid": message.account_sid,
            "ApiVersion": API_VERSION,
            "From": message.from_ or "",
            "MessageSid": message.sid,
            "MessageStatus": status,
            "SmsSid": message.sid,
            "SmsStatus": status,
            "To": message.to,
        }
        if message.messaging_service_sid:
            params["MessagingServiceSid"] = message.messaging_service_sid
        if message.error_code is not None:
            params["ErrorCode"] = str(message.error_code)
        return await self._webhooks.post_signed(message.status_callback, params, sign_with=sign_with, signed=signed)

    async def reply_sms(
        self,
        *,
        from_: str,
        body: str,
        to: str | None = None,
        url: str | None = None,
        sign_with: str | None = None,
        signed: bool = True,
    ) -> CallbackResult:
        """A relative's SMS: recorded as an inbound message (Twilio lists those too) and POSTed to the inbound-SMS
        webhook. `to` defaults to the number that last texted `from_`, else the fake's `phone_number`."""
        target = url or self._config.inbound_sms_url
        if target is None:
            raise ValueError("no inbound_sms_url configured and no url given")
        if to is None:
            last = next((m for m in reversed(self._store.sent_to(from_)) if m.from_), None)
            to = last.from_ if last is not None and last.from_ else self._config.phone_number
        moment = self._config.now()
        message = FakeMessage(
            sid=new_sid("SM"),
            account_sid=self._config.account_sid,
            to=to,
            from_=from_,
            body=body,
            status="received",
            date_created=moment,
            date_sent=moment,
            direction="inbound",
            statuses=["received"],
        )
        self._store.messages.append(message)
        self._store.touch()
        params = {
            "AccountSid": self._config.account_sid,
            "ApiVersion": API_VERSION,
            "Body": body,
            "From": from_,
            "MessageSid": message.sid,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsMessageSid": message.sid,
            "SmsSid": message.sid,
            "SmsStatus": "received",
            "To": to,
        }
        return await self._webhooks.post_signed(target, params, sign_with=sign_with, signed=signed)
