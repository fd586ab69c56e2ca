// The alarm page's relatives table: each contact in notification order, every SMS and call sent to
// them for this alarm with the status Twilio reports for it (or "not sent" in test mode), their
// answer (TAK/NIE) and its time, and the operator's buttons to send one by hand. Also the alarm
// header's "Jedzie: …" line, from the contacts whose latest answer is TAK.
"use strict";
const AlarmContacts = (() => {
  const { CHANNELS, el } = Opaska;

  // Twilio's own statuses (MessageStatus for SMS, CallStatus for calls), in Polish. The Twilio word
  // is shown beside it, so what the operator reads is what Twilio said.
  const SMS_STATUSES = {
    accepted: "przyjęty przez Twilio", scheduled: "zaplanowany", queued: "w kolejce", sending: "wysyłanie",
    sent: "wysłany", delivered: "doręczony", undelivered: "niedoręczony", failed: "nieudany",
    read: "przeczytany", canceled: "anulowany", partially_delivered: "doręczony częściowo",
  };
  const CALL_STATUSES = {
    queued: "w kolejce", initiated: "wybieranie numeru", ringing: "dzwoni", "in-progress": "odebrane, trwa rozmowa",
    completed: "odebrane, zakończone", busy: "zajęte", "no-answer": "nie odebrał(a)", failed: "nieudane",
    canceled: "anulowane",
  };
  // Before Twilio said anything (or when it never will): our own outbox status.
  const OWN_STATUSES = {
    pending: "czeka na wysłanie", sending: "wysyłanie", sent: "wysłane", delivered: "doręczone",
    failed: "nieudane", no_answer: "nie odebrał(a)", cancelled: "nie wysłano – alarm zamknięty",
  };
  const TEST_MODE = "nie wysłano – tryb próbny";
  const GOOD = new Set(["delivered", "read", "completed", "in-progress"]);
  const BAD = new Set(["undelivered", "failed", "busy", "no-answer", "canceled", "no_answer", "cancelled"]);
  // What a message was, when it was not the alert itself.
  const TEMPLATES = {
    fallback_voice: "zamiast nieudanego SMS", all_clear: "koniec alarmu", reply_thanks: "potwierdzenie odpowiedzi",
    reply_help: "instrukcja odpowiedzi", reply_stopped: "potwierdzenie STOP", reply_started: "potwierdzenie START",
    reply_unknown_number: "numer nieznany",
  };
  const ANSWERS = { going: "TAK — jedzie", cannot: "NIE — nie może" };
  const VIA = { sms: "SMS", voice: "klawisz w rozmowie" };

  function hhmm(iso) {
    return iso ? new Date(iso).toLocaleTimeString("pl-PL", { hour: "2-digit", minute: "2-digit" }) : "–";
  }

  function hhmmss(iso) {
    return iso ? new Date(iso).toLocaleTimeString("pl-PL", { hour: "2-digit", minute: "2-digit", second: "2-digit" }) : "–";
  }

  // {text, twilio, cls}: the status line of one notification.
  function delivery(n) {
    if (n.test_mode) return { text: TEST_MODE, twilio: null, cls: "d-test" };
    if (n.provider_status) {
      const table = n.channel === "voice" ? CALL_STATUSES : SMS_STATUSES;
      const word = n.provider_status;
      return { text: table[word] || word, twilio: word, cls: GOOD.has(word) ? "d-good" : BAD.has(word) ? "d-bad" : "d-wait" };
    }
    const own = n.status;
    return { text: OWN_STATUSES[own] || own, twilio: null, cls: BAD.has(own) ? "d-bad" : "d-wait" };
  }

  function notificationList(list) {
    if (!list.length) return el("span", { className: "muted" }, "nie powiadamiano");
    return el("ul", { className: "notifications" }, ...list.map((n) => {
      const d = delivery(n);
      const what = TEMPLATES[n.template];
      return el("li", { className: `n-${n.status} ${d.cls}`, dataset: { notificationId: n.id, deliveryStatus: n.test_mode ? "test_mode" : n.provider_status || n.status } },
        el("span", { className: "n-channel" }, CHANNELS[n.channel] || n.channel),
        what ? el("span", { className: "muted small" }, ` (${what})`) : null,
        " ", el("time", { dateTime: n.created_at, title: "wysłano do Twilio" }, hhmmss(n.created_at)), ": ",
        el("span", { className: "n-delivery" }, d.text),
        d.twilio ? el("span", { className: "muted small twilio-status", title: "status w Twilio" }, ` · ${d.twilio}`) : null,
        n.provider_status_at && !n.test_mode ? el("span", { className: "muted small" }, ` ${hhmmss(n.provider_status_at)}`) : null,
        n.error && d.cls === "d-bad" ? el("div", { className: "muted small" }, n.error) : null);
    }));
  }

  function answerCell(c) {
    if (!c.answer) return el("span", { className: "muted" }, "brak odpowiedzi");
    return el("span", { className: `answer answer-${c.answer}` },
      el("strong", {}, ANSWERS[c.answer] || c.answer), " ",
      el("time", { dateTime: c.answered_at }, hhmm(c.answered_at)),
      c.answer_via ? el("span", { className: "muted small" }, ` (${VIA[c.answer_via] || c.answer_via})`) : null);
  }

  // "Jedzie: Ewa Kowalska, odp. 18:39" for every contact whose latest answer is TAK, first answer first.
  function renderGoing(contacts) {
    const node = document.getElementById("alarm-going");
    if (!node) return;
    const going = contacts.filter((c) => c.answer === "going")
      .sort((a, b) => new Date(a.answered_at) - new Date(b.answered_at));
    node.textContent = going.length ? `Jedzie: ${going.map((c) => `${c.name}, odp. ${hhmm(c.answered_at)}`).join("; ")}` : "";
    node.hidden = !going.length;
  }

  // canAct: the user handles alarms and this one is open; onNotify(contact, channel) sends by hand.
  function render(detail, { canAct, onNotify }) {
    document.querySelector("#contacts tbody").replaceChildren(...detail.contacts.map((c) => el("tr", { className: c.answer ? `answered-${c.answer}` : "", dataset: { contactId: c.id } },
      el("td", {}, String(c.priority)), el("td", {}, c.name, c.relation ? el("div", { className: "muted small" }, c.relation) : null),
      el("td", {}, c.phone), el("td", {}, c.has_key ? "ma klucz" : "—"), el("td", {}, notificationList(c.notifications)),
      el("td", { className: "contact-answer" }, answerCell(c)),
      el("td", { className: "contact-actions" }, ...(canAct ? [
        el("button", { type: "button", className: "quiet", onclick: () => onNotify(c, "sms") }, "SMS"),
        el("button", { type: "button", className: "quiet", onclick: () => onNotify(c, "voice") }, "Komunikat głosowy"),
        el("button", { type: "button", className: "quiet", title: "SMS z adresem, wejściem i przyciskami Jadę / Jestem na miejscu",
          onclick: () => onNotify(c, "responder_link") }, "Link dla jadącego"),
      ] : [])),
    )));
    const others = detail.other_notifications;
    document.getElementById("other-notifications").replaceChildren(...(others.length
      ? [el("h4", {}, "Inne powiadomienia (koordynator, dyżurni)"), notificationList(others)] : []));
    renderGoing(detail.contacts);
  }

  return { render };
})();
