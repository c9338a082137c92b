/* inferboard site: charts from the JSON embedded in each page (Plotly, offline), sortable and filterable
   tables (tablesort). Chart data is read with JSON.parse, never evaluated. */
(function () {
  "use strict";

  function renderCharts(root) {
    root.querySelectorAll("div.ib-chart[data-spec]").forEach(function (el) {
      if (el.dataset.rendered) return;
      var spec = document.getElementById(el.dataset.spec);
      if (!spec || typeof Plotly === "undefined") return;
      var fig = JSON.parse(spec.textContent);
      Plotly.newPlot(el, fig.data, fig.layout, { displaylogo: false, responsive: true })
        .then(function () { el.dataset.rendered = "1"; });
    });
  }

  function setupTables(root) {
    root.querySelectorAll("table.ib-sortable").forEach(function (t) {
      if (t.dataset.sortable) return;
      t.dataset.sortable = "1";
      if (typeof Tablesort !== "undefined") new Tablesort(t);
    });
    root.querySelectorAll("input.ib-filter[data-table]").forEach(function (input) {
      var table = document.getElementById(input.dataset.table);
      if (!table) return;
      input.addEventListener("input", function () {
        var q = input.value.trim().toLowerCase();
        var shown = true;  // a trial row (tr.ib-trial) follows the entry row above it
        table.querySelectorAll("tbody tr").forEach(function (tr) {
          if (!tr.classList.contains("ib-trial")) shown = q === "" || tr.textContent.toLowerCase().indexOf(q) !== -1;
          tr.hidden = !shown;
        });
      });
    });
  }

  function init() {
    setupTables(document);
    renderCharts(document);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
