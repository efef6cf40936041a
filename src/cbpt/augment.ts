// CoOp's augmentation of the few shots: plain TypeScript, since images are small and it runs
// once per cached view.

/**
 * torchvision RandomResizedCrop (scale (0.08, 1), ratio (3/4, 4/3), 10 tries then centre crop)
 * with bilinear resampling back to the same size, then a horizontal flip with probability 1/2.
 */
export function augment(img: Float32Array, size: number, rand: () => number): Float32Array {
  const area = size * size;
  let cw = size, ch = size, x0 = 0, y0 = 0;
  for (let t = 0; t < 10; t++) {
    const target = area * (0.08 + 0.92 * rand());
    const logr = Math.log(3 / 4) + (Math.log(4 / 3) - Math.log(3 / 4)) * rand();
    const r = Math.exp(logr);
    const w = Math.round(Math.sqrt(target * r)), h = Math.round(Math.sqrt(target / r));
    if (w > 0 && h > 0 && w <= size && h <= size) {
      [cw, ch] = [w, h];
      x0 = Math.floor(rand() * (size - w + 1));
      y0 = Math.floor(rand() * (size - h + 1));
      break;
    }
  }
  const flip = rand() < 0.5;
  const out = new Float32Array(3 * area);
  for (let c = 0; c < 3; c++) {
    const src = img.subarray(c * area, (c + 1) * area);
    for (let y = 0; y < size; y++) {
      const sy = Math.min(ch - 1, Math.max(0, (y + 0.5) * (ch / size) - 0.5)) + y0;
      const ya = Math.floor(sy), yb = Math.min(ya + 1, y0 + ch - 1), fy = sy - ya;
      for (let x = 0; x < size; x++) {
        const xx = flip ? size - 1 - x : x;
        const sx = Math.min(cw - 1, Math.max(0, (xx + 0.5) * (cw / size) - 0.5)) + x0;
        const xa = Math.floor(sx), xb = Math.min(xa + 1, x0 + cw - 1), fx = sx - xa;
        const top = src[ya * size + xa] * (1 - fx) + src[ya * size + xb] * fx;
        const bot = src[yb * size + xa] * (1 - fx) + src[yb * size + xb] * fx;
        out[c * area + y * size + x] = top * (1 - fy) + bot * fy;
      }
    }
  }
  return out;
}
