// harness report site: sortable and filterable tables, and the Plotly plots of a page.
// No request leaves the page: plotly.min.js sits beside this file.
"use strict";

function sortKey(cell) {
  const raw = cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent.trim();
  const number = Number(raw);
  return raw !== "" && !Number.isNaN(number) ? number : raw.toLowerCase();
}

function compareKeys(a, b) {
  const missingA = a === "" || a === "—", missingB = b === "" || b === "—";
  if (missingA || missingB) return missingA - missingB; // missing values sort last
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b));
}

function makeSortable(table) {
  table.querySelectorAll("thead th").forEach((header, column) => {
    header.tabIndex = 0;
    const sort = () => {
      const ascending = header.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("thead th").forEach((h) => h.removeAttribute("aria-sort"));
      header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      const body = table.tBodies[0];
      const rows = Array.from(body.rows);
      rows.sort((r1, r2) => {
        const order = compareKeys(sortKey(r1.cells[column]), sortKey(r2.cells[column]));
        return ascending ? order : -order;
      });
      rows.forEach((row) => body.appendChild(row));
    };
    header.addEventListener("click", sort);
    header.addEventListener("keydown", (event) => { if (event.key === "Enter") sort(); });
  });
}

function makeFilterable(input) {
  const table = document.getElementById(input.dataset.filter);
  input.addEventListener("input", () => {
    const words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    Array.from(table.tBodies[0].rows).forEach((row) => {
      const text = row.textContent.toLowerCase();
      row.hidden = !words.every((word) => text.includes(word));
    });
  });
}

function drawPlots() {
  if (typeof Plotly === "undefined") return;
  document.querySelectorAll("script[data-plot]").forEach((source) => {
    const spec = JSON.parse(source.textContent);
    const target = document.getElementById(source.dataset.plot);
    const name = source.dataset.plot;
    const svg = {
      name: "Download as SVG",
      icon: Plotly.Icons.disk,
      click: (graph) => Plotly.downloadImage(graph, { format: "svg", filename: name }),
    };
    Plotly.newPlot(target, spec.data, spec.layout, {
      responsive: true,
      displaylogo: false,
      toImageButtonOptions: { format: "png", filename: name, scale: 2 },
      modeBarButtonsToAdd: [svg],
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("table.sortable").forEach(makeSortable);
  document.querySelectorAll("input.filter").forEach(makeFilterable);
  drawPlots();
});
