// The live page: follows /ops/live/events (server-sent events) and adds each call and each
// stored turn to the page, without reloading it. Text is set as text, never as HTML.
"use strict";
(function () {
  const status = document.getElementById("live-status");
  const list = document.getElementById("live-calls");
  const empty = document.getElementById("live-empty");

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function callSection(data) {
    let section = document.getElementById("call-" + data.call_sid);
    if (section) return section;
    section = el("section", "live-call");
    section.id = "call-" + data.call_sid;
    section.dataset.callSid = data.call_sid;
    section.setAttribute("aria-label", "Call " + data.call_sid);
    const h = el("h2");
    const a = el("a", null, data.call_sid);
    a.href = "/ops/calls/" + encodeURIComponent(data.call_sid);
    h.appendChild(a);
    section.appendChild(h);
    const facts = [data.direction, data.number, data.template].filter(Boolean).join(" · ");
    const p = el("p", "note", facts ? facts + " · " : "");
    p.appendChild(el("span", "state", "in progress"));
    section.appendChild(p);
    const ol = el("ol", "transcript");
    ol.setAttribute("aria-live", "polite");
    section.appendChild(ol);
    list.prepend(section);
    empty.hidden = true;
    return section;
  }

  function addTurn(data) {
    if (document.getElementById("live-" + data.call_sid + "-" + data.seq)) return;
    const ol = callSection(data).querySelector("ol");
    const li = el("li", "turn turn-" + (data.speaker === "Candidate" ? "caller" : "assistant"));
    if (data.interrupted) li.classList.add("interrupted");
    li.id = "live-" + data.call_sid + "-" + data.seq;
    li.dataset.seq = data.seq;
    const who = el("p", "who");
    who.appendChild(el("span", "speaker", data.speaker));
    li.appendChild(who);
    li.appendChild(el("p", "said", data.text));
    const after = Array.from(ol.children).find((x) => Number(x.dataset.seq) > data.seq);
    ol.insertBefore(li, after || null);
  }

  function ended(data) {
    const section = document.getElementById("call-" + data.call_sid);
    if (!section) return;
    section.classList.add("ended");
    section.querySelector(".state").textContent = "ended";
  }

  const source = new EventSource(status.dataset.feed);
  source.addEventListener("open", () => { status.textContent = "Following calls as they happen."; });
  source.addEventListener("error", () => { status.textContent = "Connection lost; reconnecting…"; });
  source.addEventListener("started", (e) => callSection(JSON.parse(e.data)));
  source.addEventListener("turn", (e) => addTurn(JSON.parse(e.data)));
  source.addEventListener("ended", (e) => ended(JSON.parse(e.data)));
})();
