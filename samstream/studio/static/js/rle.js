// COCO run-length encoding (the compressed string form pycocotools writes) -> a binary mask.
// Counts alternate background/foreground runs over the mask in column-major order.

export function rleCounts(counts) {
  const out = [];
  let p = 0;
  while (p < counts.length) {
    let x = 0, k = 0, more = true;
    while (more) {
      const c = counts.charCodeAt(p) - 48;
      x |= (c & 0x1f) << (5 * k);
      more = (c & 0x20) !== 0;
      p += 1; k += 1;
      if (!more && (c & 0x10)) x |= -1 << (5 * k);
    }
    if (out.length > 2) x += out[out.length - 2];
    out.push(x);
  }
  return out;
}

// {size: [h, w], counts} -> Uint8Array of h*w in row-major order (1 = object).
export function decodeRle(rle) {
  const [h, w] = rle.size;
  const counts = typeof rle.counts === "string" ? rleCounts(rle.counts) : rle.counts;
  const mask = new Uint8Array(h * w);
  let pos = 0, value = 0;
  for (const run of counts) {
    if (value) {
      for (let i = pos; i < pos + run; i++) {
        const col = Math.floor(i / h), row = i - col * h;
        mask[row * w + col] = 1;
      }
    }
    pos += run; value ^= 1;
  }
  return mask;
}
