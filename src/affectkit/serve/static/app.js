// The upload page: POST /api/jobs, progress from /api/jobs/{id}/events (server-sent events),
// then the result from /api/jobs/{id}. It uses the API only.
const $ = (id) => document.getElementById(id);
const drop = $("drop"), input = $("file");
let chosen = null;

function choose(file) {
  chosen = file || null;
  $("chosen").textContent = chosen ? `${chosen.name} (${(chosen.size / 1e6).toFixed(2)} MB)` : "";
  $("go").disabled = !chosen;
}
drop.addEventListener("click", () => input.click());
input.addEventListener("change", () => choose(input.files[0]));
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); choose(e.dataTransfer.files[0]); });

function status(text, error) {
  const s = $("status");
  s.textContent = text;
  s.className = error ? "error" : "";
}

function upload(form) {
  // XMLHttpRequest for the upload's own progress
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/jobs");
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) { $("progress").max = e.total; $("progress").value = e.loaded; }
      status(`uploading ${(e.loaded / 1e6).toFixed(1)} MB`);
    };
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = { detail: xhr.statusText }; }
      if (xhr.status === 202) resolve(body); else reject(new Error(`${xhr.status}: ${body.detail}`));
    };
    xhr.onerror = () => reject(new Error("the upload failed (connection)"));
    xhr.send(form);
  });
}

function follow(job) {
  return new Promise((resolve, reject) => {
    const events = new EventSource(job.events);
    events.onmessage = (e) => {
      const s = JSON.parse(e.data);
      const bar = $("progress");
      if (s.total) { bar.max = s.total; bar.value = s.done; } else { bar.removeAttribute("value"); }
      status(s.state === "drawing" ? "drawing the pictures" :
             `${s.state}: ${s.done}${s.total ? " of " + s.total : ""} frames`);
      if (s.state === "done") { events.close(); resolve(); }
      if (s.state === "failed") { events.close(); reject(new Error(`${s.status}: ${s.error}`)); }
    };
    events.onerror = () => { events.close(); reject(new Error("lost the progress stream")); };
  });
}

const CAPTIONS = {
  timeline: "Valence and arousal over time per track, with the expression strip",
  circumplex: "Valence–arousal circumplex with each track's path",
  video_va: "Valence and arousal over the video",
  correlation: "Correlation of per-frame expression scores",
  annotated: "Annotated media",
  gradcam: "Grad-CAM per face: where the model looked (Selvaraju et al. 2017)",
};

function show(result) {
  $("result").hidden = false;
  $("title").textContent = result.source;
  const s = result.summary;
  $("summary").textContent = `${s.rows} rows, ${s.frames} frames, ${s.faces} faces, ${s.tracks} tracks` +
    (s.notes.length ? "; " + s.notes.join("; ") : "");
  for (const k of ["csv", "parquet", "json"]) $("dl-" + k).href = result.files[k];
  const plots = $("plots");
  plots.innerHTML = "";
  for (const key of ["annotated", "timeline", "circumplex", "video_va", "gradcam", "correlation"]) {
    const url = result.files[key];
    if (!url) continue;
    const fig = document.createElement("figure");
    fig.dataset.plot = key;
    let el;
    if (url.endsWith(".mp4")) {
      el = document.createElement("video");
      el.controls = true; el.muted = true; el.loop = true; el.autoplay = true;
    } else {
      el = document.createElement("img");
      el.alt = CAPTIONS[key];
    }
    el.src = url;
    const cap = document.createElement("figcaption");
    cap.textContent = CAPTIONS[key];
    fig.append(el, cap);
    plots.append(fig);
  }
  const cols = result.columns.filter((c) => !c.startsWith("landmark_"));
  const table = document.createElement("table");
  table.id = "table";
  table.innerHTML = "<thead><tr>" + cols.map((c) => `<th>${c}</th>`).join("") + "</tr></thead>";
  const body = document.createElement("tbody");
  for (const row of result.preview) {
    const tr = document.createElement("tr");
    for (const c of cols) {
      const td = document.createElement("td");
      const v = row[c];
      td.textContent = v === null || v === undefined ? "" : (typeof v === "number" && !Number.isInteger(v) ? v.toFixed(3) : v);
      tr.append(td);
    }
    body.append(tr);
  }
  table.append(body);
  $("preview").innerHTML = "";
  $("preview").append(table);
}

$("form").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (!chosen) return;
  const form = new FormData();
  form.append("file", chosen, chosen.name);
  for (const k of ["detector", "every", "smooth"]) form.append(k, $(k).value);
  $("go").disabled = true;
  $("result").hidden = true;
  $("progress").hidden = false;
  try {
    const job = await upload(form);
    await follow(job);
    const result = await (await fetch(job.result)).json();
    show(result);
    status("done");
  } catch (err) {
    status(err.message, true);
  } finally {
    $("go").disabled = false;
    $("progress").hidden = true;
  }
});
