// Sizes of files raw, gzip -9 and brotli (quality 11, the `brotli` CLI's default), with Node's
// zlib: no extra tool to install. Used by `kbwatch-bench payload`.
//   node bench/compress.mjs FILE...   → JSON array of {path, raw, gzip, brotli} on stdout
import { readFileSync } from "node:fs";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const out = process.argv.slice(2).map((path) => {
  const data = readFileSync(path);
  const gzip = gzipSync(data, { level: 9 }).length;
  const brotli = brotliCompressSync(data, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
    },
  }).length;
  return { path, raw: data.length, gzip, brotli };
});
process.stdout.write(JSON.stringify(out) + "\n");
