// A band's last known position on a map: the marker, its accuracy circle and a caption with the
// coordinates ± accuracy, the position's age ("3 min temu") and a link to OpenStreetMap.
// Leaflet is vendored (static/vendor/leaflet/); only the tiles come from outside, from the URL the
// centre configured ([console] map_tiles_url, in <meta name="opaska-map-tiles">). Without tiles
// (none configured, offline, or failing) the marker, the circle and the coordinates still show.
"use strict";
const OpaskaMap = (() => {
  const ZOOM = 16;
  const MAX_FIT_ZOOM = 17;
  const AGE_REFRESH_MS = 30_000;
  const SOURCES = { gps: "GPS", wifi: "Wi-Fi", cell: "sieć komórkowa", lbs: "sieć komórkowa" };

  function meta(name) {
    const node = document.querySelector(`meta[name="${name}"]`);
    return node ? node.content.trim() : "";
  }

  // Leaflet puts attributions in as HTML: the configured text goes in escaped.
  function escaped(text) {
    return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }

  // "przed chwilą", "3 min temu", "2 godz. 5 min temu", "3 dni temu"; "" for an unreadable time.
  function ago(iso, now = Date.now()) {
    const at = new Date(iso).getTime();
    if (!iso || Number.isNaN(at)) return "";
    const minutes = Math.floor(Math.max(0, now - at) / 60_000);
    if (minutes < 1) return "przed chwilą";
    if (minutes < 60) return `${minutes} min temu`;
    const hours = Math.floor(minutes / 60);
    if (hours < 24) return minutes % 60 ? `${hours} godz. ${minutes % 60} min temu` : `${hours} godz. temu`;
    const days = Math.floor(hours / 24);
    return days === 1 ? "1 dzień temu" : `${days} dni temu`;
  }

  function coordinates(location) {
    const accuracy = location.accuracy_m ? ` ±${Math.round(location.accuracy_m)} m` : "";
    return `${location.lat.toFixed(5)}, ${location.lon.toFixed(5)}${accuracy}`;
  }

  function caption(state) {
    const { el, dateTime } = Opaska;
    const location = state.location;
    const age = ago(location.at);
    const source = location.source ? SOURCES[location.source] || location.source : "";
    return el("p", { className: "map-caption" },
      el("span", { className: "map-coords" }, coordinates(location)),
      age ? el("span", { className: "map-age", title: dateTime(location.at) }, ` · ${age}`) : null,
      source ? el("span", { className: "map-source" }, ` · ${source}`) : null,
      " · ",
      el("a", { href: location.map_url, target: "_blank", rel: "noopener noreferrer" }, "OpenStreetMap"),
      state.tilesFailed ? el("span", { className: "map-note" }, " · podkład mapy niedostępny") : null);
  }

  function refreshCaption(state) {
    const old = state.container.querySelector(".map-caption");
    if (old) old.replaceWith(caption(state));
  }

  function same(a, b) {
    return a && b && a.lat === b.lat && a.lon === b.lon && a.accuracy_m === b.accuracy_m;
  }

  function sameZone(a, b) {
    return (!a && !b) || (a && b && a.lat === b.lat && a.lon === b.lon && a.radius_m === b.radius_m);
  }

  function clear(container) {
    const state = container.opaskaMap;
    if (!state) return;
    clearInterval(state.timer);
    if (state.map) state.map.remove();
    container.opaskaMap = null;
  }

  function draw(container, location, zone) {
    const state = { container, location, zone, map: null, marker: null, circle: null, zoneCircle: null, tilesFailed: false, timer: null };
    const canvas = Opaska.el("div", { className: "map-canvas" });
    container.replaceChildren(canvas, caption(state));
    container.classList.remove("map-none");
    if (typeof L === "undefined") {
      // The library did not load: the coordinates and the link are still there.
      canvas.hidden = true;
      return state;
    }
    const map = L.map(canvas, { scrollWheelZoom: false, zoomControl: true, attributionControl: true });
    map.attributionControl.setPrefix("Leaflet");
    const tiles = meta("opaska-map-tiles");
    if (tiles) {
      const layer = L.tileLayer(tiles, { maxZoom: 19, attribution: escaped(meta("opaska-map-attribution")) });
      layer.on("tileerror", () => {
        if (state.tilesFailed) return;
        state.tilesFailed = true;
        canvas.classList.add("no-tiles");
        refreshCaption(state);
      });
      layer.addTo(map);
    } else {
      canvas.classList.add("no-tiles");
    }
    state.map = map;
    state.marker = L.marker([location.lat, location.lon], { title: "Ostatnie położenie opaski", alt: "Położenie opaski", keyboard: false }).addTo(map);
    state.circle = L.circle([location.lat, location.lon], { radius: location.accuracy_m || 0, className: "map-accuracy", weight: 1 }).addTo(map);
    state.circle.setStyle({ opacity: location.accuracy_m ? 1 : 0, fillOpacity: location.accuracy_m ? 0.15 : 0 });
    drawZone(state);
    place(state);
    return state;
  }

  // The resident's safe zone: a dashed circle around home, drawn under the band's marker.
  function drawZone(state) {
    if (state.zoneCircle) { state.zoneCircle.remove(); state.zoneCircle = null; }
    const zone = state.zone;
    if (!zone || !state.map) return;
    state.zoneCircle = L.circle([zone.lat, zone.lon], { radius: zone.radius_m, className: "map-zone", weight: 2, dashArray: "6 6", fillOpacity: 0.05 }).addTo(state.map);
    state.zoneCircle.bindTooltip(`Strefa bezpieczna: ${zone.radius_m} m od domu`);
  }

  function place(state) {
    const { map, location } = state;
    map.invalidateSize();
    if (state.zoneCircle && state.zone) {
      // Home's circle and the band both in view: how far out the resident is, at a glance.
      // From the coordinates, not the circle's getBounds(): that needs a map already in view.
      const zone = state.zone;
      const bounds = L.latLng(zone.lat, zone.lon).toBounds(zone.radius_m * 2)
        .extend(L.latLng(location.lat, location.lon).toBounds((location.accuracy_m || 10) * 2));
      map.fitBounds(bounds, { maxZoom: MAX_FIT_ZOOM, padding: [12, 12] });
    } else if (location.accuracy_m) {
      map.fitBounds(L.latLng(location.lat, location.lon).toBounds(location.accuracy_m * 2.5), { maxZoom: MAX_FIT_ZOOM });
    } else {
      map.setView([location.lat, location.lon], ZOOM);
    }
  }

  function move(state, location, zone) {
    state.location = location;
    state.zone = zone;
    if (state.map) {
      drawZone(state);
      state.marker.setLatLng([location.lat, location.lon]);
      state.circle.setLatLng([location.lat, location.lon]);
      state.circle.setRadius(location.accuracy_m || 0);
      state.circle.setStyle({ opacity: location.accuracy_m ? 1 : 0, fillOpacity: location.accuracy_m ? 0.15 : 0 });
      place(state);
    }
  }

  // show(container or its id, {lat, lon, accuracy_m, at, source, map_url} or null). Called again
  // with new data (a page reloads its detail on every live event), it moves the marker rather than
  // drawing the map anew, so the operator's zoom is kept while the position stays the same.
  // `zone` ({lat, lon, radius_m} or null): the resident's safe zone, drawn around home.
  function show(container, location, zone = null) {
    const node = typeof container === "string" ? document.getElementById(container) : container;
    if (!node) return;
    if (!location) {
      clear(node);
      node.classList.add("map-none");
      node.replaceChildren(Opaska.el("p", { className: "muted" }, "brak położenia"));
      return;
    }
    let state = node.opaskaMap;
    if (state && same(state.location, location) && sameZone(state.zone, zone)) {
      state.location = location;
    } else if (state) {
      move(state, location, zone);
    } else {
      state = draw(node, location, zone);
      node.opaskaMap = state;
    }
    refreshCaption(state);
    clearInterval(state.timer);
    state.timer = setInterval(() => refreshCaption(state), AGE_REFRESH_MS);
  }

  // Metres between two {lat, lon} (haversine, as the server's zone rule measures).
  function distance(a, b) {
    const rad = Math.PI / 180;
    const dLat = (b.lat - a.lat) * rad, dLon = (b.lon - a.lon) * rad;
    const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
    return 2 * 6371008.8 * Math.asin(Math.min(1, Math.sqrt(h)));
  }

  return { show, ago, distance };
})();
