/* Draws the dashboards' Plotly figures from their json_script data (no inline script,
   so the pages work under a CSP of script-src 'self'). Both unit systems are on the page:
   the unit toggle redraws without a request. */
(function () {
  "use strict";

  function readJSON(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  var root = document.querySelector("[data-dashboard]");
  if (!root || !window.Plotly) return;
  var config = readJSON("plot-config") || {};
  var system = root.getAttribute("data-units") || "conventional";
  var plots = [];

  function figureOf(src) {
    if (!src) return null;
    return src.data ? src : src[system];
  }

  document.querySelectorAll("[data-figure]").forEach(function (el) {
    var src = readJSON(el.getAttribute("data-figure"));
    var fig = figureOf(src);
    if (!fig) return;
    plots.push({ el: el, src: src });
    window.Plotly.newPlot(el, fig.data, fig.layout, config);
  });

  // --- data table: exactly the plotted points of the traces marked meta.table ----------
  var tableBox = document.getElementById("dash-table");
  var tableBtn = document.querySelector("[data-table-toggle]");

  function tableRows(fig) {
    var rows = [];
    fig.data.forEach(function (t) {
      var meta = t.meta || {};
      if (!meta.table) return;
      // Same rule as clinical.charts.common.table_rows: a value trace plots the rounded
      // value (printed with meta.decimals), other traces carry [value, note] pairs.
      (t.x || []).forEach(function (x, i) {
        if (x === null || x === undefined) return;
        var cd = t.customdata ? t.customdata[i] : null;
        var value, note;
        if (meta.decimals !== undefined && meta.decimals !== null) {
          value = Number(t.y[i]).toFixed(meta.decimals);
          note = cd || "";
        } else {
          value = cd ? cd[0] : "";
          note = cd ? cd[1] : "";
        }
        rows.push([meta.series || t.name || "", String(x), String(value), meta.unit || "", String(note)]);
      });
    });
    return rows;
  }

  function cell(tag, text, scope) {
    var c = document.createElement(tag);
    c.textContent = text;
    if (scope) c.setAttribute("scope", scope);
    return c;
  }

  function buildTable() {
    if (!tableBox || !plots.length) return;
    var fig = figureOf(plots[0].src);
    var table = document.createElement("table");
    table.className = "compact data-table";
    var caption = document.createElement("caption");
    caption.textContent = "Plotted values (" + (system === "si" ? "SI" : "conventional") + " units)";
    table.appendChild(caption);
    var head = document.createElement("thead");
    var hr = document.createElement("tr");
    ["Series", "Date", "Value", "Unit", "Note"].forEach(function (h) { hr.appendChild(cell("th", h, "col")); });
    head.appendChild(hr);
    table.appendChild(head);
    var body = document.createElement("tbody");
    tableRows(fig).forEach(function (r) {
      var tr = document.createElement("tr");
      tr.appendChild(cell("th", r[0], "row"));
      for (var i = 1; i < r.length; i++) tr.appendChild(cell("td", r[i]));
      body.appendChild(tr);
    });
    table.appendChild(body);
    tableBox.replaceChildren(table);
  }

  if (tableBtn && tableBox) {
    tableBtn.addEventListener("click", function () {
      var open = tableBtn.getAttribute("aria-expanded") === "true";
      if (!open) buildTable();
      tableBox.hidden = open;
      tableBtn.setAttribute("aria-expanded", open ? "false" : "true");
      tableBtn.textContent = open ? "Show data table" : "Hide data table";
      if (!open) tableBox.focus();
    });
  }

  // --- unit toggle -----------------------------------------------------------------
  function setUnits(next) {
    if (next === system) return;
    system = next;
    root.setAttribute("data-units", system);
    plots.forEach(function (p) {
      if (p.src.data) return; // the same in both systems
      var fig = p.src[system];
      // uirevision in the layout keeps the time range the user chose
      window.Plotly.react(p.el, fig.data, fig.layout, config);
    });
    document.querySelectorAll("[data-units-only]").forEach(function (el) {
      el.hidden = el.getAttribute("data-units-only") !== system;
    });
    document.querySelectorAll("[data-csv]").forEach(function (a) {
      a.setAttribute("href", a.getAttribute("data-csv-base") + "?units=" + encodeURIComponent(system));
    });
    if (tableBox && !tableBox.hidden) buildTable();
  }

  document.querySelectorAll("[data-units-toggle] input[type=radio]").forEach(function (r) {
    r.addEventListener("change", function () { if (r.checked) setUnits(r.value); });
  });
})();
