// The live page: camera frames (getUserMedia) as JPEG over the WebSocket /api/live.
// The next frame is sent only after the answer to the previous one, so when the
// server falls behind, frames are dropped here and the rate reached is shown.
const $ = (id) => document.getElementById(id);
const COLOURS = { anger: "#d62728", disgust: "#8c564b", fear: "#9467bd", happiness: "#f2b701",
                  sadness: "#1f77b4", surprise: "#17becf", neutral: "#7f7f7f" };
const EXPRESSIONS = Object.keys(COLOURS);
const WINDOW_S = 30;
let stream = null, socket = null, running = false;
let session = [];      // rows of the table, for "save session"
let history = [];      // {t, valence, arousal} of the first face, for the chart
let answered = [];     // arrival times of answers, for the frame rate
const grab = document.createElement("canvas");

function status(text, error) { $("status").textContent = text; $("status").className = error ? "error" : ""; }

async function start() {
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (err) { status("no camera: " + err.message, true); return; }
  const video = $("video");
  video.srcObject = stream;
  await new Promise((r) => (video.readyState >= 2 ? r() : (video.onloadeddata = r)));
  const proto = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${proto}://${location.host}/api/live?detector=${$("detector").value}`);
  socket.onopen = () => { running = true; status("running"); send(); };
  socket.onmessage = (e) => { receive(JSON.parse(e.data)); if (running) send(); };
  socket.onclose = (e) => {
    const wasRunning = running;
    running = false;
    if (e.code === 1013) status(e.reason || "server busy", true);
    else if (wasRunning || e.code === 1006) status(`the connection closed (code ${e.code})`, true);
  };
  $("start").disabled = true; $("stop").disabled = false; $("save").disabled = false;
}

function stop() {
  running = false;
  if (socket) socket.close();
  if (stream) stream.getTracks().forEach((t) => t.stop());
  $("start").disabled = false; $("stop").disabled = true;
  status("stopped");
}

function send() {
  const video = $("video");
  grab.width = video.videoWidth; grab.height = video.videoHeight;
  grab.getContext("2d").drawImage(video, 0, 0);
  grab.toBlob((blob) => { if (running && socket.readyState === 1) socket.send(blob); }, "image/jpeg", 0.8);
}

function receive(answer) {
  if (answer.error) { status(answer.error, true); return; }
  const now = performance.now() / 1000;
  answered.push(now);
  answered = answered.filter((t) => now - t <= 3);
  const fps = answered.length > 1 ? (answered.length - 1) / (answered[answered.length - 1] - answered[0]) : 0;
  $("fps").textContent = fps.toFixed(1); $("fps").dataset.fps = fps.toFixed(2);
  $("count").textContent = answer.frame + 1; $("count").dataset.frames = answer.frame + 1;
  $("faces").textContent = answer.faces.length; $("faces").dataset.faces = answer.faces.length;
  $("ms").textContent = answer.ms;
  drawBoxes(answer);
  if (!answer.faces.length) session.push({ frame: answer.frame, time_s: answer.time_s });
  for (const f of answer.faces) {
    const row = { frame: answer.frame, time_s: answer.time_s, face: f.face, track_id: f.track_id,
                  x: f.box[0], y: f.box[1], width: f.box[2], height: f.box[3], ...f.scores,
                  expression: f.expression, valence: f.valence, arousal: f.arousal };
    session.push(row);
  }
  if (answer.faces.length) history.push({ t: answer.time_s, valence: answer.faces[0].valence, arousal: answer.faces[0].arousal });
  history = history.filter((h) => answer.time_s - h.t <= WINDOW_S);
  drawChart(answer.time_s);
}

function drawBoxes(answer) {
  const video = $("video"), canvas = $("overlay");
  canvas.width = video.clientWidth; canvas.height = video.clientHeight;
  const k = canvas.width / answer.width;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.font = "14px system-ui"; ctx.lineWidth = 3;
  for (const f of answer.faces) {
    const [x, y, w, h] = f.box.map((v) => v * k);
    ctx.strokeStyle = ctx.fillStyle = COLOURS[f.expression];
    ctx.strokeRect(x, y, w, h);
    ctx.fillText(`${f.expression} ${f.scores[f.expression].toFixed(2)} V${f.valence.toFixed(2)} A${f.arousal.toFixed(2)}`,
                 x, Math.max(14, y - 6));
  }
}

function drawChart(now) {
  const c = $("chart"), ctx = c.getContext("2d");
  ctx.clearRect(0, 0, c.width, c.height);
  const X = (t) => c.width * (1 - (now - t) / WINDOW_S), Y = (v) => c.height * (1 - (v + 1) / 2);
  ctx.strokeStyle = "#999"; ctx.lineWidth = 1;
  ctx.beginPath(); ctx.moveTo(0, Y(0)); ctx.lineTo(c.width, Y(0)); ctx.stroke();
  for (const [key, colour] of [["valence", "#2ca02c"], ["arousal", "#ff7f0e"]]) {
    ctx.strokeStyle = colour; ctx.lineWidth = 2; ctx.beginPath();
    history.forEach((h, i) => (i ? ctx.lineTo(X(h.t), Y(h[key])) : ctx.moveTo(X(h.t), Y(h[key]))));
    ctx.stroke();
    ctx.fillStyle = colour; ctx.fillText(key, 8, key === "valence" ? 16 : 32);
  }
}

function save() {
  const cols = ["frame", "time_s", "face", "track_id", "x", "y", "width", "height", ...EXPRESSIONS, "expression", "valence", "arousal"];
  const lines = [cols.join(",")].concat(session.map((r) => cols.map((c) => (r[c] === undefined || r[c] === null ? "" : r[c])).join(",")));
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([lines.join("\n") + "\n"], { type: "text/csv" }));
  a.download = "affectkit_live.csv";
  a.click();
}

$("start").addEventListener("click", start);
$("stop").addEventListener("click", stop);
$("save").addEventListener("click", save);
