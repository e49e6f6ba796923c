// conveyor's dashboard: plain JavaScript over the JSON API and its event stream.
// Every value from a job is put in the page with textContent, never as HTML.
"use strict";

const STATUSES = ["pending", "scheduled", "processing", "completed", "failed", "cancelled"];
const PAGE = 50;
const token = sessionStorage.getItem("conveyor-token");
const state = { status: "pending", offset: 0, name: "", perSecond: new Map() };

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

async function api(path, options = {}) {
  const headers = { "X-Conveyor-Request": "1", ...(options.headers || {}) };
  if (token) headers.Authorization = `Bearer ${token}`;
  const answer = await fetch(`api/${path}`, { ...options, headers });
  if (answer.status === 401) {
    const given = prompt("This conveyor server needs its token:");
    if (given) { sessionStorage.setItem("conveyor-token", given); location.reload(); }
  }
  if (answer.status === 204) return null;
  const body = await answer.json();
  if (!answer.ok) throw new Error(body.error ? body.error.message : answer.statusText);
  return body;
}

function say(text) { document.getElementById("message").textContent = text; }

function show(view) {
  for (const section of document.querySelectorAll("main > section")) section.hidden = section.id !== view;
  for (const link of document.querySelectorAll("nav a")) {
    link.classList.toggle("active", link.dataset.view === view || (view === "job" && link.dataset.view === "jobs"));
  }
}

function when(iso) { return iso ? new Date(iso).toLocaleString() : "–"; }

// -- overview ---------------------------------------------------------------------------

async function renderCounts() {
  const stats = await api("stats");
  document.getElementById("queue-name").textContent = stats.queue;
  const counts = document.getElementById("counts");
  counts.replaceChildren(...STATUSES.map((status) =>
    el("a", { class: `count ${status}`, href: `#/jobs/${status}`, "data-status": status },
       el("b", { text: String(stats[status]) }), el("span", { text: status }))));
}

async function renderWorkers() {
  const workers = await api("workers");
  document.getElementById("worker-rows").replaceChildren(...workers.map((w) => el("tr", { "data-worker-id": w.id },
    el("td", { class: "mono", text: `${w.host}:${w.pid}` }),
    el("td", { text: w.queues.join(", ") }),
    el("td", { text: `${w.running.length} / ${w.concurrency}` }),
    el("td", {}, ...w.running.slice(0, 5).flatMap((id) => [el("a", { href: `#/job/${id}`, class: "mono", text: id }), " "])),
    el("td", { text: when(w.started_at) }),
    el("td", { text: when(w.seen_at) }))));
}

function renderChart() {
  const svg = document.getElementById("chart");
  const now = Math.floor(Date.now() / 1000);
  const seconds = 120;
  let top = 1;
  for (let s = now - seconds; s <= now; s++) {
    const bucket = state.perSecond.get(s);
    if (bucket) top = Math.max(top, bucket.completed + bucket.failed);
  }
  const width = 600 / seconds;
  const bars = [];
  for (let i = 0; i < seconds; i++) {
    const bucket = state.perSecond.get(now - seconds + 1 + i) || { completed: 0, failed: 0 };
    const done = (bucket.completed / top) * 115;
    const failed = (bucket.failed / top) * 115;
    const x = i * width;
    bars.push(`<rect x="${x}" y="${120 - done}" width="${width - 1}" height="${done}" fill="#4cc38a"/>`);
    bars.push(`<rect x="${x}" y="${120 - done - failed}" width="${width - 1}" height="${failed}" fill="#ef5b5b"/>`);
  }
  svg.innerHTML = bars.join("");  // numbers only: no job data goes into this markup
  for (const key of state.perSecond.keys()) if (key < now - seconds) state.perSecond.delete(key);
}

// -- jobs -----------------------------------------------------------------------------------

async function renderJobs() {
  const tabs = document.getElementById("status-tabs");
  tabs.replaceChildren(...STATUSES.map((status) => {
    const button = el("button", { text: status, class: status === state.status ? "active" : "" });
    button.onclick = () => { location.hash = `#/jobs/${status}`; };
    return button;
  }));
  const rows = document.getElementById("job-rows");
  let jobs = [];
  let scanned = 0;
  // A name filter looks through pages of this status until a page of matches is full.
  for (let offset = state.offset; jobs.length < PAGE && scanned < 5000; offset += 500) {
    const limit = state.name ? 500 : PAGE;
    const page = await api(`jobs?status=${state.status}&limit=${limit}&offset=${offset}`);
    jobs.push(...page.jobs.filter((job) => !state.name || job.name === state.name));
    scanned += limit;
    if (!state.name || page.jobs.length < limit) break;
  }
  jobs = jobs.slice(0, PAGE);
  rows.replaceChildren(...jobs.map((job) => el("tr", { "data-job-id": job.id },
    el("td", { class: "mono" }, el("a", { href: `#/job/${job.id}`, text: job.id })),
    el("td", { text: job.name }),
    el("td", {}, el("span", { class: `status ${job.status}`, text: job.status })),
    el("td", { text: String(job.attempts) }),
    el("td", { text: when(job.created_at) }),
    el("td", { text: (job.error || "").split("\n")[0].slice(0, 80) }))));
  document.getElementById("page").textContent =
    `${state.offset + 1}–${state.offset + jobs.length}`;
}

async function renderJob(id) {
  let job;
  try { job = await api(`jobs/${encodeURIComponent(id)}`); } catch (error) { say(error.message); return; }
  document.getElementById("job-title").textContent = `${job.name} · ${job.id}`;
  const fields = document.getElementById("job-fields");
  const rows = [["status", job.status], ["queue", job.queue], ["priority", job.priority],
    ["attempts", `${job.attempts} of ${job.max_retries + 1}`], ["timeout", job.timeout === null ? "none" : `${job.timeout} s`],
    ["created", when(job.created_at)], ["scheduled", when(job.scheduled_at)],
    ["started", when(job.started_at)], ["finished", when(job.completed_at)]];
  fields.replaceChildren(...rows.flatMap(([key, value]) => [el("dt", { text: key }), el("dd", { text: String(value) })]));
  fields.querySelector("dd").id = "job-status";
  document.getElementById("job-payload").textContent = JSON.stringify(job.payload, null, 2);
  document.getElementById("job-result").textContent = job.result === null ? "–" : JSON.stringify(job.result, null, 2);
  document.getElementById("job-error").textContent = job.traceback || job.error || "–";
  document.getElementById("job-progress-bar").style.width = `${job.progress_percent || 0}%`;
  document.getElementById("job-progress-message").textContent = job.progress_message || "";
  const act = (button, path, method = "POST") => {
    document.getElementById(button).onclick = async () => {
      try {
        await api(path, { method });
        say(`${button.replace("job-", "")}: done`);
        if (method === "DELETE") location.hash = `#/jobs/${job.status}`; else renderJob(job.id);
      } catch (error) { say(error.message); }
    };
  };
  act("job-retry", `jobs/${job.id}/retry`);
  act("job-cancel", `jobs/${job.id}/cancel`);
  act("job-delete", `jobs/${job.id}`, "DELETE");
}

// -- schedules --------------------------------------------------------------------------

async function renderSchedules() {
  const found = await api("schedules");
  document.getElementById("schedule-rows").replaceChildren(...found.map((s) => {
    const toggle = el("button", { text: s.paused ? "Resume" : "Pause" });
    toggle.onclick = async () => {
      await api(`schedules/${encodeURIComponent(s.key)}/${s.paused ? "resume" : "pause"}`, { method: "POST" });
      renderSchedules();
    };
    return el("tr", {}, el("td", { text: s.key }), el("td", { text: s.name }),
      el("td", { class: "mono", text: s.schedule }), el("td", { text: s.timezone }),
      el("td", { text: when(s.next_run) }), el("td", { text: when(s.last_run) }),
      el("td", { text: s.paused ? "paused" : s.stale ? "stale" : "active" }), el("td", {}, toggle));
  }));
}

// -- routing and live updates -------------------------------------------------------------

async function route() {
  const [, view, arg] = location.hash.replace(/^#\/?/, "#/").split("/");
  say("");
  try {
    if (view === "jobs") {
      state.status = STATUSES.includes(arg) ? arg : "pending";
      show("jobs"); await renderJobs();
    } else if (view === "job" && arg) {
      show("job"); await renderJob(decodeURIComponent(arg));
    } else if (view === "schedules") {
      show("schedules"); await renderSchedules();
    } else {
      show("overview"); await renderCounts(); renderChart(); await renderWorkers();
    }
  } catch (error) { say(error.message); }
}

let refresh = null;
function refreshSoon() {
  if (refresh) return;
  refresh = setTimeout(() => { refresh = null; route(); }, 250);
}

async function follow() {
  // The event stream through fetch (not EventSource), so that a token can go along.
  let last = null;
  for (;;) {
    try {
      const headers = token ? { Authorization: `Bearer ${token}` } : {};
      if (last) headers["Last-Event-ID"] = last;
      const answer = await fetch("api/events", { headers });
      document.getElementById("live").classList.add("on");
      const reader = answer.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = {};
          for (const line of block.split("\n")) {
            const split = line.indexOf(": ");
            if (split > 0) event[line.slice(0, split)] = line.slice(split + 2);
          }
          if (event.event) { last = event.id; onEvent(event.event, JSON.parse(event.data)); }
        }
      }
    } catch (error) { /* reconnect below */ }
    document.getElementById("live").classList.remove("on");
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function onEvent(name, job) {
  const second = Math.floor(Date.now() / 1000);
  if (name === "job:completed" || name === "job:failed") {
    const bucket = state.perSecond.get(second) || { completed: 0, failed: 0 };
    bucket[name === "job:completed" ? "completed" : "failed"] += 1;
    state.perSecond.set(second, bucket);
  }
  const recent = document.getElementById("recent");
  recent.prepend(el("li", { text: `${new Date().toLocaleTimeString()}  ${name}  ${job.name}  ${job.id}` }));
  while (recent.children.length > 20) recent.lastChild.remove();
  refreshSoon();
}

window.addEventListener("hashchange", route);
document.getElementById("search").onsubmit = (event) => {
  event.preventDefault();
  const id = document.getElementById("search-id").value.trim();
  if (id) { location.hash = `#/job/${encodeURIComponent(id)}`; return; }
  state.name = document.getElementById("search-name").value.trim();
  state.offset = 0;
  renderJobs();
};
document.getElementById("prev").onclick = () => { state.offset = Math.max(0, state.offset - PAGE); renderJobs(); };
document.getElementById("next").onclick = () => { state.offset += PAGE; renderJobs(); };
document.getElementById("retry-failed").onclick = async () => {
  const done = await api("jobs/retry-failed", { method: "POST" }); say(`${done.count} job(s) retried`); route();
};
document.getElementById("clear-completed").onclick = async () => {
  const done = await api("jobs/clear-completed", { method: "POST" }); say(`${done.count} job(s) deleted`); route();
};
setInterval(() => { if (!document.getElementById("overview").hidden) renderChart(); }, 1000);
setInterval(() => { if (!document.getElementById("overview").hidden) renderWorkers().catch(() => {}); }, 5000);
route();
follow();
