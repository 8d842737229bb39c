// The gapless dashboard: polls /ui/api/... and redraws in place with Plotly.react.
// Every name from the server is put into the page as text (textContent), never as HTML.
"use strict";

(() => {
  const KEY = "gapless.apiKey";
  const body = document.body;
  const pageKind = body.dataset.page;
  const endpoint = body.dataset.endpoint;
  const refreshMs = Number(body.dataset.refreshMs) || 5000;
  const count = Number(body.dataset.count) || 48;
  const authRequired = body.dataset.auth === "required";
  const $ = (id) => document.getElementById(id);
  const windowSelect = $("window");
  const PLOT_CONFIG = { displaylogo: false, displayModeBar: false, responsive: true };
  const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                  "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  let timer = null;
  let busy = false;

  // -- small DOM helpers ---------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "text") node.textContent = value;
      else node.setAttribute(name, value);
    }
    for (const child of children) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  const fmt = (v, digits = 3) =>
    v === null || v === undefined ? "-" :
    typeof v === "number" ? (Number.isInteger(v) ? v.toLocaleString() : v.toPrecision(digits))
    : String(v);
  const pct = (v) => (v === null || v === undefined ? "-" : (100 * v).toFixed(1) + "%");
  // Plotly reads a date string as wall-clock time: give it the browser's local time, as
  // the tables show.
  const pad = (n) => String(n).padStart(2, "0");
  const when = (s) => {
    const d = new Date(s * 1000);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
           `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  };
  const local = (s) => new Date(s * 1000).toLocaleString();

  function fillTable(table, rows) {
    const tbody = table.tBodies[0];
    tbody.replaceChildren(...rows.map((cells) => el("tr", {}, ...cells.map(
      (c) => el("td", {}, c instanceof Node ? c : fmt(c))))));
  }

  function showMessage(text) {
    const box = $("message");
    box.textContent = text || "";
    box.hidden = !text;
  }

  // -- auth ----------------------------------------------------------------------------
  function askForKey(reason) {
    $("login").hidden = false;
    $("login-reason").textContent = reason;
    $("content").hidden = true;
    $("logout").hidden = true;
  }

  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, $("api-key").value.trim());
    $("api-key").value = "";
    $("login").hidden = true;
    $("content").hidden = false;
    refresh();
  });

  $("logout").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    askForKey("Key forgotten. Give an API key with the read scope to see the dashboard.");
  });

  async function getJson(url) {
    const headers = { Accept: "application/json" };
    const key = sessionStorage.getItem(KEY);
    if (key) headers.Authorization = "Bearer " + key;
    const answer = await fetch(url, { headers, cache: "no-store" });
    let payload = null;
    try { payload = await answer.json(); } catch (e) { payload = null; }
    return { status: answer.status, payload, keyed: Boolean(key) };
  }

  // -- charts --------------------------------------------------------------------------
  // The x axis always spans the whole period asked for, however little data there is.
  let period = null;
  function setPeriod(data) {
    period = [when(data.since), when(data.since + count * data.seconds)];
  }

  function layout(title, axis, extra) {
    return Object.assign({
      title: { text: title, font: { size: 14 } }, height: 280,
      margin: { l: 50, r: 10, t: 36, b: 40 }, showlegend: true,
      legend: { orientation: "h", y: -0.28 },
      xaxis: Object.assign({ type: "date" }, period ? { range: period } : {}),
      yaxis: { title: { text: axis }, rangemode: "tozero" },
      paper_bgcolor: "#fff", plot_bgcolor: "#fff",
    }, extra || {});
  }

  function line(name, points, value, color, dash) {
    return { type: "scatter", mode: "lines+markers", name,
             x: points.map((p) => when(p.start)), y: points.map(value),
             line: { color, dash: dash || "solid" }, marker: { size: 4 } };
  }

  function draw(node, traces, title, axis, extra) {
    Plotly.react(node, traces, layout(title, axis, extra), PLOT_CONFIG);
  }

  function serviceCharts(nodes, series) {
    // series: [{name, points}]
    const rate = [], latency = [], errors = [];
    series.forEach((s, i) => {
      const color = COLORS[i % COLORS.length];
      rate.push(line(s.name, s.points, (p) => p.rate, color));
      for (const [q, dash] of [["p50", "solid"], ["p95", "dash"], ["p99", "dot"]]) {
        latency.push(line(`${s.name} ${q}`, s.points, (p) => p[q], color, dash));
      }
      errors.push(line(s.name, s.points, (p) => p.error_rate, color));
    });
    draw(nodes.rate, rate, "Requests per second", "req/s");
    draw(nodes.latency, latency, "Latency", "ms");
    draw(nodes.errors, errors, "Error rate", "share", { yaxis: { tickformat: ".0%",
      rangemode: "tozero", title: { text: "share of requests" } } });
  }

  // -- overview ------------------------------------------------------------------------
  const cards = new Map(); // endpoint name -> {card, nodes}

  function endpointCard(e) {
    const nodes = { rate: el("div", { class: "chart" }), latency: el("div", { class: "chart" }),
                    errors: el("div", { class: "chart" }) };
    const link = el("a", { href: "/ui/endpoints/" + encodeURIComponent(e.endpoint),
                           text: e.endpoint });
    const table = el("table", { class: "variants" },
      el("thead", {}, el("tr", {}, ...["Variant", "Model", "Version", "Weight", "Role",
                                       "Status"].map((h) => el("th", { text: h })))),
      el("tbody"));
    const summary = el("p", { class: "summary" });
    const card = el("section", { class: "card endpoint", "data-endpoint": e.endpoint },
      el("h2", {}, link, " ", el("span", { class: "muted strategy" })),
      table, summary, el("div", { class: "charts" }, nodes.rate, nodes.latency, nodes.errors));
    return { card, nodes, table, summary };
  }

  function renderOverview(data) {
    setPeriod(data);
    const holder = $("endpoints");
    const names = data.endpoints.map((e) => e.endpoint);
    if (names.join("\n") !== [...cards.keys()].join("\n")) {
      for (const { nodes } of cards.values()) Object.values(nodes).forEach(Plotly.purge);
      cards.clear();
      holder.replaceChildren();
      for (const e of data.endpoints) {
        const made = endpointCard(e);
        cards.set(e.endpoint, made);
        holder.append(made.card);
      }
    }
    if (!data.endpoints.length) {
      holder.replaceChildren(el("p", { class: "notice",
        text: "No endpoint is deployed yet: `gapless deploy ENDPOINT --model NAME@VERSION`." }));
    }
    let total = 0;
    for (const e of data.endpoints) {
      const made = cards.get(e.endpoint);
      made.card.querySelector(".strategy").textContent =
        `${e.strategy}, revision ${e.revision}`;
      fillTable(made.table, e.variants.map((v) => [v.name, v.model, v.version || "-",
                                                   v.weight, v.role, v.status]));
      const last = e.series.length ? e.series[e.series.length - 1] : null;
      made.summary.replaceChildren(
        "Requests: ", el("strong", { class: "requests", text: fmt(e.totals.requests) }),
        ` · errors: ${fmt(e.totals.errors)} (${pct(e.totals.error_rate)})` +
        ` · latest p95: ${last ? fmt(last.p95) + " ms" : "-"}`);
      total += e.totals.requests;
      serviceCharts(made.nodes, [{ name: "all versions", points: e.series }]);
    }
    $("total-requests").textContent = fmt(total);
    $("endpoint-count").textContent = fmt(data.endpoints.length);
  }

  // -- one endpoint --------------------------------------------------------------------
  function renderEndpoint(data) {
    setPeriod(data);
    $("deployment-summary").textContent =
      `Strategy ${data.strategy}, revision ${data.revision}, ` +
      `changed ${local(data.updated_at)} by ${data.updated_by}.`;
    fillTable($("variants"), data.variants.map((v) => [v.name, v.model, v.version || "-",
                                                       v.weight, v.role, v.status]));
    $("total-requests").textContent = fmt(data.totals.requests);
    $("total-errors").textContent =
      `${fmt(data.totals.errors)} (${pct(data.totals.error_rate)})`;
    serviceCharts({ rate: $("chart-rate"), latency: $("chart-latency"),
                    errors: $("chart-errors") }, data.series);
    renderDrift(data.drift);
    renderPerformance(data.performance);
    fillTable($("history"), data.history.map((h) => [h.revision, local(h.created_at),
      h.actor, h.strategy,
      h.variants.map((v) => `${v.name}: ${v.model} (${v.role}, ${fmt(v.weight)}%)`).join("; "),
      h.reason || ""]));
  }

  function renderDrift(drift) {
    $("drift-model").textContent = drift.model ? `against the training data of ${drift.model}`
                                                : "";
    const rows = drift.windows || [];
    const message = $("drift-message");
    message.textContent = drift.message || "";
    message.hidden = !drift.message;
    const charts = $("drift-charts");
    const latestTable = $("drift-latest");
    if (!rows.length) {
      Plotly.purge($("chart-drift-share"));
      Plotly.purge($("chart-drift-features"));
      charts.hidden = true;
      latestTable.hidden = true;
      return;
    }
    charts.hidden = false;
    latestTable.hidden = false;
    const bySeries = new Map();
    for (const w of rows) {
      const name = `v${w.version} ${w.variant}`;
      if (!bySeries.has(name)) bySeries.set(name, []);
      bySeries.get(name).push(w);
    }
    const share = [...bySeries].map(([name, points], i) =>
      line(name, points, (p) => p.drift_share, COLORS[i % COLORS.length]));
    draw($("chart-drift-share"), share, "Share of drifted features", "share",
         { yaxis: { tickformat: ".0%", range: [0, 1.05], title: { text: "share of features" } } });
    // Per feature: the scores of the series with the most rows (one model version and
    // variant), so each line follows one population over time.
    const rowsOf = (points) => points.reduce((n, p) => n + (p.rows || 0), 0);
    const [mainName, main] = [...bySeries].reduce(
      (a, b) => (rowsOf(b[1]) > rowsOf(a[1]) ? b : a));
    const features = new Map();
    for (const w of main) {
      for (const [name, f] of Object.entries(w.features || {})) {
        if (!features.has(name)) features.set(name, []);
        features.get(name).push({ start: w.start, score: f.score });
      }
    }
    const scores = [...features].map(([name, points], i) =>
      line(name, points, (p) => p.score, COLORS[i % COLORS.length]));
    draw($("chart-drift-features"), scores, `Drift score per feature, ${mainName}`, "score");
    const latest = main[main.length - 1];
    fillTable(latestTable, Object.entries(latest.features || {}).map(([name, f]) => [
      name, f.kind, f.method, f.score, f.threshold,
      f.drifted ? "yes" : f.drifted === false ? "no" : (f.reason || "-")]));
    latestTable.caption.textContent =
      `Latest window of ${mainName}, ${local(latest.start)}: ` +
      (latest.drifted ? "drifted" : latest.drifted === false ? "no drift" :
       latest.reason || "not judged") +
      ` (${fmt(latest.rows)} rows, share ${pct(latest.drift_share)})`;
  }

  function renderPerformance(perf) {
    const message = $("performance-message");
    message.textContent = perf.message || "";
    message.hidden = !perf.message;
    const charts = $("performance-charts");
    if (perf.message) {
      Plotly.purge($("chart-performance"));
      Plotly.purge($("chart-labelled"));
      charts.hidden = true;
      return;
    }
    charts.hidden = false;
    const bySeries = new Map();
    for (const w of perf.windows) {
      const name = `v${w.version} ${w.variant}`;
      if (!bySeries.has(name)) bySeries.set(name, []);
      bySeries.get(name).push(w);
    }
    const metric = perf.metric;
    const value = (key) => (p) => (p[key][metric] === undefined ? null : p[key][metric]);
    const traces = [], labelled = [];
    [...bySeries].forEach(([name, points], i) => {
      const color = COLORS[i % COLORS.length];
      traces.push(line(`${name} realized`, points, value("metrics"), color));
      if (points.some((p) => p.estimated[metric] !== undefined)) {
        traces.push(line(`${name} estimated`, points, value("estimated"), color, "dash"));
      }
      labelled.push(line(name, points, (p) => (p.predictions ? p.labelled / p.predictions
                                                             : null), color));
    });
    const extra = perf.reference === null || perf.reference === undefined ? {} : {
      shapes: [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: perf.reference,
                 y1: perf.reference, line: { color: "#888", dash: "dot", width: 1 } }] };
    draw($("chart-performance"), traces, `${metric} per window` +
         (Object.keys(extra).length ? " (dotted: the model's test score)" : ""), metric,
         extra);
    draw($("chart-labelled"), labelled, "Share of predictions with a label", "share",
         { yaxis: { tickformat: ".0%", range: [0, 1.05], title: { text: "labelled" } } });
  }

  // -- polling -------------------------------------------------------------------------
  function url() {
    const query = `?window=${encodeURIComponent(windowSelect.value)}&windows=${count}`;
    return pageKind === "endpoint"
      ? `/ui/api/endpoints/${encodeURIComponent(endpoint)}${query}`
      : `/ui/api/overview${query}`;
  }

  async function refresh() {
    if (busy || !$("login").hidden) return;
    busy = true;
    try {
      const { status, payload, keyed } = await getJson(url());
      const reason = payload && payload.message ? payload.message : `HTTP ${status}`;
      if (status === 401) {
        if (keyed) sessionStorage.removeItem(KEY);
        askForKey(keyed ? `That key was refused: ${reason}` :
                  "This server needs an API key with the read scope.");
        return;
      }
      if (status === 403) { askForKey(reason); return; }
      if (status !== 200) { showMessage(reason); return; }
      showMessage("");
      $("logout").hidden = !keyed;
      if (pageKind === "endpoint") renderEndpoint(payload); else renderOverview(payload);
      const now = new Date();
      const stamp = $("last-refresh");
      stamp.textContent = now.toLocaleTimeString();
      stamp.setAttribute("datetime", now.toISOString());
    } catch (error) {
      showMessage(`Cannot reach the server: ${error}`);
    } finally {
      busy = false;
    }
  }

  windowSelect.addEventListener("change", refresh);
  if (authRequired && !sessionStorage.getItem(KEY)) {
    askForKey("This server needs an API key with the read scope.");
  } else {
    refresh();
  }
  timer = setInterval(refresh, refreshMs);
  window.addEventListener("pagehide", () => clearInterval(timer));
})();
