// Small pieces every HTTP-speaking provider needs: telling TLS failures from other network errors, the
// error code to show for a failed fetch, and a JSON body read that never throws.

/** Error codes and names Bun gives certificate and TLS failures. */
export const TLS_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_|HOSTNAME|TLS|SSL/;

/** The code of a failed fetch (ECONNREFUSED, CERT_HAS_EXPIRED, …), else the error's name. */
export function errorCodeOf(error: unknown): string {
  const code = (error as { code?: unknown })?.code;
  return typeof code === "string" ? code : error instanceof Error ? error.name : "network error";
}

/** The response body as JSON, or undefined when it is not JSON. */
export async function bodyOf(response: Response): Promise<unknown> {
  try {
    return JSON.parse(await response.text());
  } catch {
    return undefined;
  }
}
