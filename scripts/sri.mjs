// Subresource Integrity for the build's hooks: one way to write a file's digest.
import { createHash } from "node:crypto";

/// The `integrity` value of `bytes` (a Buffer or string): `sha384-<base64>`.
export function integrity(bytes) {
  return `sha384-${createHash("sha384").update(bytes).digest("base64")}`;
}
