// Reading an HTTP request body without letting it grow past a limit: the JSON API (src/server) and MCP
// over HTTP (src/mcp) both refuse an oversized body, declared or streamed, before holding all of it.

/** The body's bytes, or undefined when it is (or declares itself) longer than `limit`. */
export async function readBodyWithin(request: Request, limit: number): Promise<Uint8Array | undefined> {
  const declared = Number(request.headers.get("content-length") ?? "NaN");
  if (declared > limit) return undefined;
  // A declared length bounds the body (HTTP/1.1 framing): read it in one go. Otherwise (chunked) count
  // the bytes as they arrive.
  if (Number.isSafeInteger(declared) && declared >= 0) {
    const bytes = await request.bytes();
    return bytes.byteLength > limit ? undefined : bytes;
  }
  if (!request.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of request.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}
