// /ops/try: a test interview from the browser. The microphone goes to the service as a
// Twilio media stream (20 ms frames of 8 kHz mu-law over a WebSocket); the interviewer's
// audio comes back the same way and is played by the `line-player` worklet. The stored
// transcript and evaluations are read while the call runs. `window.tryCall` holds counters
// for tests and for anyone curious. Text is set as text, never as HTML.
"use strict";

const SPEECH_RMS = 330; // a 20 ms frame this loud (about -40 dBFS) is speech
const FEED_EVERY_MS = 1000;
const FEED_AFTER_END = 30; // rounds to wait for the call's report once the socket has closed
const $ = (id) => document.getElementById(id);

const debug = {
  state: "idle",
  callSid: null,
  sampleRate: null,
  framesSent: 0,
  framesPlayed: 0,
  samplesReceived: 0, // 8 kHz line samples of the interviewer's audio received
  samplesPlayed: 0,
  samplesDropped: 0, // emptied from the buffer by `clear`
  marksReceived: 0,
  marksEchoed: 0,
  clears: 0,
  underruns: 0,
  replies: 0,
  heardAtClearMs: [],
  clearedAt: [], // wall-clock ms (epoch) when playback had stopped for each clear
  latenciesMs: [],
  socketClose: null,
};
window.tryCall = debug;

let call = null;

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function setState(state, text) {
  debug.state = state;
  $("try-status").textContent = text;
  $("try-start").disabled = state !== "idle" && state !== "ended" && state !== "failed";
  $("try-hangup").disabled = state !== "live";
}

function twilioMessage(event, body) {
  call.seq += 1;
  return JSON.stringify({ event, sequenceNumber: String(call.seq), streamSid: call.streamSid, ...body });
}

function send(event, body) {
  if (call && call.ws.readyState === WebSocket.OPEN) call.ws.send(twilioMessage(event, body));
}

function base64(bytes) {
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text);
}

function echoMark(name) {
  send("mark", { mark: { name } });
  debug.marksEchoed += 1;
}

function onCaptured({ frame, rms }) {
  if (!call || !call.started) return;
  const now = performance.now();
  if (rms >= SPEECH_RMS) {
    call.speechSince = call.speechSince || now;
    call.lastLoud = now;
  } else if (call.speechSince && now - call.speechSince >= 100) {
    call.speechEnd = call.lastLoud; // the candidate said something and has stopped
    call.speechSince = null;
  } else {
    call.speechSince = null;
  }
  call.chunk += 1;
  send("media", {
    media: { track: "inbound", chunk: String(call.chunk), timestamp: String(call.chunk * 20), payload: base64(frame) },
  });
  debug.framesSent += 1;
}

function onPlayer(msg) {
  if (msg.played !== undefined) {
    debug.samplesPlayed = msg.played;
    debug.framesPlayed = Math.floor(msg.played / 160);
  }
  if (msg.mark !== undefined) echoMark(msg.mark);
  if (msg.underrun !== undefined) debug.underruns += 1;
  if (msg.started !== undefined) {
    debug.replies += 1;
    call.replyStart = msg.started;
    const ended = call.speechEnd;
    if (ended && ended > (call.lastReplyAt || 0)) {
      const ms = Math.round(performance.now() - ended);
      debug.latenciesMs.push(ms);
      const li = el("li", null, `Reply ${debug.latenciesMs.length}: ${ms} ms`);
      $("try-latency").appendChild(li);
    }
    call.lastReplyAt = performance.now();
  }
  if (msg.cleared !== undefined) {
    // Heard of the reply that was cut: what the service truncates the model's memory to.
    debug.clears += 1;
    debug.samplesDropped += msg.dropped;
    debug.heardAtClearMs.push((msg.played - (call.replyStart || 0)) / 8);
    debug.clearedAt.push(performance.timeOrigin + performance.now());
    msg.cleared.forEach(echoMark);
  }
}

function onSocketMessage(e) {
  let msg;
  try { msg = JSON.parse(e.data); } catch { return; }
  if (msg.event === "media") {
    const raw = atob(msg.media.payload);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    debug.samplesReceived += bytes.length;
    call.player.port.postMessage({ media: bytes }, [bytes.buffer]);
  } else if (msg.event === "mark") {
    debug.marksReceived += 1;
    call.player.port.postMessage({ mark: msg.mark.name });
  } else if (msg.event === "clear") {
    call.player.port.postMessage({ clear: true });
  }
}

function renderFeed(data) {
  const ol = $("try-transcript");
  for (const t of data.turns) {
    const id = "try-turn-" + t.seq;
    let li = document.getElementById(id);
    if (!li) {
      li = el("li", "turn turn-" + (t.speaker === "Candidate" ? "caller" : "assistant"));
      li.id = id;
      li.dataset.seq = t.seq;
      const who = el("p", "who");
      who.appendChild(el("span", "speaker", t.speaker));
      li.appendChild(who);
      li.appendChild(el("p", "said"));
      const after = Array.from(ol.children).find((x) => Number(x.dataset.seq) > t.seq);
      ol.insertBefore(li, after || null);
    }
    li.querySelector(".said").textContent = t.text;
    li.classList.toggle("interrupted", t.interrupted);
    if (t.latency_ms !== null) li.dataset.latencyMs = t.latency_ms;
  }
  const evals = $("try-evaluations");
  while (evals.children.length < data.evaluations.length) {
    const e = data.evaluations[evals.children.length];
    const q = e.question === null ? "Answer" : `Question ${e.question}`;
    const covered = e.covered.length ? `; covered: ${e.covered.join(", ")}` : "";
    evals.appendChild(el("li", null, `${q}: ${e.quality} (next: ${e.next}${covered})`));
  }
}

async function followFeed(current) {
  let after = 0;
  while (!current.closed || after++ < FEED_AFTER_END) {
    try {
      const r = await fetch(`/ops/try/calls/${encodeURIComponent(current.callSid)}/feed`, { headers: { Accept: "application/json" } });
      if (r.ok) {
        const data = await r.json();
        renderFeed(data);
        if (data.ended && current.closed) break;
      }
    } catch { /* the next round tries again */ }
    await new Promise((done) => setTimeout(done, FEED_EVERY_MS));
  }
  $("try-call-link").hidden = false;
}

async function openAudio() {
  const mic = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
  });
  let ctx;
  try {
    ctx = new AudioContext({ sampleRate: 24000, latencyHint: "interactive" }); // 3 x 8 kHz
  } catch {
    ctx = new AudioContext({ latencyHint: "interactive" });
  }
  debug.sampleRate = ctx.sampleRate;
  await ctx.audioWorklet.addModule($("try-form").dataset.worklet);
  const capture = new AudioWorkletNode(ctx, "line-capture", { numberOfOutputs: 1, outputChannelCount: [1] });
  const player = new AudioWorkletNode(ctx, "line-player", { numberOfInputs: 0, outputChannelCount: [1] });
  ctx.createMediaStreamSource(mic).connect(capture);
  capture.connect(ctx.destination); // silent: keeps the capture worklet pulled
  player.connect(ctx.destination);
  await ctx.resume();
  return { mic, ctx, capture, player };
}

function finish(text, state) {
  if (!call) return;
  const current = call;
  current.closed = true;
  current.mic.getTracks().forEach((t) => t.stop());
  current.ctx.close();
  setState(state || "ended", text);
}

async function start(event) {
  event.preventDefault();
  const form = $("try-form");
  setState("starting", "Starting…");
  $("try-transcript").replaceChildren();
  $("try-evaluations").replaceChildren();
  $("try-latency").replaceChildren();
  $("try-call-link").hidden = true;
  let issued;
  try {
    const r = await fetch(form.action, { method: "POST", body: new FormData(form) });
    issued = await r.json();
    if (!r.ok) throw new Error(issued.detail || issued.title || r.statusText);
  } catch (err) {
    setState("failed", "Could not start: " + err.message);
    return;
  }
  let audio;
  try {
    audio = await openAudio();
  } catch (err) {
    setState("failed", "No microphone: " + err.message);
    return;
  }
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}${issued.socket}`);
  call = {
    ...audio, ws, seq: 0, chunk: 0, started: false, closed: false,
    callSid: issued.call_sid, streamSid: "MZ" + crypto.randomUUID().replaceAll("-", ""),
  };
  debug.callSid = issued.call_sid;
  $("try-call-link").href = "/ops/calls/" + encodeURIComponent(issued.call_sid);
  const current = call;
  audio.capture.port.onmessage = (e) => onCaptured(e.data);
  audio.player.port.onmessage = (e) => onPlayer(e.data);
  ws.addEventListener("message", onSocketMessage);
  ws.addEventListener("open", () => {
    send("connected", { protocol: "Call", version: "1.0.0" });
    send("start", {
      start: {
        streamSid: current.streamSid, accountSid: "browser", callSid: current.callSid, tracks: ["inbound"],
        customParameters: { template_id: issued.template_id },
        mediaFormat: { encoding: "audio/x-mulaw", sampleRate: 8000, channels: 1 },
      },
    });
    current.started = true;
    setState("live", "On the call: speak when you are ready.");
  });
  ws.addEventListener("close", (e) => {
    debug.socketClose = e.code;
    if (current.closed) return;
    finish(e.code === 1000 ? "The call has ended." : `The call ended (${e.code} ${e.reason}).`,
      e.code === 1000 ? "ended" : "failed");
  });
  followFeed(current);
}

function hangUp() {
  if (!call || call.closed) return;
  send("stop", { stop: { accountSid: "browser", callSid: call.callSid } });
  finish("You hung up.");
}

$("try-form").addEventListener("submit", start);
$("try-hangup").addEventListener("click", hangUp);
