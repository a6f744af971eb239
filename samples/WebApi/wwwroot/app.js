// The page's script: POST /score with the chosen file and draw the timeline; GET a user's recommendations and
// record plays (POST /users/{id}/plays), after which the list comes from fold-in.
"use strict";

const $ = id => document.getElementById(id);
const svgNs = "http://www.w3.org/2000/svg";

async function readError(response) {
  try { return (await response.json()).error ?? response.statusText; } catch { return response.statusText; }
}

function svg(tag, attributes, text) {
  const element = document.createElementNS(svgNs, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

// One bar per window (the window's start on the x axis), height = preference 0..1; the best window highlighted.
function drawTimeline(result) {
  const width = 720, height = 220, left = 36, bottom = 28, top = 10;
  const n = result.timeline.length;
  const barWidth = (width - left - 10) / Math.max(n, 1);
  const chart = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, id: "timeline-chart", role: "img",
    "aria-label": "preference per window" });
  const plotHeight = height - top - bottom;
  for (const tick of [0, 0.5, 1]) {
    const y = top + plotHeight * (1 - tick);
    chart.append(svg("line", { x1: left, x2: width - 10, y1: y, y2: y, stroke: "#ddd" }));
    chart.append(svg("text", { x: 4, y: y + 4 }, tick.toFixed(1)));
  }
  const bestIndex = Math.round(result.bestWindowStartSeconds / result.hopSeconds);
  result.timeline.forEach((value, i) => {
    const start = i * result.hopSeconds;
    const best = i === bestIndex;
    const bar = svg("rect", {
      x: left + i * barWidth + 1, y: top + plotHeight * (1 - value), width: Math.max(barWidth - 2, 1),
      height: plotHeight * value, fill: best ? "#f28e2b" : "#4e79a7", "data-start": start,
      class: best ? "window best" : "window" });
    bar.append(svg("title", {}, `${start}-${start + result.windowSeconds} s: ${value.toFixed(3)}`));
    chart.append(bar);
    if (i % 2 === 0 || best) chart.append(svg("text", { x: left + i * barWidth + 2, y: height - 10 }, `${start}s`));
  });
  $("timeline").replaceChildren(chart);
}

$("score-form").addEventListener("submit", async event => {
  event.preventDefault();
  const file = $("file").files[0];
  if (!file) { $("score-status").textContent = "Choose an audio file first."; return; }
  $("score-status").className = "";
  $("score-status").textContent = `Scoring ${file.name} ...`;
  $("score-result").hidden = true;
  const form = new FormData();
  form.append("file", file);
  const response = await fetch("score", { method: "POST", body: form });
  if (!response.ok) {
    $("score-status").className = "error";
    $("score-status").textContent = `${response.status}: ${await readError(response)}`;
    return;
  }
  const result = await response.json();
  $("score").textContent = result.score.toFixed(3);
  $("duration").textContent = result.durationSeconds.toFixed(1);
  $("best-window").textContent = String(result.bestWindowStartSeconds);
  $("best-window-end").textContent = String(result.bestWindowStartSeconds + result.windowSeconds);
  drawTimeline(result);
  $("score-result").hidden = false;
  $("score-status").textContent = `Scored ${result.fileName}.`;
});

async function recommend() {
  const user = $("user").value.trim();
  const status = $("user-status");
  status.className = "";
  const response = await fetch(`users/${encodeURIComponent(user)}/recommendations?k=${encodeURIComponent($("k").value)}`);
  if (!response.ok) {
    status.className = "error";
    status.textContent = `${response.status}: ${await readError(response)}`;
    $("recommendations").hidden = true;
    return;
  }
  const result = await response.json();
  status.textContent = result.source === "fold-in"
    ? `From ${user}'s ${result.recordedSongs} recorded song${result.recordedSongs === 1 ? "" : "s"} (fold-in, no retraining).`
    : `From ${user}'s vector in the model.`;
  const rows = result.recommendations.map(r => {
    const row = document.createElement("tr");
    for (const text of [r.songId, r.score.toFixed(3), `${r.bestWindowStartSeconds}-${r.bestWindowStartSeconds + r.windowSeconds} s`, r.cold ? "yes" : ""]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    const button = document.createElement("button");
    button.textContent = "I played this";
    button.addEventListener("click", async () => {
      const posted = await fetch(`users/${encodeURIComponent(user)}/plays`, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify([{ songId: r.songId, plays: 1 }]) });
      if (!posted.ok) { status.className = "error"; status.textContent = `${posted.status}: ${await readError(posted)}`; return; }
      await recommend();
    });
    const cell = document.createElement("td");
    cell.append(button);
    row.append(cell);
    return row;
  });
  $("recommendations").tBodies[0].replaceChildren(...rows);
  $("recommendations").hidden = false;
}

$("user-form").addEventListener("submit", event => { event.preventDefault(); recommend(); });
