// A 1Password Connect server for tests: the read endpoints kz uses (vault list with `filter=name eq
// "…"`, item list with `filter=title eq "…"`, full item), bearer-token checks with per-token vault
// scopes, and Connect's JSON shapes and error bodies ({"status":401,"message":"Invalid token signature"}).
// It records every request so tests can count lookups, and can hold item GETs at a barrier to prove
// that lookups run concurrently.

export interface FakeConnectField {
  id: string;
  label: string;
  value?: string;
  type?: string;
  purpose?: "" | "USERNAME" | "PASSWORD" | "NOTES";
  /** Section id, when the field sits in a section. */
  section?: string;
}

export interface FakeConnectItem {
  id: string;
  title: string;
  category?: string;
  state?: "ARCHIVED" | "DELETED";
  sections?: { id: string; label?: string }[];
  fields: FakeConnectField[];
}

export interface FakeConnectVault {
  id: string;
  name: string;
  items: FakeConnectItem[];
}

export interface FakeConnectOptions {
  vaults: FakeConnectVault[];
  /** Bearer tokens accepted, each with the vault ids it may read ("all" for every vault). */
  tokens: Record<string, string[] | "all">;
  /** When set, full-item GETs are answered only once this many are waiting at the same time. */
  itemBarrier?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  /** The decoded `filter` query parameter, if any. */
  filter?: string;
  authorized: boolean;
}

export interface FakeConnect {
  url: string;
  requests: RecordedRequest[];
  /** How many requests hit exactly this path (query excluded). */
  count(path: string): number;
  stop(): Promise<void>;
}

const TIMESTAMP = "2024-01-01T12:00:00Z";
const CONNECT_ID = /^[\da-z]{26}$/;
const BARRIER_TIMEOUT_MS = 10_000;

/** A Connect-shaped id (26 lowercase letters and digits) derived from a readable name. */
export function connectId(name: string): string {
  return (name.toLowerCase().replace(/[^\da-z]/g, "") + "0".repeat(26)).slice(0, 26);
}

function errorResponse(status: number, message: string): Response {
  return Response.json({ status, message }, { status });
}

/** Parses `name eq "Dev"` / `title eq "My \"quoted\" item"`; undefined if it is not that form. */
export function parseEqFilter(filter: string): { attribute: string; value: string } | undefined {
  const m = /^\s*(\w+)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$/.exec(filter);
  if (!m) return undefined;
  return { attribute: m[1]!, value: m[2]!.replace(/\\(.)/g, "$1") };
}

function vaultJson(v: FakeConnectVault) {
  return {
    id: v.id,
    name: v.name,
    attributeVersion: 1,
    contentVersion: v.items.length + 1,
    items: v.items.filter((i) => !i.state).length,
    type: "USER_CREATED",
    createdAt: TIMESTAMP,
    updatedAt: TIMESTAMP,
  };
}

function itemSummaryJson(vault: FakeConnectVault, item: FakeConnectItem) {
  return {
    id: item.id,
    title: item.title,
    version: 1,
    vault: { id: vault.id },
    category: item.category ?? "API_CREDENTIAL",
    favorite: false,
    tags: [],
    ...(item.state ? { state: item.state } : {}),
    createdAt: TIMESTAMP,
    updatedAt: TIMESTAMP,
    lastEditedBy: "fakeuser000000000000000001",
  };
}

function fullItemJson(vault: FakeConnectVault, item: FakeConnectItem) {
  return {
    ...itemSummaryJson(vault, item),
    sections: item.sections ?? [],
    fields: item.fields.map((f) => ({
      id: f.id,
      type: f.type ?? "CONCEALED",
      purpose: f.purpose ?? "",
      label: f.label,
      ...(f.value !== undefined ? { value: f.value } : {}),
      ...(f.section ? { section: { id: f.section } } : {}),
    })),
  };
}

export function startFakeConnect(options: FakeConnectOptions): FakeConnect {
  const requests: RecordedRequest[] = [];
  const waitingAtBarrier: (() => void)[] = [];

  const scopeOf = (req: Request): string[] | "all" | undefined => {
    const m = /^Bearer (.+)$/.exec(req.headers.get("authorization") ?? "");
    return m ? options.tokens[m[1]!] : undefined;
  };

  const barrier = async (): Promise<boolean> => {
    const needed = options.itemBarrier;
    if (!needed) return true;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), BARRIER_TIMEOUT_MS);
      waitingAtBarrier.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
      if (waitingAtBarrier.length >= needed) for (const release of waitingAtBarrier.splice(0)) release();
    });
  };

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      const filter = url.searchParams.get("filter") ?? undefined;
      const scope = scopeOf(req);
      requests.push({ method: req.method, path: url.pathname, filter, authorized: scope !== undefined });
      if (scope === undefined) return errorResponse(401, "Invalid token signature");
      if (req.method !== "GET") return errorResponse(405, "Method not allowed");

      const canSee = (v: FakeConnectVault) => scope === "all" || scope.includes(v.id);
      const parts = url.pathname.split("/").filter(Boolean); // v1, vaults, {id}, items, {id}
      if (parts[0] !== "v1" || parts[1] !== "vaults") return errorResponse(404, "Not Found");

      if (parts.length === 2) {
        let vaults = options.vaults.filter(canSee);
        if (filter !== undefined) {
          const eq = parseEqFilter(filter);
          if (!eq || eq.attribute !== "name") return errorResponse(400, `Invalid filter: ${filter}`);
          vaults = vaults.filter((v) => v.name === eq.value);
        }
        return Response.json(vaults.map(vaultJson));
      }

      const vaultId = parts[2]!;
      if (!CONNECT_ID.test(vaultId)) return errorResponse(400, "Invalid Vault UUID");
      const vault = options.vaults.find((v) => v.id === vaultId);
      if (!vault) return errorResponse(404, `vault ${vaultId} not found`);
      if (!canSee(vault)) return errorResponse(403, `vault ${vaultId} is not in scope`);

      if (parts.length === 3) return Response.json(vaultJson(vault));
      if (parts[3] !== "items" || parts.length > 5) return errorResponse(404, "Not Found");

      if (parts.length === 4) {
        let items = vault.items;
        if (filter !== undefined) {
          const eq = parseEqFilter(filter);
          if (!eq || eq.attribute !== "title") return errorResponse(400, `Invalid filter: ${filter}`);
          items = items.filter((i) => i.title === eq.value);
        }
        return Response.json(items.map((i) => itemSummaryJson(vault, i)));
      }

      const itemId = parts[4]!;
      if (!CONNECT_ID.test(itemId)) return errorResponse(400, "Invalid Item UUID");
      const item = vault.items.find((i) => i.id === itemId && i.state !== "DELETED");
      if (!item) return errorResponse(404, `item ${itemId} not found`);
      if (!(await barrier())) return errorResponse(500, "test barrier: item requests did not arrive together");
      return Response.json(fullItemJson(vault, item));
    },
  });

  return {
    url: `http://127.0.0.1:${server.port}`,
    requests,
    count: (path) => requests.filter((r) => r.path === path).length,
    stop: () => server.stop(true),
  };
}
