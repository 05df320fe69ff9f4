// The nas dashboard: studies with progress; per study the Pareto scatter (any two
// objectives, hover shows the trial's number and parameters, the front highlighted),
// hypervolume over trials and the trial table. Refreshes while a study runs.
"use strict";

const REFRESH_MS = Number(document.body.dataset.refreshMs) || 2000;
const NEEDS_TOKEN = document.body.dataset.needsToken === "true";
const state = { studies: [], selected: null, x: 0, y: 1, timer: null };

function headers() {
  const tok = sessionStorage.getItem("nas-token");
  return tok ? { Authorization: "Bearer " + tok } : {};
}

async function api(path) {
  const r = await fetch(path, { headers: headers() });
  if (r.status === 401 || r.status === 403) {
    document.getElementById("token-form").hidden = false;
    throw new Error("the API needs a token");
  }
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}

function esc(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

function fmt(v) {
  return typeof v === "number" ? Number(v.toPrecision(5)).toString() : String(v);
}

function paramText(params) {
  return Object.entries(params).map(([k, v]) => k + "=" + fmt(v)).join(", ");
}

function renderStudies() {
  const body = document.querySelector("#studies tbody");
  body.innerHTML = state.studies.map((s) => {
    const pct = Math.round(100 * s.progress);
    const sel = s.name === state.selected ? " class=\"selected\"" : "";
    return `<tr data-study="${esc(s.name)}"${sel}><td>${esc(s.name)}</td><td>${esc(s.space)}</td>` +
      `<td class="state-${s.state}">${s.state}</td><td><span class="bar"><i style="width:${pct}%"></i></span> ` +
      `${s.complete} / ${s.budget}</td></tr>`;
  }).join("");
  body.querySelectorAll("tr").forEach((tr) => tr.addEventListener("click", () => select(tr.dataset.study)));
}

function select(name) {
  state.selected = name;
  location.hash = "study=" + encodeURIComponent(name);
  renderStudies();
  refreshStudy();
}

function fillAxes(study) {
  const xs = document.getElementById("x-obj"), ys = document.getElementById("y-obj");
  const names = study.objectives.map((o) => o.name + (o.direction === "min" ? " ↓" : " ↑"));
  if (xs.options.length !== names.length || xs.dataset.study !== study.name) {
    xs.dataset.study = study.name;
    xs.innerHTML = ys.innerHTML = names.map((n, i) => `<option value="${i}">${esc(n)}</option>`).join("");
    state.x = 0;
    state.y = Math.min(1, names.length - 1);
  }
  xs.value = state.x;
  ys.value = state.y;
}

function scatterTrace(trials, objs, name, marker) {
  const x = objs[state.x].name, y = objs[state.y].name;
  return {
    type: "scatter", mode: "markers", name, marker,
    x: trials.map((t) => t.values[x]), y: trials.map((t) => t.values[y]),
    text: trials.map((t) => `trial #${t.number}<br>${esc(paramText(t.params))}`),
    hovertemplate: "%{text}<br>" + esc(x) + "=%{x}<br>" + esc(y) + "=%{y}<extra></extra>",
  };
}

function drawPareto(study, trials, front) {
  const objs = study.objectives;
  const onFront = new Set(front.map((t) => t.number));
  const rest = trials.filter((t) => t.values && !onFront.has(t.number));
  const sorted = [...front].sort((a, b) => a.values[objs[state.x].name] - b.values[objs[state.x].name]);
  const traces = [
    scatterTrace(rest, objs, "trials", { color: "#9ca3af", size: 6 }),
    scatterTrace(sorted, objs, "Pareto front", { color: "#dc2626", size: 9, line: { color: "#7f1d1d", width: 1 } }),
  ];
  const layout = {
    title: { text: "Pareto front" }, hovermode: "closest", margin: { t: 40, r: 10 },
    xaxis: { title: { text: objs[state.x].name } }, yaxis: { title: { text: objs[state.y].name } },
    legend: { orientation: "h" },
  };
  Plotly.react("pareto", traces, layout, { displaylogo: false });
  document.getElementById("front-size").textContent = `${front.length} trial(s) on the front`;
}

function drawHypervolume(hv) {
  const trace = {
    type: "scatter", mode: "lines+markers", x: hv.history.map((_, i) => i + 1),
    y: hv.history.map((p) => p.hypervolume), text: hv.history.map((p) => "trial #" + p.number),
    hovertemplate: "%{text}<br>hypervolume=%{y}<extra></extra>",
  };
  const layout = { title: { text: "Hypervolume over trials" }, margin: { t: 40, r: 10 },
    xaxis: { title: { text: "complete trials" } }, yaxis: { title: { text: "hypervolume" } } };
  Plotly.react("hv", [trace], layout, { displaylogo: false });
}

function drawTrials(study, page) {
  const objs = study.objectives.map((o) => o.name);
  document.querySelector("#trials thead").innerHTML =
    "<tr><th>#</th><th>state</th>" + objs.map((o) => `<th>${esc(o)}</th>`).join("") + "<th>params</th></tr>";
  document.querySelector("#trials tbody").innerHTML = page.trials.map((t) =>
    `<tr><td>${t.number}</td><td>${t.state}${t.is_pareto ? " ★" : ""}</td>` +
    objs.map((o) => `<td>${t.values ? fmt(t.values[o]) : ""}</td>`).join("") +
    `<td class="params">${esc(paramText(t.params))}</td></tr>`).join("");
  document.getElementById("trial-count").textContent = `(latest ${page.trials.length} of ${page.total})`;
}

async function refreshStudy() {
  const name = state.selected;
  if (!name) return;
  const base = "/studies/" + encodeURIComponent(name);
  const [study, done, front, hv, latest] = await Promise.all([
    api(base), api(base + "/trials?state=complete&order=desc&limit=5000"), api(base + "/pareto"),
    api(base + "/hypervolume"), api(base + "/trials?order=desc&limit=100"),
  ]);
  if (name !== state.selected) return;
  document.getElementById("detail").hidden = false;
  document.getElementById("study-name").textContent = `${study.name} — ${study.state}, ${study.complete} / ${study.budget}`;
  fillAxes(study);
  drawPareto(study, done.trials, front);
  drawHypervolume(hv);
  drawTrials(study, latest);
}

async function refresh() {
  try {
    state.studies = await api("/studies");
    if (!state.selected) {
      const m = /study=([^&]+)/.exec(location.hash);
      if (m) state.selected = decodeURIComponent(m[1]);
    }
    renderStudies();
    await refreshStudy();
    const running = state.studies.some((s) => s.state === "running" || s.state === "stopping");
    document.getElementById("status").textContent =
      `${state.studies.length} studies` + (running ? " · refreshing while studies run" : "") +
      " · updated " + new Date().toLocaleTimeString();
    schedule(running ? REFRESH_MS : REFRESH_MS * 5);
  } catch (e) {
    document.getElementById("status").textContent = e.message;
    schedule(REFRESH_MS * 2);
  }
}

function schedule(ms) {
  clearTimeout(state.timer);
  state.timer = setTimeout(refresh, ms);
}

document.getElementById("x-obj").addEventListener("change", (e) => { state.x = Number(e.target.value); refreshStudy(); });
document.getElementById("y-obj").addEventListener("change", (e) => { state.y = Number(e.target.value); refreshStudy(); });
document.getElementById("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem("nas-token", document.getElementById("token").value);
  document.getElementById("token-form").hidden = true;
  refresh();
});
if (NEEDS_TOKEN && !sessionStorage.getItem("nas-token")) document.getElementById("token-form").hidden = false;
refresh();
