/* latentlab latent-space explorer: the controls of each run's "Explore the latent space" section.

   Every element with class "explorer" holds one run's explorer.json (script.xp-data); its decoder is
   evaluated by decoder.js (inlined before this file, in the same function scope). The explorer of a run
   is window.latentlabExplorer[run anchor]: decode(z, y) -> array, last = {z, y, x} (the latest decoded
   output and its input), set(z, y). A latent prior's run also has the button "draw from this prior", which
   decodes, in turn, the codes z ~ p(z) its explorer.json holds (prior_draws; with their labels y for a prior
   per label, z ~ p(z|y)). */
const TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf"];  // matplotlib's, as in the latent_scatter figure
const PLOT = 300, LEFT = 36, TOP = 10, BOTTOM = 30, RIGHT = 10;  // the plane: plot area and margins (CSS px)

function fmt(v) { return (Math.abs(v) < 1e-12 ? 0 : v).toFixed(2).replace("-", "\u2212"); }

class Explorer {
  constructor(root, data) {
    this.root = root;
    this.data = data;
    this.zDim = data.z_dim;
    this.nClasses = data.n_classes;
    this.decoder = compileDecoder(data.decoder, this.zDim, this.nClasses);
    this.mean = data.latent.mean.map(Math.fround);
    this.dirs = data.latent.directions;
    this.dirStd = data.latent.direction_std.map((s) => s || 1);
    this.z = this.mean.slice();
    this.y = this.nClasses ? 0 : null;
    this.last = null;
    this.$ = (sel) => root.querySelector(sel);
    this.$$ = (sel) => Array.from(root.querySelectorAll(sel));
    this.setupOutput();
    this.setupPlane();
    this.setupControls();
    this.update(null);
  }

  /* E[x | z] (E[x | y, z] for a conditional decoder) as a plain array, flat C·H·W. */
  decode(z, y) {
    return this.decoder(z, y);
  }

  set(z, y) {
    this.z = Array.from(z, Math.fround);
    if (y !== undefined && y !== null) this.y = y;
    this.update(null);
    return this.last;
  }

  update(source) {
    const x = this.decode(this.z, this.y);
    this.last = {z: this.z.slice(), y: this.y, x: x};
    this.drawOutput(x);
    this.drawPlane();
    const shown = this.z.slice(0, 10).map(fmt).join(", ") + (this.zDim > 10 ? ", \u2026" : "");
    this.$(".xp-z").textContent = "z = (" + shown + ")" + (this.nClasses ? ", y = " + this.data.classes[this.y] : "");
    for (const el of this.$$(".xp-dim")) {
      const v = this.z[+el.dataset.i];
      if (el !== source) el.value = v;
      el.nextElementSibling.textContent = fmt(v);
    }
    for (const el of this.$$(".xp-pc")) {
      const a = this.coordinate(+el.dataset.k);
      if (el !== source) el.value = a;
      el.nextElementSibling.textContent = fmt(a);
    }
    const label = this.$(".xp-label");
    if (label && label !== source) label.value = String(this.y);
  }

  coordinate(k) {  // a_k = (z − mean) · v_k / s_k
    let a = 0;
    for (let i = 0; i < this.zDim; i++) a += (this.z[i] - this.mean[i]) * this.dirs[k][i];
    return a / this.dirStd[k];
  }

  // -- the decoded output: an image, or bars for a table
  setupOutput() {
    const canvas = this.$(".xp-out"), shape = this.data.x_shape;
    this.outCtx = canvas.getContext("2d");
    if (this.data.display === "image") {
      const [, H, W] = shape, scale = Math.max(1, Math.floor(224 / Math.max(H, W)));
      canvas.width = W;
      canvas.height = H;
      canvas.style.width = W * scale + "px";
      canvas.style.height = H * scale + "px";
      canvas.classList.add("xp-pixels");
      this.pixels = this.outCtx.createImageData(W, H);
    } else {
      canvas.width = 360;
      canvas.height = 200;
    }
  }

  drawOutput(x) {
    const ctx = this.outCtx, shape = this.data.x_shape;
    if (this.pixels) {
      const [C, H, W] = shape, n = H * W, p = this.pixels.data;
      const byte = (v) => Math.round(Math.min(1, Math.max(0, v)) * 255);
      for (let i = 0; i < n; i++) {
        p[4 * i] = byte(x[i]);
        p[4 * i + 1] = byte(x[C === 3 ? n + i : i]);
        p[4 * i + 2] = byte(x[C === 3 ? 2 * n + i : i]);
        p[4 * i + 3] = 255;
      }
      ctx.putImageData(this.pixels, 0, 0);
      return;
    }
    // a table: one bar per feature, on a symmetric axis scaled to the largest |value|
    const w = ctx.canvas.width, h = ctx.canvas.height, mid = (h - 14) / 2, bar = w / x.length;
    const top = x.reduce((m, v) => Math.max(m, Math.abs(v)), 1e-9);
    ctx.clearRect(0, 0, w, h);
    ctx.fillStyle = TAB10[0];
    x.forEach((v, i) => {
      const len = (v / top) * (mid - 4);
      ctx.fillRect(i * bar + 1, mid - Math.max(len, 0), Math.max(1, bar - 2), Math.abs(len));
    });
    ctx.strokeStyle = "#59636e";
    ctx.beginPath(); ctx.moveTo(0, mid); ctx.lineTo(w, mid); ctx.stroke();
    ctx.fillStyle = "#59636e";
    ctx.font = "11px sans-serif";
    ctx.textAlign = "left";
    ctx.fillText("\u00b1" + top.toPrecision(3), 4, 12);
    ctx.textAlign = "center";
    const every = Math.ceil(x.length / 24);  // feature numbers, at most 24 of them
    for (let i = 0; i < x.length; i += every) ctx.fillText(String(i), (i + 0.5) * bar, h - 3);
  }

  // -- the latent plane (z = 2): test codes under the pointer
  setupPlane() {
    const canvas = this.$(".xp-plane"), plane = this.data.plane;
    if (!canvas || !plane) return;
    const dpr = window.devicePixelRatio || 1, W = LEFT + PLOT + RIGHT, H = TOP + PLOT + BOTTOM;
    canvas.width = W * dpr;
    canvas.height = H * dpr;
    canvas.style.width = W + "px";
    canvas.style.height = H + "px";
    this.planeCtx = canvas.getContext("2d");
    this.planeCtx.scale(dpr, dpr);
    [this.lo, this.hi] = plane.range;
    this.dots = document.createElement("canvas");  // the codes, drawn once
    this.dots.width = PLOT * dpr;
    this.dots.height = PLOT * dpr;
    const ctx = this.dots.getContext("2d"), z = floats(plane.z), y = plane.y, n = this.data.classes.length;
    ctx.scale(dpr, dpr);
    ctx.globalAlpha = 0.6;
    const r = Math.max(0.8, Math.min(2.2, 120 / Math.sqrt(plane.n || 1)));
    let outside = 0;
    for (let i = 0; i < plane.n; i++) {
      const [px, py] = this.toPixel(z[2 * i], z[2 * i + 1]);
      if (px < 0 || px > PLOT || py < 0 || py > PLOT) { outside++; continue; }
      ctx.fillStyle = y ? this.colour(y[i], n) : TAB10[0];
      ctx.beginPath(); ctx.arc(px, py, r, 0, 2 * Math.PI); ctx.fill();
    }
    const legend = this.$(".xp-legend");
    if (y && n <= 10) {
      for (let c = 0; c < n; c++) {
        const item = document.createElement("span");
        item.innerHTML = "<i></i>";
        item.firstChild.style.background = this.colour(c, n);
        item.appendChild(document.createTextNode(this.data.classes[c]));
        legend.appendChild(item);
      }
    }
    if (outside) legend.appendChild(document.createTextNode(" (" + outside + " of " + plane.n + " codes lie outside the plane)"));
    const pick = (ev) => {
      const box = canvas.getBoundingClientRect();
      const px = Math.min(PLOT, Math.max(0, ev.clientX - box.left - LEFT));
      const py = Math.min(PLOT, Math.max(0, ev.clientY - box.top - TOP));
      const span = this.hi - this.lo;
      this.z = [Math.fround(this.lo + (px / PLOT) * span), Math.fround(this.hi - (py / PLOT) * span)];
      this.update(canvas);
    };
    canvas.addEventListener("pointermove", pick);
    canvas.addEventListener("pointerdown", pick);
  }

  colour(label, n) {
    return n <= 10 ? TAB10[label % 10] : "hsl(" + Math.round((300 * label) / Math.max(1, n - 1)) + ", 65%, 45%)";
  }

  toPixel(z1, z2) {  // plot-area pixels of a point of the plane
    const span = this.hi - this.lo;
    return [((z1 - this.lo) / span) * PLOT, ((this.hi - z2) / span) * PLOT];
  }

  drawPlane() {
    const ctx = this.planeCtx;
    if (!ctx) return;
    ctx.clearRect(0, 0, LEFT + PLOT + RIGHT, TOP + PLOT + BOTTOM);
    ctx.save();
    ctx.translate(LEFT, TOP);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, PLOT, PLOT);
    ctx.strokeStyle = "#eaeef2";
    ctx.fillStyle = "#59636e";
    ctx.font = "11px sans-serif";
    for (let t = Math.ceil(this.lo); t <= this.hi; t++) {  // grid lines and ticks at the integers
      const [p] = this.toPixel(t, 0), [, q] = this.toPixel(0, t);
      ctx.beginPath(); ctx.moveTo(p, 0); ctx.lineTo(p, PLOT); ctx.moveTo(0, q); ctx.lineTo(PLOT, q); ctx.stroke();
      ctx.textAlign = "center"; ctx.fillText(String(t).replace("-", "\u2212"), p, PLOT + 13);
      ctx.textAlign = "right"; ctx.fillText(String(t).replace("-", "\u2212"), -5, q + 4);
    }
    ctx.textAlign = "center";
    ctx.fillText("z\u2081", PLOT / 2, PLOT + 26);
    ctx.fillText("z\u2082", -26, PLOT / 2 - 8);
    ctx.drawImage(this.dots, 0, 0, PLOT, PLOT);
    ctx.strokeStyle = "#d1d9e0";
    ctx.strokeRect(0, 0, PLOT, PLOT);
    const [px, py] = this.toPixel(this.z[0], this.z[1]);
    if (px >= 0 && px <= PLOT && py >= 0 && py <= PLOT) {
      ctx.strokeStyle = "#1f2328";
      ctx.lineWidth = 1.5;
      ctx.beginPath(); ctx.moveTo(px - 9, py); ctx.lineTo(px + 9, py); ctx.moveTo(px, py - 9); ctx.lineTo(px, py + 9);
      ctx.stroke();
      ctx.beginPath(); ctx.arc(px, py, 5, 0, 2 * Math.PI); ctx.stroke();
    }
    ctx.restore();
  }

  // -- sliders, the label, the interpolation
  setupControls() {
    for (const el of this.$$(".xp-dim")) {
      el.addEventListener("input", () => { this.z[+el.dataset.i] = Math.fround(el.valueAsNumber); this.update(el); });
    }
    for (const el of this.$$(".xp-pc")) {
      el.addEventListener("input", () => {  // move along v_k only: z += (a_new − a_old) s_k v_k
        const k = +el.dataset.k, step = (el.valueAsNumber - this.coordinate(k)) * this.dirStd[k];
        this.z = this.z.map((v, i) => Math.fround(v + step * this.dirs[k][i]));
        this.update(el);
      });
    }
    const label = this.$(".xp-label");
    if (label) {
      const pick = () => { this.y = +label.value; this.update(label); };
      label.addEventListener("change", pick);
      label.addEventListener("input", pick);
    }
    const t = this.$(".xp-t"), examples = this.data.examples;
    if (t && examples.length) {
      const chosen = (end) => {
        const el = this.root.querySelector("input[name$='-" + end + "']:checked");
        return examples[el ? +el.value : (end === "a" ? 0 : examples.length - 1)].z;
      };
      const interpolate = () => {
        const a = chosen("a"), b = chosen("b"), s = t.valueAsNumber;
        t.nextElementSibling.textContent = s.toFixed(2);
        this.z = a.map((v, i) => Math.fround((1 - s) * v + s * b[i]));
        this.update(t);
      };
      t.addEventListener("input", interpolate);
      for (const el of this.$$(".xp-pick input")) el.addEventListener("change", interpolate);
      t.nextElementSibling.textContent = t.valueAsNumber.toFixed(2);
    }
    const reset = this.$(".xp-reset");
    if (reset) reset.addEventListener("click", () => { this.z = this.mean.slice(); this.update(reset); });
    const draw = this.$(".xp-draw"), draws = this.data.prior_draws;
    if (draw && draws) {  // the next of the prior's codes drawn when the page was written, in turn
      const z = floats(draws.z);
      let next = 0;
      draw.addEventListener("click", () => {
        const i = next++ % draws.n;
        this.z = Array.from(z.subarray(i * this.zDim, (i + 1) * this.zDim), Math.fround);
        if (draws.y) this.y = draws.y[i];  // a prior per label: z ~ p(z|y), decoded with its y
        this.update(draw);
        this.$(".xp-drawn").textContent = "draw " + (i + 1) + " of " + draws.n;
      });
    }
  }
}

const explorers = (window.latentlabExplorer = window.latentlabExplorer || {});
for (const root of document.querySelectorAll(".explorer[data-run]")) {
  try {
    explorers[root.dataset.run] = new Explorer(root, JSON.parse(root.querySelector("script.xp-data").textContent));
  } catch (err) {
    const note = root.querySelector(".xp-error");
    note.textContent = "The explorer could not start: " + err.message;
    note.hidden = false;
  }
}
