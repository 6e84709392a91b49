"""The dashboard served at ``/``: one static page, live over the service's own ``/stream``.

Kept as a Python string so it ships inside the package without package-data rules. The page
subscribes to market data for the conids in its ``?conids=`` query (default: a few simulator
instruments), orders and P&L, and polls the positions (GraphQL ``positions``, kept current by the
service on fills and reconnects) every few seconds and after each fill; a ``?token=`` query is
passed on to the WebSocket (browsers cannot set an ``Authorization`` header on WebSockets),
and sent as a bearer token to ``/graphql``. It shows a banner whenever its own socket or the
upstream session is down, and reconnects with backoff.

A small trading screen: a symbol box adds an instrument by name (resolved by
``/api/symbols``, :mod:`ibstream.service.symbols`; a number is taken as a conid) and keeps it in
the URL; each ticker shows bid/ask with their sizes and a live chart of its last 120 prices.
Prices are shown with the decimals of the instrument's price increment (its minimum tick, from
the contract rules through ``/api/increments``, :mod:`ibstream.service.symbols`: ``0.00005`` ->
``1.08615`` for EUR.USD, ``0.01`` -> ``271.50`` for a stock; per price level when the increment
depends on the price). Until the increment is known, or when the gateway has none, the page
infers the decimals from the prices seen (the most seen, at least 2); the live view never waits
for it. Each ticker row says which in ``data-dec-source`` (``increment`` or ``inferred``) and
``data-decimals``. A banner shows whenever
the page's own socket (``data-state=disconnected``, with the attempt and the next try) or the
upstream session is down; the page reconnects with backoff, subscribes again and counts the
recoveries in ``body[data-reconnects]``.
"""

from __future__ import annotations

from aiohttp import web

__all__ = ["DASHBOARD_HTML", "dashboard"]

DASHBOARD_HTML = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ibstream dashboard</title>
<style>
  :root { --bg:#0f1419; --panel:#171d24; --line:#26303b; --text:#d8dee6; --dim:#7d8896;
          --up:#3fb950; --down:#f85149; --warn:#d29922; --accent:#58a6ff; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif;
         background:var(--bg); color:var(--text); }
  header { display:flex; align-items:center; gap:16px; padding:12px 20px;
           border-bottom:1px solid var(--line); background:var(--panel); }
  header h1 { font-size:16px; margin:0; font-weight:600; letter-spacing:.3px; }
  .badge { padding:3px 10px; border-radius:12px; font-size:12px; font-weight:600;
           border:1px solid var(--line); }
  .ok { color:var(--up); border-color:var(--up); }
  .bad { color:var(--down); border-color:var(--down); }
  .warn { color:var(--warn); border-color:var(--warn); }
  #banner { display:none; padding:10px 20px; background:#3d1d1d; color:#ffb4ad;
            border-bottom:1px solid var(--down); font-weight:600; }
  #banner.show { display:block; }
  main { display:grid; grid-template-columns: minmax(0, 3fr) minmax(240px, 1fr); gap:16px;
         padding:16px 20px; }
  section { background:var(--panel); border:1px solid var(--line); border-radius:8px;
            overflow:hidden; }
  section h2 { margin:0; padding:10px 14px; font-size:13px; text-transform:uppercase;
               letter-spacing:.6px; color:var(--dim); border-bottom:1px solid var(--line); }
  table { width:100%; border-collapse:collapse; font-variant-numeric: tabular-nums; }
  th, td { padding:6px 9px; text-align:right; border-bottom:1px solid var(--line); }
  th { color:var(--dim); font-weight:500; font-size:12px; }
  td:first-child, th:first-child { text-align:left; }
  tr.stale td { color:var(--dim); }
  .up { color:var(--up); } .down { color:var(--down); }
  .flash { animation: flash .6s ease-out; }
  @keyframes flash { from { background:#24405f; } to { background:transparent; } }
  .kv { display:grid; grid-template-columns: 1fr auto; gap:6px 12px; padding:12px 14px; }
  .kv div:nth-child(odd) { color:var(--dim); }
  #log { font:12px ui-monospace, monospace; padding:8px 14px; max-height:180px; overflow:auto;
         color:var(--dim); }
  .full { grid-column: 1 / -1; }
  .empty { padding:12px 14px; color:var(--dim); }
  .bar { display:flex; align-items:center; gap:8px; padding:8px 14px;
         border-bottom:1px solid var(--line); }
  .bar input { flex:0 1 260px; background:var(--bg); color:var(--text); padding:5px 8px;
               border:1px solid var(--line); border-radius:6px; font:inherit; }
  .bar button, #symres button { background:#1f2a36; color:var(--text); border:1px solid var(--line);
               border-radius:6px; padding:5px 10px; cursor:pointer; font:inherit; }
  #symres { display:flex; flex-wrap:wrap; gap:6px; color:var(--dim); font-size:12px; }
  td.bsz, td.asz { color:var(--dim); font-size:12px; }
  td.chart { width:104px; padding:2px 6px; }
  .scroll { overflow-x:auto; }
  svg.spark { width:100px; height:26px; display:block; }
  svg.spark polyline { fill:none; stroke:var(--accent); stroke-width:1.4; }
</style>
</head>
<body>
<header>
  <h1>ibstream</h1>
  <span id="svc" class="badge warn">service: connecting</span>
  <span id="up" class="badge warn">upstream: unknown</span>
  <span id="acct" class="badge">account: -</span>
</header>
<div id="banner" role="alert"></div>
<main>
  <section>
    <h2>Tickers</h2>
    <form id="addsym" class="bar" autocomplete="off">
      <input id="symbol" name="symbol" placeholder="Add symbol (EUR) or conid"
             aria-label="symbol">
      <button type="submit">Add</button><div id="symres" aria-live="polite"></div>
    </form>
    <div class="scroll"><table id="tickers"><thead><tr><th>Symbol</th><th>Conid</th>
      <th>Last</th><th>Change</th><th>%</th><th>Bid size</th><th>Bid</th><th>Ask</th>
      <th>Ask size</th><th>Volume</th>
      <th>Chart</th><th>Updates</th></tr></thead><tbody></tbody></table></div>
  </section>
  <section>
    <h2>P&amp;L</h2>
    <div id="pnl" class="kv"><div>no data yet</div><div></div></div>
  </section>
  <section class="full">
    <h2>Orders</h2>
    <table id="orders"><thead><tr><th>Order</th><th>Symbol</th><th>Side</th><th>Type</th>
      <th>Qty</th><th>Filled</th><th>Price</th><th>Status</th></tr></thead><tbody></tbody></table>
    <div id="noorders" class="empty">no orders</div>
  </section>
  <section class="full">
    <h2>Positions</h2>
    <table id="positions"><thead><tr><th>Contract</th><th>Type</th><th>Qty</th><th>Avg</th>
      <th>Price</th><th>Value</th><th>Unrealized</th></tr></thead><tbody></tbody></table>
    <div id="nopositions" class="empty">no positions</div>
  </section>
  <section class="full">
    <h2>Events</h2>
    <div id="log"></div>
  </section>
</main>
<script>
"use strict";
const params = new URLSearchParams(location.search);
const token = params.get("token");
const conids = (params.get("conids") || "265598,272093,76792991,4815747,756733")
  .split(",").map(s => parseInt(s, 10)).filter(n => n > 0);
const FIELDS = ["31", "55", "82", "83", "84", "85", "86", "87", "88", "7059"];
const PRICES = ["31", "84", "86"], HISTORY = 120;
const tickers = new Map(), orders = new Map(), pnl = new Map();
let ws = null, retry = 0, upstream = "UNKNOWN", sockState = "connecting", timer = null;
let nextTry = 0, wasOpen = false, recoveries = 0;

const $ = id => document.getElementById(id);
function fmt(v, d) {
  if (v === undefined || v === null || v === "") return "-";
  if (typeof v === "number") return v.toLocaleString(undefined,
    {minimumFractionDigits: d ?? 2, maximumFractionDigits: d ?? 2});
  return String(v);
}
function decimals(v) {
  if (typeof v !== "number" || !isFinite(v)) return 0;
  const s = String(v);
  if (s.includes("e")) return 8;
  const i = s.indexOf(".");
  return i < 0 ? 0 : Math.min(8, s.length - i - 1);
}
function log(text) {
  const el = $("log"), line = document.createElement("div");
  line.textContent = new Date().toLocaleTimeString() + "  " + text;
  el.prepend(line);
  while (el.childNodes.length > 60) el.removeChild(el.lastChild);
}
function render() {
  const sockOk = sockState === "open", upOk = upstream === "AUTHENTICATED";
  $("svc").textContent = "service: " + (sockOk ? "connected" : sockState);
  $("svc").className = "badge " + (sockOk ? "ok" : "bad");
  $("up").textContent = "upstream: " + upstream;
  $("up").className = "badge " + (upOk ? "ok" : "bad");
  const banner = $("banner");
  if (!sockOk) {
    const wait = Math.max(0, Math.round((nextTry - Date.now()) / 1000));
    banner.textContent = "Disconnected from the service - reconnecting\u2026" +
      (retry ? " (attempt " + retry + ", next try in " + wait + " s)" : "");
    banner.className = "show"; banner.dataset.state = "disconnected";
  } else if (!upOk) {
    banner.textContent = "Upstream session " + upstream + " - reconnecting\u2026 " +
      "(prices are stale)";
    banner.className = "show"; banner.dataset.state = "upstream-down";
  } else { banner.className = ""; banner.dataset.state = "ok"; }
  document.body.dataset.state = banner.dataset.state;
  document.body.dataset.reconnects = recoveries;
  for (const tr of document.querySelectorAll("#tickers tbody tr"))
    tr.classList.toggle("stale", !(sockOk && upOk));
}
function tickerRow(conid) {
  let t = tickers.get(conid);
  if (!t) {
    const tr = document.createElement("tr");
    tr.id = "t-" + conid; tr.dataset.conid = conid;
    tr.innerHTML = "<td class=sym></td><td>" + conid + "</td><td class=last></td>" +
      "<td class=chg></td><td class=pct></td><td class=bsz></td><td class=bid></td>" +
      "<td class=ask></td><td class=asz></td><td class=vol></td><td class=chart>" +
      "<svg class=spark viewBox='0 0 120 26' preserveAspectRatio=none><polyline/></svg>" +
      "</td><td class=n>0</td>";
    $("tickers").tBodies[0].appendChild(tr);
    t = {tr, values: {}, n: 0, dec: 2, hist: [], inc: null};
    tickers.set(conid, t);
  }
  return t;
}
function chart(t) {
  const h = t.hist, line = t.tr.querySelector("polyline");
  if (h.length < 2) return;
  const lo = Math.min(...h), hi = Math.max(...h), span = hi - lo || 1;
  const x = i => (i * 120 / (h.length - 1)).toFixed(1);
  line.setAttribute("points",
    h.map((p, i) => x(i) + "," + (24 - (p - lo) / span * 22).toFixed(1)).join(" "));
}
function priceDecimals(t, price) {
  // the instrument's increment (at this price level) when known, else the decimals seen
  const inc = t.inc;
  if (inc) {
    let d = inc.decimals;
    if (typeof price === "number" && inc.ladder)
      for (const [edge, , rd] of inc.ladder) if (Math.abs(price) >= edge && rd !== null) d = rd;
    if (typeof d === "number") return [d, "increment"];
  }
  return [t.dec, "inferred"];
}
function paint(t) {
  const v = t.values, cells = t.tr.cells;
  const ref = typeof v["31"] === "number" ? v["31"] : v["84"];
  const [d, source] = priceDecimals(t, ref);
  t.tr.dataset.decimals = d; t.tr.dataset.decSource = source;
  const chg = typeof v["82"] === "number" ? v["82"] : null;
  if (v["55"]) cells[0].textContent = v["55"];
  else if (!cells[0].textContent) cells[0].textContent = "?";
  cells[2].textContent = fmt(v["31"], d);
  cells[3].textContent = fmt(chg, d);
  cells[4].textContent = fmt(v["83"]);
  cells[3].className = cells[4].className = chg === null ? "" : (chg >= 0 ? "up" : "down");
  cells[5].textContent = fmt(v["88"], 0); cells[6].textContent = fmt(v["84"], d);
  cells[7].textContent = fmt(v["86"], d); cells[8].textContent = fmt(v["85"], 0);
  cells[9].textContent = fmt(v["87"], 0); cells[11].textContent = t.n;
}
function onMarketData(m) {
  const t = tickerRow(m.conid);
  Object.assign(t.values, m.values);
  t.n += 1;
  for (const f of PRICES) t.dec = Math.max(t.dec, decimals(m.values[f]));
  paint(t);
  const v = t.values, cells = t.tr.cells;
  const mid = typeof v["84"] === "number" && typeof v["86"] === "number"
    ? (v["84"] + v["86"]) / 2 : null;
  const point = typeof m.values["31"] === "number" ? m.values["31"] : mid;
  if (point !== null) {
    t.hist.push(point);
    if (t.hist.length > HISTORY) t.hist.shift();
    t.tr.dataset.points = t.hist.length;
    chart(t);
  }
  if ("31" in m.values) {
    cells[2].classList.remove("flash"); void cells[2].offsetWidth; cells[2].classList.add("flash");
  }
}
async function loadIncrements(ids, attempt) {
  // the price increments of ids (never blocks the view: prices keep inferred decimals meanwhile)
  if (!ids.length) return;
  const headers = token ? {Authorization: "Bearer " + token} : {};
  let body;
  try {
    const r = await fetch(new URL("api/increments?conids=" + ids.join(","), location.href),
                          {headers});
    body = await r.json();
    if (!r.ok) { log("price increments: " + (body.error || "HTTP " + r.status)); return; }
  } catch (e) { body = {increments: {}, pending: ids, unknown: []}; }
  for (const [conid, inc] of Object.entries(body.increments || {})) {
    const t = tickerRow(parseInt(conid, 10));
    t.inc = inc; paint(t);
  }
  // still looking up, or failed (the session may come back): ask again, less and less often
  const again = [...(body.pending || []), ...(body.unknown || [])];
  if (again.length && attempt < 6)
    setTimeout(() => loadIncrements(again, attempt + 1), 1000 * 2 ** attempt);
}
function subscribeMd(ids) {
  if (ws && ws.readyState === WebSocket.OPEN && ids.length)
    ws.send(JSON.stringify({op: "subscribe", id: Date.now(),
      specs: ids.map(conid => ({topic: "md", conid, fields: FIELDS}))}));
}
function addConid(conid, label) {
  const res = $("symres");
  if (conids.includes(conid)) { res.textContent = (label || conid) + " is already shown"; return; }
  conids.push(conid);
  tickerRow(conid).tr.cells[0].textContent = label || "?";
  subscribeMd([conid]);
  loadIncrements([conid], 0);
  params.set("conids", conids.join(","));
  history.replaceState(null, "", "?" + params.toString());
  res.textContent = "added " + (label || conid);
  log("added " + (label || "") + " conid " + conid);
}
async function lookup(text) {
  const res = $("symres");
  if (/^[0-9]+$/.test(text)) { addConid(parseInt(text, 10), null); return; }
  res.textContent = "searching " + text + "\u2026";
  const headers = token ? {Authorization: "Bearer " + token} : {};
  let body;
  try {
    const r = await fetch(new URL("api/symbols?q=" + encodeURIComponent(text), location.href),
                          {headers});
    body = await r.json();
    if (!r.ok) { res.textContent = body.error || ("search failed: HTTP " + r.status); return; }
  } catch (e) { res.textContent = "search failed: " + e; return; }
  const rows = body.results || [];
  if (!rows.length) { res.textContent = "no contract found for " + text; return; }
  const exact = rows.filter(r => r.symbol.toUpperCase() === text.toUpperCase());
  if (exact.length === 1) { addConid(exact[0].conid, exact[0].symbol); return; }
  res.textContent = "";
  for (const r of rows) {
    const b = document.createElement("button");
    b.type = "button"; b.dataset.conid = r.conid;
    b.textContent = r.symbol + " " + (r.sec_type || "") + " " + (r.description || r.name);
    b.onclick = () => addConid(r.conid, r.symbol);
    res.appendChild(b);
  }
}
function onOrder(o) {
  const cur = orders.get(o.order_id) || {};
  Object.assign(cur, o.changes || {});
  cur.status = o.status || cur.status;
  orders.set(o.order_id, cur);
  const body = $("orders").tBodies[0];
  body.innerHTML = "";
  for (const [id, c] of [...orders.entries()].slice(-15).reverse()) {
    const tr = body.insertRow();
    for (const v of [id, c.ticker, c.side, c.orderType, fmt(c.totalSize, 0),
                     fmt(c.filledQuantity, 0), fmt(c.price), c.status])
      tr.insertCell().textContent = v ?? "-";
  }
  $("noorders").style.display = orders.size ? "none" : "block";
}
function onPnl(p) {
  pnl.set(p.row, p);
  const el = $("pnl"); el.innerHTML = "";
  for (const [row, r] of pnl) {
    for (const [label, value] of [[row + " daily", r.daily_pnl], ["unrealized", r.unrealized_pnl],
                                  ["net liquidity", r.net_liquidity],
                                  ["market value", r.market_value]]) {
      const k = document.createElement("div"), v = document.createElement("div");
      k.textContent = label; v.textContent = fmt(value);
      if (label.endsWith("daily") || label === "unrealized")
        v.className = value >= 0 ? "up" : "down";
      el.append(k, v);
    }
  }
}
let posTimer = null;
async function loadPositions() {
  clearTimeout(posTimer);
  try {
    const headers = {"Content-Type": "application/json"};
    if (token) headers["Authorization"] = "Bearer " + token;
    const r = await fetch(new URL("graphql", location.href), {method: "POST", headers,
      body: JSON.stringify({query: "{ positions { conid description secType quantity avgPrice " +
        "marketPrice marketValue unrealizedPnl } }"})});
    const body = await r.json();
    if (body.data && body.data.positions) {
      const rows = body.data.positions, tb = $("positions").tBodies[0];
      tb.innerHTML = "";
      for (const p of rows) {
        const tr = tb.insertRow(); tr.id = "p-" + p.conid;
        for (const v of [p.description || p.conid, p.secType, fmt(p.quantity, 0),
                         fmt(p.avgPrice), fmt(p.marketPrice), fmt(p.marketValue),
                         fmt(p.unrealizedPnl)]) tr.insertCell().textContent = v ?? "-";
        tr.cells[6].className = (p.unrealizedPnl || 0) >= 0 ? "up" : "down";
      }
      $("nopositions").style.display = rows.length ? "none" : "block";
    } else if (body.errors) log("positions: " + body.errors[0].message);
  } catch (e) { /* the service is down: the banner says so; retry on the timer */ }
  posTimer = setTimeout(loadPositions, 5000);
}
function handle(m) {
  switch (m.type) {
    case "MarketData": onMarketData(m); break;
    case "OrderUpdate":
      onOrder(m);
      if (m.status === "Filled" || (m.changes && "filledQuantity" in m.changes))
        setTimeout(loadPositions, 300);
      break;
    case "Pnl": onPnl(m); break;
    case "Status":
      upstream = m.session;
      if (m.accounts && m.accounts.length) $("acct").textContent = "account: " + m.accounts[0];
      render(); break;
    case "SessionStateChanged":
      upstream = m.current; log("upstream " + m.previous + " \u2192 " + m.current +
        (m.reason ? " (" + m.reason + ")" : "")); render(); break;
    case "AccountInfo":
      if (m.accounts && m.accounts.length) $("acct").textContent = "account: " + m.accounts[0];
      break;
    case "Gap": log("gap on " + m.key + ": " + (m.end - m.start).toFixed(2) + " s missed"); break;
    case "Error": case "SlowConsumer": case "Closing":
      log(m.type + ": " + (m.message || m.reason)); break;
    case "Bulletin": case "Notification": log(m.type + ": " + (m.message || m.text)); break;
  }
}
function connect() {
  const url = new URL("stream", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  if (token) url.searchParams.set("token", token);
  sockState = "connecting"; render();
  ws = new WebSocket(url);
  ws.onopen = () => {
    if (wasOpen) { recoveries += 1; log("reconnected to the service after " + retry +
                                        " attempt" + (retry === 1 ? "" : "s")); }
    else log("connected to the service");
    retry = 0; wasOpen = true; sockState = "open"; render();
    ws.send(JSON.stringify({op: "subscribe", id: 1, specs: [
      ...conids.map(conid => ({topic: "md", conid, fields: FIELDS})),
      {topic: "or"}, {topic: "pl"}]}));
    loadPositions();
  };
  ws.onmessage = e => {
    for (const line of String(e.data).split("\n")) if (line) handle(JSON.parse(line));
  };
  ws.onclose = e => {
    sockState = "reconnecting"; render();
    log("service socket closed (" + e.code + (e.reason ? " " + e.reason : "") + ")");
    const delay = Math.min(5000, 250 * 2 ** retry++);
    nextTry = Date.now() + delay;
    clearTimeout(timer); timer = setTimeout(connect, delay);
    render();
  };
  ws.onerror = () => {};
}
$("addsym").addEventListener("submit", e => {
  e.preventDefault();
  const text = $("symbol").value.trim();
  if (text) lookup(text);
});
setInterval(() => { if (sockState !== "open") render(); }, 1000);
render();
loadIncrements(conids.slice(0, 50), 0);
connect();
</script>
</body>
</html>
"""


async def dashboard(request: web.Request) -> web.Response:
    """``GET /``: the dashboard page."""
    return web.Response(
        text=DASHBOARD_HTML,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )
