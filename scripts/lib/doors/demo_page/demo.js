// The demo page: send a photo to the demo server's /api/detect, draw what comes back.
//
// The threshold is applied here, on an answer asked for with threshold=0: detections come best
// first, so those scoring at least t are exactly what the server answers for threshold=t.
// A class filter or another mode changes which detections the network keeps: those re-ask.
"use strict";

const PALETTE = ["#e6194b", "#3cb44b", "#ffe119", "#0082c8", "#f58231", "#911eb4", "#46f0f0",
                 "#f032e6", "#d2f53c", "#008080"];
const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const state = { file: null, answer: null, url: null };

function colour(classId) { return PALETTE[classId % PALETTE.length]; }

function showError(message) {
  const error = $("error");
  error.textContent = message;
  error.hidden = !message;
  // an error is the answer now: the previous answer's time no longer describes anything shown
  if (message) { $("latency").textContent = ""; }
}

function settingsFromQuery() {
  const query = new URLSearchParams(window.location.search);
  const threshold = Number.parseFloat(query.get("threshold"));
  if (Number.isFinite(threshold) && threshold >= 0 && threshold <= 1) {
    $("threshold").value = String(threshold);
  }
  const mode = query.get("mode");
  if (mode && [...$("mode").options].some((option) => option.value === mode)) {
    $("mode").value = mode;
  }
  if (query.get("classes")) { $("classes").value = query.get("classes"); }
  $("threshold-value").textContent = Number($("threshold").value).toFixed(2);
}

function shareSettingsInUrl() {
  const query = new URLSearchParams();
  query.set("threshold", $("threshold").value);
  query.set("mode", $("mode").value);
  if ($("classes").value.trim()) { query.set("classes", $("classes").value.trim()); }
  window.history.replaceState(null, "", `?${query}`);
}

async function detect() {
  if (!state.file) { return; }
  const query = new URLSearchParams({ threshold: "0", mode: $("mode").value });
  const classes = $("classes").value.trim();
  if (classes) { query.set("classes", classes); }
  $("status").textContent = `Detecting in ${state.file.name || "the pasted image"}…`;
  const started = performance.now();
  let response;
  try {
    response = await fetch(`api/detect?${query}`, {
      method: "POST",
      headers: { "Content-Type": state.file.type || "application/x-image" },
      body: state.file,
    });
  } catch (error) {
    showError(`The demo server cannot be reached: ${error.message}`);
    $("status").textContent = "No answer.";
    return;
  }
  const elapsed = performance.now() - started;
  let document_;
  try {
    document_ = await response.json();
  } catch (error) {
    showError(`The server answered ${response.status} with something that is not JSON.`);
    return;
  }
  if (!response.ok) {
    const detail = document_.error || {};
    showError(`${detail.code || response.status}: ${detail.message || "the request failed"}`);
    $("status").textContent = "No detections.";
    state.answer = null;
    render();
    return;
  }
  showError("");
  state.answer = document_;
  const timing = response.headers.get("Server-Timing");
  $("latency").textContent = `Answered in ${elapsed.toFixed(0)} ms` +
    (timing ? ` (${timing.replace(/;dur=/g, " ").replace(/\.\d+/g, "")} ms)` : "");
  render();
  showLatency();
}

// The server's own histogram of whole-request latency (its /metrics, through the demo server):
// a bar per bucket, from the fastest to the slowest bucket holding a request.
async function showLatency() {
  let histogram;
  try {
    const response = await fetch("api/latency");
    if (!response.ok) { return; }  // a SageMaker endpoint, or metrics turned off
    histogram = await response.json();
  } catch (error) {
    return;
  }
  const used = histogram.buckets.filter(([, requests]) => requests > 0);
  if (!used.length) { return; }
  const first = histogram.buckets.findIndex(([, requests]) => requests > 0);
  const last = histogram.buckets.findLastIndex(([, requests]) => requests > 0);
  const shown = histogram.buckets.slice(Math.max(0, first - 1), last + 1);
  const most = Math.max(...shown.map(([, requests]) => requests));
  const bars = $("latency-bars");
  bars.replaceChildren();
  for (const [bound, requests] of shown) {
    const bar = document.createElement("div");
    bar.dataset.testid = "latency-bar";
    bar.dataset.requests = String(requests);
    bar.style.height = `${(100 * requests) / most}%`;
    bar.title = `${requests} request(s) up to ${bound === null ? "∞" : bound} s`;
    const label = document.createElement("span");
    label.textContent = bound === null ? "more" : `≤${bound}s`;
    bar.append(label);
    bars.append(bar);
  }
  const mean = histogram.count ? (1000 * histogram.sum) / histogram.count : 0;
  $("latency-summary").textContent =
    `The server's own latency: ${histogram.count} request(s), mean ${mean.toFixed(0)} ms`;
  $("latency-chart").hidden = false;
}

function visibleDetections() {
  if (!state.answer) { return []; }
  const threshold = Number($("threshold").value);
  return state.answer.detections.filter((detection) => detection.score >= threshold);
}

function render() {
  const list = $("detections");
  const boxes = $("boxes");
  list.replaceChildren();
  boxes.replaceChildren();
  const detections = visibleDetections();
  if (state.answer) {
    const { width, height } = state.answer.image;
    boxes.setAttribute("viewBox", `0 0 ${width} ${height}`);
    $("status").textContent =
      `${detections.length} detection(s) at a score of ${Number($("threshold").value).toFixed(2)} ` +
      `or more, in ${width}x${height}`;
  }
  const labels = new Set();
  for (const detection of detections) {
    const { xmin, ymin, xmax, ymax } = detection.box;
    const rect = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    rect.setAttribute("x", xmin);
    rect.setAttribute("y", ymin);
    rect.setAttribute("width", Math.max(0, xmax - xmin));
    rect.setAttribute("height", Math.max(0, ymax - ymin));
    rect.setAttribute("stroke", colour(detection.class_id));
    const caption = document.createElementNS("http://www.w3.org/2000/svg", "text");
    caption.setAttribute("x", xmin + 4);
    caption.setAttribute("y", Math.max(14, ymin + 16));
    caption.textContent = `${detection.label} ${detection.score.toFixed(2)}`;
    // best first in the list, but drawn last, so an overlapped box never hides a better one
    boxes.prepend(rect, caption);

    const item = document.createElement("li");
    item.dataset.testid = "detection";
    item.dataset.label = detection.label;
    item.dataset.score = String(detection.score);
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = colour(detection.class_id);
    const box = document.createElement("span");
    box.className = "box";
    box.textContent = `(${xmin.toFixed(0)}, ${ymin.toFixed(0)}) – (${xmax.toFixed(0)}, ` +
      `${ymax.toFixed(0)})`;
    item.append(swatch, `${detection.label} ${detection.score.toFixed(3)}`, box);
    list.append(item);
    labels.add(detection.label);
  }
  const seen = $("classes").list;
  for (const label of labels) {
    if (![...seen.options].some((option) => option.value === label)) {
      const option = document.createElement("option");
      option.value = label;
      seen.append(option);
    }
  }
}

function choose(file) {
  if (!file) { return; }
  state.file = file;
  if (state.url) { URL.revokeObjectURL(state.url); }
  state.url = URL.createObjectURL(file);
  const photo = $("photo");
  photo.hidden = false;
  photo.src = state.url;
  state.answer = null;
  render();
  detect();
}

$("file").addEventListener("change", (event) => choose(event.target.files[0]));
$("threshold").addEventListener("input", () => {
  $("threshold-value").textContent = Number($("threshold").value).toFixed(2);
  shareSettingsInUrl();
  render();
});
$("mode").addEventListener("change", () => { shareSettingsInUrl(); detect(); });
$("classes").addEventListener("change", () => { shareSettingsInUrl(); detect(); });
document.addEventListener("dragover", (event) => {
  event.preventDefault();
  document.body.classList.add("dragging");
});
document.addEventListener("dragleave", () => document.body.classList.remove("dragging"));
document.addEventListener("drop", (event) => {
  event.preventDefault();
  document.body.classList.remove("dragging");
  choose(event.dataTransfer.files[0]);
});
document.addEventListener("paste", (event) => {
  const item = [...event.clipboardData.items].find((entry) => entry.kind === "file");
  if (item) { choose(item.getAsFile()); }
});

settingsFromQuery();
fetch("api/info").then((response) => response.json()).then((info) => {
  $("target").textContent = info.target;
}).catch(() => showError("The demo server cannot be reached."));
