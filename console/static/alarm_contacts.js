// The alarm page's relatives table: each contact in notification order, every SMS and call sent to
// them for this alarm, and the operator's buttons to send one by hand.
"use strict";
const AlarmContacts = (() => {
  const { NOTIFICATION_STATUSES, CHANNELS, el, clock } = Opaska;

  function notificationList(list) {
    if (!list.length) return el("span", { className: "muted" }, "—");
    return el("ul", { className: "notifications" }, ...list.map((n) => el("li", { className: `n-${n.status}` },
      `${CHANNELS[n.channel] || n.channel} ${clock(n.created_at)}: ${NOTIFICATION_STATUSES[n.status] || n.status}`,
      n.error ? el("span", { className: "muted small" }, ` (${n.error})`) : null)));
  }

  // canAct: the user handles alarms and this one is open; onNotify(contact, channel) sends by hand.
  function render(detail, { canAct, onNotify }) {
    document.querySelector("#contacts tbody").replaceChildren(...detail.contacts.map((c) => el("tr", { dataset: { contactId: c.id } },
      el("td", {}, String(c.priority)), el("td", {}, c.name, c.relation ? el("div", { className: "muted small" }, c.relation) : null),
      el("td", {}, c.phone), el("td", {}, c.has_key ? "ma klucz" : "—"), el("td", {}, notificationList(c.notifications)),
      el("td", { className: "contact-actions" }, ...(canAct ? [
        el("button", { type: "button", className: "quiet", onclick: () => onNotify(c, "sms") }, "SMS"),
        el("button", { type: "button", className: "quiet", onclick: () => onNotify(c, "voice") }, "Zadzwoń"),
      ] : [])),
    )));
    const others = detail.other_notifications;
    document.getElementById("other-notifications").replaceChildren(...(others.length
      ? [el("h4", {}, "Inne powiadomienia (koordynator, dyżurni)"), notificationList(others)] : []));
  }

  return { render };
})();
