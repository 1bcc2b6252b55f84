// Audio worklets of the browser test call. `line-capture` turns the microphone into 20 ms
// frames of 8 kHz mu-law (160 bytes), with each frame's level. `line-player` plays the
// service's 8 kHz mu-law through a small jitter buffer and keeps Twilio's rules for marks:
// a mark is echoed once the audio queued before it has been played (at once when nothing
// is queued), and `clear` drops the queued audio and echoes every pending mark.
import { fromLine, toLine, ulawDecode, ulawEncode } from "./call-audio.js";

const FRAME = 160; // 20 ms at 8 kHz
const PREBUFFER = 3 * FRAME; // 60 ms queued before playback starts (or resumes after a gap)
const SETTLE_S = 0.06; // ...or this long without new audio: a short reply plays out anyway
const REPLY_GAP_S = 0.3; // audio after a longer silence starts a new reply; a shorter gap is an underrun

class LineCapture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.down = toLine(sampleRate);
    this.frame = new Uint8Array(FRAME);
    this.fill = 0;
    this.energy = 0;
  }
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    const scaled = Array.from(channel, (v) => v * 32768);
    for (const s of this.down.push(scaled)) {
      this.frame[this.fill++] = ulawEncode(s);
      this.energy += s * s;
      if (this.fill === FRAME) {
        const rms = Math.sqrt(this.energy / FRAME);
        this.port.postMessage({ frame: this.frame, rms }, [this.frame.buffer]);
        this.frame = new Uint8Array(FRAME);
        this.fill = 0;
        this.energy = 0;
      }
    }
    return true;
  }
}

class LinePlayer extends AudioWorkletProcessor {
  constructor() {
    super();
    this.up = fromLine(sampleRate);
    this.queue = []; // {audio: Int16Array, at: index} or {mark: name}
    this.queued = 0; // line samples waiting in the queue
    this.out = []; // upsampled samples not yet output
    this.playing = false;
    this.replying = false; // a reply is playing: audio since the last clear or long silence
    this.idleAt = null; // when the queue last ran dry
    this.lastArrival = 0;
    this.played = 0; // line samples played since the call began
    this.port.onmessage = (e) => this.receive(e.data);
  }
  receive(msg) {
    if (msg.media) {
      const audio = Int16Array.from(msg.media, ulawDecode);
      this.queue.push({ audio, at: 0 });
      this.queued += audio.length;
      this.lastArrival = currentTime;
    } else if (msg.mark !== undefined) {
      this.queue.push({ mark: msg.mark });
    } else if (msg.clear) {
      const marks = this.queue.filter((q) => q.mark !== undefined).map((q) => q.mark);
      const dropped = this.queued;
      this.queue = [];
      this.queued = 0;
      this.out = [];
      this.up.reset();
      this.playing = false;
      this.replying = false;
      this.idleAt = null;
      this.port.postMessage({ cleared: marks, played: this.played, dropped });
    }
  }
  echoMarks() {
    while (this.queue.length && this.queue[0].mark !== undefined) {
      this.port.postMessage({ mark: this.queue.shift().mark, played: this.played });
    }
  }
  nextSample() {
    this.echoMarks();
    const head = this.queue[0];
    if (!head) return null;
    const sample = head.audio[head.at++];
    if (head.at === head.audio.length) this.queue.shift();
    this.queued -= 1;
    this.played += 1;
    if (this.idleAt !== null) {
      if (currentTime - this.idleAt >= REPLY_GAP_S) this.replying = false;
      else this.port.postMessage({ underrun: currentTime - this.idleAt });
      this.idleAt = null;
    }
    if (!this.replying) {
      this.replying = true;
      this.port.postMessage({ started: this.played - 1 });
    }
    return sample;
  }
  process(inputs, outputs) {
    const output = outputs[0][0];
    this.echoMarks();
    if (!this.playing && this.queued > 0) {
      this.playing = this.queued >= PREBUFFER || currentTime - this.lastArrival >= SETTLE_S;
    }
    let i = 0;
    while (i < output.length) {
      if (this.out.length === 0) {
        const sample = this.playing ? this.nextSample() : null;
        if (sample === null) break;
        this.out = this.up.push([sample]);
      }
      const n = Math.min(this.out.length, output.length - i);
      for (let k = 0; k < n; k++) output[i + k] = this.out[k] / 32768;
      this.out = this.out.slice(n);
      i += n;
    }
    if (i < output.length && this.playing && this.queued === 0) {
      // Played out: marks after the last audio are due, and the next audio waits to refill.
      this.echoMarks();
      this.playing = false;
      this.idleAt = currentTime;
      this.port.postMessage({ idle: this.played });
    }
    return true;
  }
}

registerProcessor("line-capture", LineCapture);
registerProcessor("line-player", LinePlayer);
