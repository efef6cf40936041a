// CHW [0, 1] float images to PNG (sharp), for trigger pictures and figures.

import { writeAtomic } from "./files.ts";

/** A CHW [0, 1] image of side `size` as PNG bytes (8-bit RGB). */
export async function pngBytes(chw: Float32Array, size: number): Promise<Uint8Array> {
  const { sharp } = await import("./sharp.ts");
  const rgb = new Uint8Array(size * size * 3);
  const plane = size * size;
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      rgb[i * 3 + c] = Math.round(255 * Math.min(1, Math.max(0, chw[c * plane + i])));
    }
  }
  const png = await sharp(rgb, { raw: { width: size, height: size, channels: 3 } }).png()
    .toBuffer();
  return new Uint8Array(png);
}

/** Writes a CHW [0, 1] image as a PNG (atomically). */
export async function writePng(path: string, chw: Float32Array, size: number): Promise<void> {
  await writeAtomic(path, await pngBytes(chw, size));
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 as PNG chunks carry it (for writing or editing PNG bytes by hand). */
export function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const v of b) c = CRC_TABLE[(c ^ v) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
