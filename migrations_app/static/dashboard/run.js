// The run page: follows the run's event stream from the event the server rendered
// up to, and keeps the progress bar, speed, ETA, phase, counts, log, chart, buttons
// and failed items current. No build step, no dependencies.
(function () {
  "use strict";

  var root = document.getElementById("run");
  if (!root) return;

  var TERMINAL = ["completed", "partial", "failed", "cancelled"];
  var LOG_LIMIT = 500;
  var phaseNames = JSON.parse(document.getElementById("phase-names").textContent);
  var chartPoints = JSON.parse(document.getElementById("chart-data").textContent) || [];

  var streamUrl = root.dataset.streamUrl;
  var token = root.dataset.streamToken;
  var lastEventId = root.dataset.lastEventId;
  var source = null;
  var retryDelay = 1000;
  var finished = root.dataset.finished === "true";
  var stateTimer = null;
  var stateFetchedAt = 0;

  function $(id) { return document.getElementById(id); }
  function csrf() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }
  function setText(id, value) { var el = $(id); if (el) el.textContent = value; }

  // ------------------------------------------------------------------ progress
  function formatEta(seconds) {
    if (!isFinite(seconds) || seconds < 0) return "—";
    seconds = Math.round(seconds);
    if (seconds < 60) return seconds + " s";
    var m = Math.floor(seconds / 60), s = seconds % 60;
    if (m < 60) return m + " min " + s + " s";
    return Math.floor(m / 60) + " h " + (m % 60) + " min";
  }

  function showProgress(p) {
    var percent = Math.max(0, Math.min(100, p.percent));
    $("progress-bar").style.width = percent + "%";
    $("progress").setAttribute("aria-valuenow", String(percent));
    $("progress").setAttribute("aria-valuetext", percent + "% (" + p.current + " of " + p.total + " items)");
    setText("percent", String(percent));
    setText("current", String(p.current));
    setText("total", String(p.total));
    setText("speed", String(p.speed));
    var remaining = p.total - p.current;
    setText("eta", remaining <= 0 ? "done" : (p.speed > 0 ? formatEta(remaining / p.speed) : "—"));
    chartPoints.push({ t: Date.now() / 1000, speed: p.speed });
    if (chartPoints.length > 600) chartPoints.shift();
    drawChart();
    refreshStateSoon(2000);
  }

  function drawChart() {
    var line = $("chart-line");
    if (!line || chartPoints.length === 0) return;
    var t0 = chartPoints[0].t, t1 = chartPoints[chartPoints.length - 1].t;
    var span = Math.max(t1 - t0, 1);
    var peak = chartPoints.reduce(function (m, p) { return Math.max(m, p.speed); }, 0) || 1;
    line.setAttribute("points", chartPoints.map(function (p) {
      var x = ((p.t - t0) / span) * 600;
      var y = 115 - (p.speed / peak) * 105;
      return x.toFixed(1) + "," + y.toFixed(1);
    }).join(" "));
    setText("chart-peak", peak.toFixed(1) + " items/s");
  }

  // ------------------------------------------------------------------ status and buttons
  function showStatus(status) {
    var upper = status.toUpperCase();
    var badge = $("run-status");
    badge.textContent = upper;
    badge.className = "badge status-" + status.toLowerCase();
    var active = ["pending", "running", "paused"].indexOf(status.toLowerCase()) >= 0;
    document.querySelectorAll("#controls button").forEach(function (button) {
      var action = button.dataset.action;
      var show = (action === "pause" && upper === "RUNNING") ||
                 (action === "resume" && upper === "PAUSED") ||
                 (action === "cancel" && active);
      button.hidden = !show;
      button.disabled = false;
    });
    if (TERMINAL.indexOf(status.toLowerCase()) >= 0) {
      finished = true;
      refreshPanels();
    }
    refreshStateSoon(0);
  }

  function refreshStateSoon(minGap) {
    if (stateTimer) return;
    var wait = Math.max(0, stateFetchedAt + minGap - Date.now());
    stateTimer = setTimeout(function () {
      stateTimer = null;
      stateFetchedAt = Date.now();
      fetch(root.dataset.stateUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (s) {
          if (!s) return;
          setText("count-created", String(s.created));
          setText("count-updated", String(s.updated));
          setText("count-removed", String(s.removed));
          setText("count-skipped", String(s.skipped));
          setText("count-failed", String(s.failed));
          setText("phase", (s.currentPhase ? s.currentPhase + " · " : "") + (phaseNames[String(s.currentPhase)] || s.phaseName));
          setText("status-reason", s.statusReason || "");
          showTime("started-at", s.startedAt);
          showTime("finished-at", s.finishedAt);
          var failedCount = document.querySelector("[data-count=failed]");
          if (failedCount && failedCount.textContent !== String(s.failed)) refreshPanels();
        })
        .catch(function () { /* the next event tries again */ });
    }, wait);
  }

  function showTime(id, iso) {
    var el = $(id);
    if (!el || !iso || el.querySelector("time")) return;
    var time = document.createElement("time");
    time.dateTime = iso;
    time.textContent = iso.replace("T", " ").slice(0, 19);
    el.textContent = "";
    el.appendChild(time);
  }

  function refreshPanels() {
    fetch(root.dataset.panelsUrl, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        ["failed-panel", "mappings-panel"].forEach(function (id) {
          var fresh = doc.getElementById(id), current = $(id);
          if (fresh && current) current.replaceWith(fresh);
        });
      })
      .catch(function () {});
  }

  // ------------------------------------------------------------------ log
  function appendLog(message) {
    var log = $("log");
    var atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    var li = document.createElement("li");
    li.textContent = message;
    if (message.charAt(0) === "✗") li.className = "fail";
    else if (message.charAt(0) === "✓") li.className = "ok";
    log.appendChild(li);
    while (log.children.length > LOG_LIMIT) log.removeChild(log.firstChild);
    if (atBottom) log.scrollTop = log.scrollHeight;
    if (message.charAt(0) === "✗") refreshStateSoon(1500);
  }

  // ------------------------------------------------------------------ stream
  function track(handler) {
    return function (event) {
      if (event.lastEventId) lastEventId = event.lastEventId;
      retryDelay = 1000;
      handler(JSON.parse(event.data));
    };
  }

  function connect() {
    var url = streamUrl + "?token=" + encodeURIComponent(token) +
              "&lastEventId=" + encodeURIComponent(lastEventId);
    source = new EventSource(url);
    // The stream sends only the four event types; its opening is a comment line.
    source.onopen = function () { setText("connection", "live"); };
    source.addEventListener("progress", track(showProgress));
    source.addEventListener("log", track(function (d) { appendLog(d.message); }));
    source.addEventListener("status", track(function (d) { showStatus(d.status); }));
    source.addEventListener("done", track(function () {
      setText("connection", "finished");
      finished = true;
      refreshPanels();
      refreshStateSoon(0);
      source.close();
    }));
    source.onerror = function () {
      // CONNECTING: the browser retries by itself (sending Last-Event-ID).
      // CLOSED: refused, e.g. the five-minute token expired; get a fresh one.
      if (source.readyState !== EventSource.CLOSED || finished) return;
      setText("connection", "reconnecting…");
      setTimeout(renewAndConnect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 30000);
    };
  }

  function renewAndConnect() {
    fetch(root.dataset.tokenUrl, {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRFToken": csrf(), Accept: "application/json" }
    })
      .then(function (r) {
        if (r.status === 401 || r.status === 403) { window.location.reload(); return null; }
        return r.ok ? r.json() : null;
      })
      .then(function (body) {
        if (body) token = body.token;
        connect();
      })
      .catch(function () { setTimeout(renewAndConnect, retryDelay); });
  }

  // ------------------------------------------------------------------ controls
  document.querySelectorAll("#controls button").forEach(function (button) {
    button.addEventListener("click", function (event) {
      event.preventDefault();
      if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
      button.disabled = true;
      fetch(button.getAttribute("formaction"), {
        method: "POST", credentials: "same-origin",
        headers: { "X-CSRFToken": csrf(), Accept: "application/json" }
      })
        .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
        .then(function (res) {
          if (res.ok) showStatus(res.body.status);
          else { button.disabled = false; window.alert(res.body.message); refreshStateSoon(0); }
        })
        .catch(function () { button.disabled = false; });
    });
  });

  drawChart();
  var log = $("log");
  log.scrollTop = log.scrollHeight;
  if (!finished) connect();
})();
