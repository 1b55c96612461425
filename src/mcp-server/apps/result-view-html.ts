/** The results viewer's document (result-view.ts says what it is and how it talks to its host). */
export const VIEW_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Run results</title>
<style>
:root{color-scheme:light dark;--bg:var(--color-background-primary,#fff);--bg2:var(--color-background-secondary,#f4f5f7);--fg:var(--color-text-primary,#1d1f23);--fg2:var(--color-text-secondary,#5d6470);--line:var(--color-border-primary,#d8dbe0);--bad:var(--color-text-danger,#b3261e);--radius:var(--border-radius-md,6px)}
[data-theme=dark]{--bg:var(--color-background-primary,#1b1c1f);--bg2:var(--color-background-secondary,#26282c);--fg:var(--color-text-primary,#e8e9eb);--fg2:var(--color-text-secondary,#a2a8b3);--line:var(--color-border-primary,#3a3d43);--bad:var(--color-text-danger,#f2867d)}
*{box-sizing:border-box}
body{margin:0;padding:12px;background:var(--bg);color:var(--fg);font:13px/1.4 var(--font-sans,system-ui,sans-serif)}
h2{font-size:13px;margin:14px 0 6px;font-weight:600}
h2:first-child{margin-top:0}
.muted{color:var(--fg2);font-weight:400}
pre{margin:0;padding:8px;background:var(--bg2);border-radius:var(--radius);overflow:auto;max-height:240px;font:12px/1.4 var(--font-mono,ui-monospace,monospace);white-space:pre-wrap;word-break:break-word}
.bad{color:var(--bad)}
.scroll{overflow:auto;max-height:420px;border:1px solid var(--line);border-radius:var(--radius)}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap;max-width:320px;overflow:hidden;text-overflow:ellipsis}
th{position:sticky;top:0;background:var(--bg2);cursor:pointer;user-select:none}
th small{display:block;color:var(--fg2);font-weight:400}
td.num{text-align:right}
td.nil{color:var(--fg2)}
td.n{color:var(--fg2);text-align:right}
.pager{display:flex;gap:8px;align-items:center;margin:6px 0}
button{font:inherit;color:inherit;background:var(--bg2);border:1px solid var(--line);border-radius:var(--radius);padding:2px 10px;cursor:pointer}
button:disabled{opacity:.45;cursor:default}
img{max-width:100%;border-radius:var(--radius);background:#fff}
details{margin:4px 0 10px}
summary{cursor:pointer;color:var(--fg2)}
</style>
</head>
<body>
<main id="out"><p class="muted" id="wait">Waiting for the result…</p></main>
<script>
(function () {
  "use strict";
  var PAGE = 50;
  var out = document.getElementById("out");
  var nextId = 1;
  var pending = {};
  var hostCanCall = false;

  function post(message) { window.parent.postMessage(message, "*"); }
  function request(method, params) {
    var id = nextId++;
    post({ jsonrpc: "2.0", id: id, method: method, params: params });
    return new Promise(function (resolve, reject) { pending[id] = { resolve: resolve, reject: reject }; });
  }
  function notify(method, params) { post({ jsonrpc: "2.0", method: method, params: params || {} }); }

  window.addEventListener("message", function (event) {
    if (event.source !== window.parent) return;
    var m = event.data;
    if (!m || m.jsonrpc !== "2.0") return;
    if (m.method === undefined && m.id !== undefined) {
      var waiting = pending[m.id];
      delete pending[m.id];
      if (waiting) m.error ? waiting.reject(new Error(m.error.message || "request failed")) : waiting.resolve(m.result);
      return;
    }
    if (m.id !== undefined) {
      if (m.method === "ui/resource-teardown" || m.method === "ping") post({ jsonrpc: "2.0", id: m.id, result: {} });
      else post({ jsonrpc: "2.0", id: m.id, error: { code: -32601, message: "not handled by this view: " + m.method } });
      return;
    }
    if (m.method === "ui/notifications/tool-result") show(m.params || {});
    else if (m.method === "ui/notifications/host-context-changed") theme(m.params || {});
    else if (m.method === "ui/notifications/tool-cancelled") status("The call was cancelled.");
  });

  function theme(context) { if (context.theme) document.documentElement.setAttribute("data-theme", context.theme); }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    for (var key in attrs || {}) {
      if (key === "text") node.textContent = attrs[key];
      else if (key === "className") node.className = attrs[key];
      else node.setAttribute(key, attrs[key]);
    }
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }
  function status(text) { out.replaceChildren(el("p", { className: "muted", text: text })); }

  function show(result) {
    var data = result.structuredContent || {};
    var meta = (result._meta || {})["fc-code-interpreter/view"] || {};
    var parts = [];
    if (result.isError && data.error && data.error.kind) {
      parts.push(el("pre", { className: "bad", text: data.error.message || "The call failed." }));
      out.replaceChildren.apply(out, parts);
      return;
    }
    if (data.status === "running") parts.push(el("p", { className: "muted", text: "Still running: the output so far." }));
    (meta.tables || []).forEach(function (table, i) { parts.push(tableView(table, i)); });
    var images = (result.content || []).filter(function (block) {
      return block.type === "image" && /^image\/(png|jpeg|gif|webp)$/.test(block.mimeType || "");
    });
    var charts = (data.results || []).filter(function (entry) { return entry.chart; });
    images.forEach(function (image, i) {
      parts.push(el("h2", { text: "Chart " + (images.length > 1 ? i + 1 : "") }));
      parts.push(el("img", { src: "data:" + image.mimeType + ";base64," + image.data, alt: "chart " + (i + 1) }));
      var chart = charts[i] && charts[i].chart;
      if (chart) {
        var label = (chart.type || "chart") + (chart.title ? ": " + chart.title : "") + (Array.isArray(chart.elements) ? ", " + chart.elements.length + " elements" : "");
        parts.push(el("details", {}, [el("summary", { text: "Chart data (" + label + ")" }), el("pre", { text: JSON.stringify(chart, null, 1) })]));
      }
    });
    if (data.stdout) parts.push(el("h2", { text: "stdout" }), el("pre", { text: data.stdout }));
    if (data.stderr) parts.push(el("h2", { text: "stderr" }), el("pre", { text: data.stderr }));
    if (data.error) parts.push(el("h2", { className: "bad", text: "Error" }), el("pre", { className: "bad", text: data.error.name + ": " + data.error.value + (data.error.traceback ? "\n" + data.error.traceback : "") }));
    if (parts.length === 0) parts.push(el("p", { className: "muted", text: "No output." }));
    out.replaceChildren.apply(out, parts);
    sizeChanged();
  }

  function tableView(table, index) {
    var state = { offset: 0, sort: null, rows: table.rows.slice(0, PAGE), busy: false };
    var total = table.saved_rows || table.row_count;
    var local = !table.result_handle;
    var localRows = table.rows;
    if (local) total = Math.min(total, localRows.length);
    var title = el("h2", { text: "Table" + (index ? " " + (index + 1) : "") + " " }, [
      el("span", { className: "muted", text: table.row_count.toLocaleString("en") + " rows × " + table.columns.length + " columns" }),
    ]);
    var head = el("tr", {}, [el("th", { text: "#" })]);
    var body = el("tbody");
    var info = el("span", { className: "muted" });
    var prev = el("button", { text: "‹ Previous", "data-action": "prev" });
    var next = el("button", { text: "Next ›", "data-action": "next" });
    var note = table.note || (table.saved_rows ? "Pages cover the first " + table.saved_rows.toLocaleString("en") + " rows (what the sandbox saved)." : "");
    table.columns.forEach(function (column, c) {
      var th = el("th", { title: "Sort by " + column.name, "data-column": column.name }, [
        document.createTextNode(column.name),
        el("small", { text: column.dtype }),
      ]);
      th.addEventListener("click", function () {
        var descending = state.sort && state.sort.column === column.name && !state.sort.descending;
        load(0, { column: column.name, descending: !!descending, index: c });
      });
      head.appendChild(th);
    });
    prev.addEventListener("click", function () { load(Math.max(0, state.offset - PAGE), state.sort); });
    next.addEventListener("click", function () { load(state.offset + PAGE, state.sort); });

    function render() {
      body.replaceChildren.apply(body, state.rows.map(function (row, r) {
        var tr = el("tr", {}, [el("td", { className: "n", text: String(state.offset + r + 1) })]);
        row.forEach(function (cell) {
          tr.appendChild(el("td", {
            className: cell === null ? "nil" : typeof cell === "number" ? "num" : "",
            text: cell === null ? "—" : String(cell),
          }));
        });
        return tr;
      }));
      Array.prototype.forEach.call(head.children, function (th) {
        var name = th.getAttribute("data-column");
        th.setAttribute("aria-sort", state.sort && state.sort.column === name ? (state.sort.descending ? "descending" : "ascending") : "none");
        var mark = state.sort && state.sort.column === name ? (state.sort.descending ? " ▼" : " ▲") : "";
        if (name !== null) th.firstChild.textContent = name + mark;
      });
      var last = Math.min(state.offset + state.rows.length, total);
      info.textContent = total === 0 ? "no rows" : "rows " + (state.offset + 1).toLocaleString("en") + "–" + last.toLocaleString("en") + " of " + total.toLocaleString("en");
      prev.disabled = state.busy || state.offset === 0;
      next.disabled = state.busy || last >= total;
    }

    function load(offset, sort) {
      if (local) {
        var rows = localRows.slice();
        if (sort) rows.sort(function (a, b) { return compare(a[sort.index], b[sort.index], sort.descending); });
        state.offset = offset;
        state.sort = sort;
        state.rows = rows.slice(offset, offset + PAGE);
        render();
        return;
      }
      if (!hostCanCall) { info.textContent = "This host cannot call the server: only the first rows can be shown."; return; }
      state.busy = true;
      render();
      var args = { handle: table.result_handle, offset: offset, limit: PAGE };
      if (sort) args.sort = { column: sort.column, descending: sort.descending };
      request("tools/call", { name: "result_page", arguments: args }).then(function (answer) {
        state.busy = false;
        if (!answer || answer.isError || !answer.structuredContent) {
          var text = answer && answer.content && answer.content[0] && answer.content[0].text;
          render();
          info.textContent = text || "The rows could not be read.";
          info.className = "bad";
          return;
        }
        info.className = "muted";
        state.offset = answer.structuredContent.offset;
        state.rows = answer.structuredContent.rows;
        state.sort = sort;
        render();
      }, function (error) {
        state.busy = false;
        render();
        info.textContent = "The rows could not be read: " + error.message;
        info.className = "bad";
      });
    }

    render();
    return el("section", { "data-table": String(index) }, [
      title,
      el("div", { className: "scroll" }, [el("table", {}, [el("thead", {}, [head]), body])]),
      el("div", { className: "pager" }, [prev, next, info]),
      note ? el("p", { className: "muted", text: note }) : null,
    ]);
  }

  function rank(v) { return typeof v === "number" ? 0 : typeof v === "boolean" ? 1 : typeof v === "string" ? 2 : 3; }
  function compare(x, y, descending) {
    var rx = rank(x), ry = rank(y), d = descending ? -1 : 1;
    if (rx !== ry) return rx === 3 ? 1 : ry === 3 ? -1 : (rx - ry) * d;
    if (rx === 3 || x === y) return 0;
    return (x < y ? -1 : 1) * d;
  }

  var lastHeight = 0;
  function sizeChanged() {
    var height = Math.ceil(document.documentElement.getBoundingClientRect().height);
    if (height !== lastHeight) { lastHeight = height; notify("ui/notifications/size-changed", { height: height }); }
  }
  if (window.ResizeObserver) new ResizeObserver(sizeChanged).observe(document.documentElement);

  request("ui/initialize", {
    appInfo: { name: "fc-code-interpreter-results", version: "1.0.0" },
    appCapabilities: {},
    protocolVersion: "2026-01-26",
  }).then(function (answer) {
    hostCanCall = !!(answer && answer.hostCapabilities && answer.hostCapabilities.serverTools);
    theme((answer && answer.hostContext) || {});
    notify("ui/notifications/initialized", {});
  }, function (error) { status("The host did not answer: " + error.message); });
})();
</script>
</body>
</html>
`;
