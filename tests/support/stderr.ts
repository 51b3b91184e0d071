/** What a synchronous body writes to stderr (FLASH_ATTN_LOG lines above all), captured instead of printed. */

/** `body`'s result and everything it wrote to process.stderr; stderr is restored even when `body` throws. */
export function capturingStderr<T>(body: () => T): { result: T; text: string } {
  const chunks: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  try {
    const result = body();
    return { result, text: chunks.join('') };
  } finally {
    process.stderr.write = write;
  }
}

/** Everything written to stderr while `body` runs. */
export function stderrOf(body: () => void): string {
  return capturingStderr(body).text;
}
