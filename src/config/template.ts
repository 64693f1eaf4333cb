// A secret built from several fields of one read: `template = "postgres://{{username}}:{{password}}@db:5432/app"`
// over a Vault database/creds/<role> read. Every {{field}} is fetched from the secret's ref within the same
// resolution (one dynamic read, one lease, for all of them) and put in its place; in a URL template
// (scheme://…) each value is percent-encoded, so a password with "@" or "/" cannot change the URL's shape.

const FIELD = /\{\{\s*([A-Za-z_][\w.-]*)\s*\}\}/g;

/** The distinct fields a template names, in order of first use. */
export function templateFields(template: string): string[] {
  return [...new Set([...template.matchAll(FIELD)].map((m) => m[1]!))];
}

/** Why a template cannot be used (for the config validator), or undefined. */
export function templateProblem(template: string): string | undefined {
  if (templateFields(template).length === 0) return 'must name at least one field as {{field}}, e.g. "postgres://{{username}}:{{password}}@db:5432/app"';
  if (/\{\{|\}\}/.test(template.replace(FIELD, ""))) return "has an unclosed or malformed {{field}}";
  return undefined;
}

export function fillTemplate(template: string, values: Map<string, string>): string {
  const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(template);
  return template.replace(FIELD, (_, field: string) => {
    const value = values.get(field) ?? "";
    return url ? encodeURIComponent(value) : value;
  });
}
