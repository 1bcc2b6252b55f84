// The browser test call's line audio: G.711 mu-law and resampling between the audio
// context's rate and the telephone line's 8 kHz. The same arithmetic as the service's
// bridge/g711.py (reference encoder: bias 0x84, clip 32635) and bridge/resample.py (a
// Kaiser-windowed sinc, 30 taps per 8 kHz sample, beta 7.8, cut-off 3925 Hz), so what is
// heard here is what a phone line carries. A context rate that is no multiple of 8 kHz
// falls back to linear interpolation (rougher, no anti-alias filter).
export const LINE_RATE = 8000;
const TAPS_PER_PHASE = 30;
const BETA = 7.8;
const CUTOFF_HZ = 3925;

export function ulawEncode(sample) {
  const value = Math.max(-32768, Math.min(32767, Math.round(sample)));
  const sign = value < 0 ? 0x80 : 0;
  const magnitude = Math.min(Math.abs(value), 32635) + 0x84;
  const exponent = 31 - Math.clz32(magnitude >> 7);
  const mantissa = (magnitude >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

export function ulawDecode(code) {
  const u = ~code & 0xff;
  const exponent = (u >> 4) & 0x07;
  const magnitude = ((((u & 0x0f) << 3) + 0x84) << exponent) - 0x84;
  return u & 0x80 ? -magnitude : magnitude;
}

function besselI0(x) {
  let sum = 1, term = 1;
  for (let k = 1; k < 50; k++) {
    term *= (x / (2 * k)) * (x / (2 * k));
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

// numpy's 2*fc*sinc(2*fc*n)*kaiser(taps, beta), normalised to unit gain.
export function lowpass(taps, rate) {
  const fc = CUTOFF_HZ / rate, h = new Float64Array(taps), mid = (taps - 1) / 2;
  let total = 0;
  for (let i = 0; i < taps; i++) {
    const n = i - mid, x = 2 * fc * n;
    const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
    const r = (2 * i) / (taps - 1) - 1;
    h[i] = 2 * fc * sinc * (besselI0(BETA * Math.sqrt(Math.max(0, 1 - r * r))) / besselI0(BETA));
    total += h[i];
  }
  for (let i = 0; i < taps; i++) h[i] /= total;
  return h;
}

function pcm16(y) {
  return Math.max(-32768, Math.min(32767, Math.round(y)));
}

// rate -> 8 kHz for an integer ratio m: output k is the filter at input m*k + m - 1, as
// the service's decimator does. Any chunk length; state carries across chunks.
class Decimator {
  constructor(m) {
    this.m = m;
    this.h = lowpass(TAPS_PER_PHASE * m, LINE_RATE * m);
    this.buf = new Array(this.h.length - 1).fill(0);
  }
  push(samples) {
    const { buf, h, m } = this, taps = h.length, out = [];
    for (const s of samples) buf.push(s);
    let start = 0;
    while (start + m - 1 + taps <= buf.length) {
      let acc = 0;
      const last = start + m - 1 + taps - 1;
      for (let k = 0; k < taps; k++) acc += h[k] * buf[last - k];
      out.push(pcm16(acc));
      start += m;
    }
    this.buf = buf.slice(start);
    return out;
  }
  reset() { this.buf = new Array(this.h.length - 1).fill(0); }
}

// 8 kHz -> rate for an integer ratio m: each line sample gives m outputs at once.
class Interpolator {
  constructor(m) {
    this.m = m;
    this.h = lowpass(TAPS_PER_PHASE * m, LINE_RATE * m);
    this.hist = new Float64Array(TAPS_PER_PHASE);
  }
  push(samples) {
    const { hist, h, m } = this, out = [];
    for (const s of samples) {
      hist.copyWithin(1, 0);
      hist[0] = s;
      for (let p = 0; p < m; p++) {
        let acc = 0;
        for (let j = 0; j < TAPS_PER_PHASE; j++) acc += hist[j] * h[m * j + p];
        out.push(pcm16(m * acc));
      }
    }
    return out;
  }
  reset() { this.hist.fill(0); }
}

// Any other pair of rates: linear interpolation, `from` samples in, `to` samples out.
class Linear {
  constructor(from, to) {
    this.step = from / to;
    this.pos = 0;
    this.prev = 0;
  }
  push(samples) {
    const out = [];
    let pos = this.pos;
    while (pos < samples.length) {
      const i = Math.floor(pos), frac = pos - i;
      const a = i === 0 ? this.prev : samples[i - 1], b = samples[i];
      out.push(pcm16(a + (b - a) * frac));
      pos += this.step;
    }
    this.pos = pos - samples.length;
    if (samples.length) this.prev = samples[samples.length - 1];
    return out;
  }
  reset() { this.pos = 0; this.prev = 0; }
}

export function toLine(rate) {
  return rate % LINE_RATE === 0 ? new Decimator(rate / LINE_RATE) : new Linear(rate, LINE_RATE);
}

export function fromLine(rate) {
  return rate % LINE_RATE === 0 ? new Interpolator(rate / LINE_RATE) : new Linear(LINE_RATE, rate);
}
