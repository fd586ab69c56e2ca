// Live alarm queue: a snapshot on every (re)connect, then events. Reconnects by itself.
"use strict";
const KIND_LABELS = { sos: "SOS", fall: "Upadek", band_offline: "Opaska offline", battery_low: "Słaba bateria", not_worn: "Opaska zdjęta" };
const STATUS_LABELS = { raised: "nowy", claimed: "przyjęty" };
const alarms = new Map();

function render() {
  const body = document.querySelector("#queue tbody");
  const rows = [...alarms.values()].filter(a => a.status === "raised" || a.status === "claimed")
    .sort((a, b) => a.priority - b.priority || a.raised_at.localeCompare(b.raised_at));
  body.replaceChildren(...rows.map(alarm => {
    const tr = document.createElement("tr");
    tr.dataset.alarmId = alarm.id;
    tr.className = alarm.priority <= 1 ? "life" : "technical";
    const resident = alarm.resident ? `${alarm.resident.first_name} ${alarm.resident.last_name}` : `opaska ${alarm.band_serial}`;
    const cells = [KIND_LABELS[alarm.kind] || alarm.kind, resident, alarm.resident ? alarm.resident.address : "",
      alarm.municipality || "", new Date(alarm.raised_at).toLocaleTimeString("pl-PL"), String(alarm.repeat_count),
      STATUS_LABELS[alarm.status] || alarm.status];
    for (const text of cells) { const td = document.createElement("td"); td.textContent = text; tr.appendChild(td); }
    return tr;
  }));
  document.getElementById("empty").hidden = rows.length > 0;
  document.title = rows.length ? `(${rows.length}) opaska` : "opaska";
}

function setConnection(state, text) {
  const el = document.getElementById("connection");
  el.className = `connection ${state}`;
  el.textContent = text;
}

let retryMs = 500;
function connect() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/live`);
  ws.onmessage = (msg) => {
    const data = JSON.parse(msg.data);
    if (data.type === "snapshot") {
      alarms.clear();
      for (const alarm of data.alarms) alarms.set(alarm.id, alarm);
      setConnection("live", "na żywo");
      retryMs = 500;
    } else if (data.type === "alarm_event" && data.alarm) {
      alarms.set(data.alarm.id, data.alarm);
    }
    render();
  };
  ws.onclose = () => {
    setConnection("lost", "brak połączenia — ponawiam");
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 10000);
  };
}
connect();
