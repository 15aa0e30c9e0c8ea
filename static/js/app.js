/* Small progressive enhancements; every page works without them. No build step. */
(function () {
  "use strict";

  function readJSON(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  // Header unit switch: apply on change.
  document.querySelectorAll("[data-autosubmit]").forEach(function (sel) {
    var form = sel.form;
    var btn = form && form.querySelector(".js-hide");
    if (btn) btn.hidden = true;
    sel.addEventListener("change", function () { form.submit(); });
  });

  // Printable summary: one button, no inline script (the CSP allows only our files).
  document.querySelectorAll("[data-print]").forEach(function (btn) {
    btn.addEventListener("click", function () { window.print(); });
  });

  // Errors: move focus to the summary so screen readers announce it first.
  var summary = document.querySelector(".conflict, .error-summary[tabindex], .duplicate-warning");
  if (summary) summary.focus();

  // Unit pickers follow the analyte; the user's preferred unit is preselected.
  var unitMap = readJSON("unit-map");
  var system = document.body.getAttribute("data-units") || "conventional";
  function rowOf(el) { return el.closest("tr") || el.closest("form"); }
  function syncUnits(analyteSel, keepValue) {
    var row = rowOf(analyteSel);
    var unitSel = row && row.querySelector("[data-unit-target]");
    if (!unitSel || !unitMap) return;
    var info = unitMap[analyteSel.value];
    var current = unitSel.value;
    Array.prototype.forEach.call(unitSel.options, function (o) {
      var ok = !info || o.value === "" || info.units.indexOf(o.value) !== -1;
      o.hidden = !ok;
      o.disabled = !ok;
    });
    if (!info) return;
    if (keepValue && current && info.units.indexOf(current) !== -1) return;
    unitSel.value = info[system] || info.units[0];
  }
  if (unitMap) {
    document.addEventListener("change", function (e) {
      if (e.target.matches && e.target.matches("[data-unit-source]")) syncUnits(e.target, false);
    });
    document.querySelectorAll("[data-unit-source]").forEach(function (s) { syncUnits(s, true); });
  }

  // Formset rows: "+ Add" clones the empty-form template.
  document.querySelectorAll("[data-add-row]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      var prefix = btn.getAttribute("data-add-row");
      var total = document.getElementById("id_" + prefix + "-TOTAL_FORMS");
      var tpl = document.getElementById(prefix + "-empty");
      var body = document.querySelector('[data-rows="' + prefix + '"]');
      if (!total || !tpl || !body) return;
      var max = document.getElementById("id_" + prefix + "-MAX_NUM_FORMS");
      var n = parseInt(total.value, 10);
      if (max && n >= parseInt(max.value, 10)) return;
      var html = tpl.innerHTML.replace(/__prefix__/g, String(n));
      body.insertAdjacentHTML("beforeend", html);
      total.value = String(n + 1);
      var first = body.lastElementChild && body.lastElementChild.querySelector("input, select");
      if (first) first.focus();
    });
  });

  // One-click lab panel: one row per panel analyte not yet chosen, empty rows first.
  document.querySelectorAll("[data-panel]").forEach(function (btn) {
    var prefix = btn.getAttribute("data-panel-rows");
    var body = document.querySelector('[data-rows="' + prefix + '"]');
    var add = document.querySelector('[data-add-row="' + prefix + '"]');
    if (!body || !add) return;
    btn.hidden = false;
    btn.addEventListener("click", function () {
      var chosen = {};
      body.querySelectorAll("[data-unit-source]").forEach(function (s) { if (s.value) chosen[s.value] = true; });
      var firstFilled = null;
      btn.getAttribute("data-panel").split(",").forEach(function (code) {
        if (chosen[code]) return;
        var empty = Array.prototype.filter.call(body.querySelectorAll("[data-unit-source]"), function (s) { return !s.value; })[0];
        if (!empty) {
          add.click();
          var rows = body.querySelectorAll("[data-unit-source]");
          empty = rows[rows.length - 1];
        }
        if (!empty) return;
        empty.value = code;
        syncUnits(empty, false);
        if (!firstFilled) firstFilled = empty;
      });
      var value = firstFilled && rowOf(firstFilled).querySelector("input[name$='-value']");
      if (value) value.focus();
    });
  });

  // BMI from weight and height.
  var w = document.getElementById("id_weight_kg");
  var h = document.getElementById("id_height_cm");
  var bmi = document.getElementById("bmi");
  function num(el) { return el ? parseFloat(String(el.value).replace(",", ".")) : NaN; }
  function showBmi() {
    var kg = num(w), cm = num(h);
    bmi.textContent = kg > 0 && cm > 0 ? (kg / Math.pow(cm / 100, 2)).toFixed(1) + " kg/m\u00b2" : "\u2013";
  }
  if (w && h && bmi) { w.addEventListener("input", showBmi); h.addEventListener("input", showBmi); showBmi(); }

  // Treatment forms: dose unit follows the drug; metreleptin dose preview and warning.
  var courseForm = document.getElementById("course-form");
  if (courseForm) {
    var drugUnits = readJSON("drug-units");
    var drugSel = document.getElementById("id_drug");
    var unitSel = document.getElementById("id_dose_unit");
    var dose = document.getElementById("id_dose");
    var preview = document.getElementById("dose-preview");
    var weight = parseFloat(courseForm.getAttribute("data-weight"));
    var fixedDrug = courseForm.getAttribute("data-drug");
    function drug() { return drugSel ? drugSel.value : fixedDrug; }
    function syncDrug() {
      if (!drugUnits || !unitSel) return;
      var units = drugUnits[drug()] || [];
      Array.prototype.forEach.call(unitSel.options, function (o) {
        var ok = units.indexOf(o.value) !== -1;
        o.hidden = !ok; o.disabled = !ok;
      });
      if (units.indexOf(unitSel.value) === -1 && units.length) unitSel.value = units[0];
    }
    function showDose() {
      var mg = num(dose);
      var isMet = drug() === "metreleptin";
      if (preview) {
        var parts = [];
        if (isMet && mg >= 0) parts.push((mg / 5).toFixed(2) + " mL/day at 5 mg/mL");
        if (isMet && mg >= 0 && weight > 0) parts.push((mg / weight).toFixed(3) + " mg/kg/day at " + weight + " kg");
        preview.textContent = parts.join(" \u00b7 ");
      }
    }
    if (drugSel) drugSel.addEventListener("change", function () { syncDrug(); showDose(); });
    if (dose) dose.addEventListener("input", showDose);
    var use = document.getElementById("use-suggestion");
    var sugg = document.getElementById("suggestion");
    if (use && sugg && dose) {
      use.addEventListener("click", function () {
        if (drugSel) drugSel.value = "metreleptin";
        syncDrug();
        dose.value = sugg.getAttribute("data-mg");
        showDose();
        dose.focus();
      });
    }
    syncDrug();
    showDose();
  }
})();
