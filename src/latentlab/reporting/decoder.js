/* latentlab: a run's decoder, from the layers of explorer.json, evaluated in the page (no library).

   E[x | z] = out(f_L(... f_1([z, one_hot(y)]))), the NumPy reference being evaluation/decoder_layers.py's
   KINDS, one entry per layer kind there and one case in `compile` here: float32 weights read into float64 numbers, z rounded to float32 first, activations flat
   C·H·W arrays in PyTorch's row-major order, out = sigmoid (Bernoulli decoder) or identity (a mean).
   Inlined with explorer.js into one function scope by report.html.j2. */
function floats(b64) {  // base64 of little-endian float32 -> Float64Array
  const bin = atob(b64), bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const view = new DataView(bytes.buffer), out = new Float64Array(bin.length >> 2);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}

function elementwise(f) {
  return (s) => { const h = s.h; for (let i = 0; i < h.length; i++) h[i] = f(h[i]); return s; };
}

const sigmoid = (v) => 1 / (1 + Math.exp(-v));

function compile(layer) {  // one layer -> a function of the state {h: Float64Array, shape}
  switch (layer.type) {
    case "linear": {
      const W = floats(layer.W), b = floats(layer.b), n = layer.in, m = layer.out;
      return (s) => {
        const h = s.h, out = new Float64Array(m);
        for (let j = 0; j < m; j++) {
          let acc = b[j];
          for (let i = 0, row = j * n; i < n; i++) acc += W[row + i] * h[i];
          out[j] = acc;
        }
        return {h: out, shape: [m]};
      };
    }
    case "elu": { const a = layer.alpha; return elementwise((v) => (v > 0 ? v : a * Math.expm1(v))); }
    case "relu": return elementwise((v) => (v > 0 ? v : 0));
    case "leaky_relu": { const a = layer.slope; return elementwise((v) => (v > 0 ? v : a * v)); }
    case "tanh": return elementwise(Math.tanh);
    case "sigmoid": return elementwise(sigmoid);
    case "softplus": {
      const beta = layer.beta, t = layer.threshold;
      return elementwise((v) => (beta * v > t ? v : Math.log1p(Math.exp(beta * v)) / beta));
    }
    case "identity": return (s) => s;
    case "flatten": return (s) => ({h: s.h, shape: [s.h.length]});
    case "unflatten": return (s) => ({h: s.h, shape: layer.shape.slice()});
    case "crop": return (s) => {
      const [c, h, w] = s.shape, H = layer.height, Wd = layer.width, out = new Float64Array(c * H * Wd);
      for (let k = 0; k < c; k++)
        for (let i = 0; i < H; i++)
          for (let j = 0; j < Wd; j++) out[(k * H + i) * Wd + j] = s.h[(k * h + i) * w + j];
      return {h: out, shape: [c, H, Wd]};
    };
    case "conv_transpose2d": {  // out[o, s·i − p + k] += x[c, i] W[c, o, k] per spatial dim, plus b[o]
      const W = floats(layer.W), b = floats(layer.b), C = layer.in, O = layer.out;
      const [kh, kw] = layer.kernel, [sh, sw] = layer.stride, [ph, pw] = layer.padding;
      const [oph, opw] = layer.output_padding;
      return (s) => {
        const [, H, Wd] = s.shape, x = s.h;
        const OH = (H - 1) * sh - 2 * ph + kh + oph, OW = (Wd - 1) * sw - 2 * pw + kw + opw;
        const out = new Float64Array(O * OH * OW);
        for (let o = 0; o < O; o++) out.fill(b[o], o * OH * OW, (o + 1) * OH * OW);
        for (let c = 0; c < C; c++)
          for (let i = 0; i < H; i++)
            for (let j = 0; j < Wd; j++) {
              const v = x[(c * H + i) * Wd + j];
              if (v === 0) continue;
              for (let o = 0; o < O; o++) {
                const wBase = (c * O + o) * kh * kw, oBase = o * OH * OW;
                for (let a = 0; a < kh; a++) {
                  const oy = i * sh - ph + a;
                  if (oy < 0 || oy >= OH) continue;
                  for (let q = 0; q < kw; q++) {
                    const ox = j * sw - pw + q;
                    if (ox >= 0 && ox < OW) out[oBase + oy * OW + ox] += v * W[wBase + a * kw + q];
                  }
                }
              }
            }
        return {h: out, shape: [O, OH, OW]};
      };
    }
    default: throw new Error("unknown layer type " + layer.type);
  }
}


function compileDecoder(decoder, zDim, nClasses) {  // -> decode(z, y): a plain array, flat C·H·W
  const layers = decoder.layers.map(compile), sigmoidOut = decoder.output === "sigmoid";
  return (z, y) => {
    if (z.length !== zDim) throw new Error("z needs " + zDim + " numbers, got " + z.length);
    const h = new Float64Array(zDim + nClasses);
    for (let i = 0; i < zDim; i++) h[i] = Math.fround(z[i]);
    if (nClasses) {
      if (!(Number.isInteger(y) && y >= 0 && y < nClasses)) throw new Error("y must be a label 0.." + (nClasses - 1));
      h[zDim + y] = 1;
    }
    let s = {h: h, shape: [h.length]};
    for (const f of layers) s = f(s);
    const out = Array.from(s.h);
    return sigmoidOut ? out.map(sigmoid) : out;
  };
}
