// A small live line chart on <canvas>: the last 60 values, redrawn on each push, sharp on
// high-density screens. The canvas carries an aria-label; the value is also shown as text.

const POINTS = 60;

export class Spark {
  constructor(canvas, { color = '#0b5cad' } = {}) {
    this.canvas = canvas;
    this.color = color;
    this.values = [];
  }

  push(v) {
    this.values.push(Number.isFinite(v) ? v : 0);
    if (this.values.length > POINTS) this.values.shift();
    this.draw();
  }

  draw() {
    const c = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const w = c.clientWidth || 200;
    const h = c.clientHeight || 60;
    if (c.width !== Math.round(w * ratio) || c.height !== Math.round(h * ratio)) {
      c.width = Math.round(w * ratio);
      c.height = Math.round(h * ratio);
    }
    const g = c.getContext('2d');
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, w, h);
    g.strokeStyle = '#d0d7de';
    g.lineWidth = 1;
    g.beginPath();
    g.moveTo(0, h - 0.5);
    g.lineTo(w, h - 0.5);
    g.stroke();
    if (this.values.length < 2) return;
    const max = Math.max(...this.values, 1e-9);
    const step = w / (POINTS - 1);
    const x0 = w - step * (this.values.length - 1);
    g.strokeStyle = this.color;
    g.lineWidth = 2;
    g.beginPath();
    this.values.forEach((v, i) => {
      const x = x0 + i * step;
      const y = h - 3 - (v / max) * (h - 8);
      if (i === 0) g.moveTo(x, y);
      else g.lineTo(x, y);
    });
    g.stroke();
  }
}
