// Text edits to .keyzero.toml that keep the user's comments and layout: adding one secret line to
// the [secrets] table. The caller validates the result before writing it.

export interface NewSecret {
  name: string;
  provider: string;
  ref?: string;
  field?: string;
  hosts?: string[];
  optional?: boolean;
}

const tomlString = (s: string) => JSON.stringify(s);

export function secretLine(s: NewSecret): string {
  const parts = [`provider = ${tomlString(s.provider)}`];
  if (s.ref !== undefined) parts.push(`ref = ${tomlString(s.ref)}`);
  if (s.field !== undefined) parts.push(`field = ${tomlString(s.field)}`);
  if (s.hosts?.length) parts.push(`hosts = [${s.hosts.map(tomlString).join(", ")}]`);
  if (s.optional) parts.push("optional = true");
  return `${s.name} = { ${parts.join(", ")} }`;
}

/** Returns `source` with the secret added at the end of its [secrets] table (created if absent). */
export function addSecretToToml(source: string, s: NewSecret): string {
  const lines = source.split("\n");
  const start = lines.findIndex((l) => /^\s*\[\s*secrets\s*\]\s*(#.*)?$/.test(l));
  if (start === -1) {
    const sep = source === "" || source.endsWith("\n\n") ? "" : source.endsWith("\n") ? "\n" : "\n\n";
    return `${source}${sep}[secrets]\n${secretLine(s)}\n`;
  }
  let end = lines.length;
  for (let i = start + 1; i < lines.length; i++) {
    if (/^\s*\[/.test(lines[i]!)) {
      end = i;
      break;
    }
  }
  let insertAt = start + 1;
  for (let i = start + 1; i < end; i++) {
    const t = lines[i]!.trim();
    if (t !== "" && !t.startsWith("#")) insertAt = i + 1;
  }
  lines.splice(insertAt, 0, secretLine(s));
  return lines.join("\n");
}
