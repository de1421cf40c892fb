/**
 * A `hash_key` template with `${name}` placeholders, compiled once into a function of a
 * request's variables (SIP: call_id, from_user…; HTTP: client, host, path, method). An unknown
 * name gives "". FastAGI's templates have their own engine (rewrite filters).
 */
export function compilePlaceholders(template: string): (vars: ReadonlyMap<string, string>) => string {
  const parts = template.split(/(\$\{[A-Za-z_][A-Za-z0-9_]*\})/);
  return (vars) =>
    parts.map((p) => (p.startsWith("${") && p.endsWith("}") ? (vars.get(p.slice(2, -1)) ?? "") : p)).join("");
}
