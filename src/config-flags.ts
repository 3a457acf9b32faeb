import type { z } from 'zod';

/** One leaf of the configuration schema as the command line and the environment name it. */
export interface OptionSpec {
  path: string[];
  /** `--tool-parsing.budget-ms`: the path in kebab case. */
  flag: string;
  /** `MLX_GUARD_TOOL_PARSING_BUDGET_MS`. */
  env: string;
  /** A shorter flag and variable for the options people set most. */
  alias?: { flag: string; env: string };
  /** `list`: a JSON array of strings; `json`: a JSON array of objects (the schema checks each). */
  kind: 'string' | 'number' | 'boolean' | 'list' | 'json';
  description: string;
  secret: boolean;
}

interface Introspectable {
  def: { type: string; innerType?: Introspectable; shape?: Record<string, Introspectable>; element?: Introspectable };
  shape?: Record<string, Introspectable>;
  description?: string;
}

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const snake = (name: string) => kebab(name).replaceAll('-', '_').toUpperCase();

/**
 * Every leaf option of `schema` (objects are walked, wrappers such as defaults unwrapped), with
 * its flag, variable, kind and description: `--help` and the flag parser both come from here, so
 * neither can forget an option.
 */
export function optionSpecs(schema: z.ZodType, aliases: Record<string, { flag: string; env: string }>, secrets: ReadonlySet<string>): OptionSpec[] {
  const specs: OptionSpec[] = [];
  const walk = (node: Introspectable, path: string[], description: string | undefined) => {
    const described = node.description ?? description;
    const type = node.def.type;
    if (type === 'object') {
      for (const [key, child] of Object.entries(node.shape ?? node.def.shape ?? {})) walk(child, [...path, key], undefined);
      return;
    }
    if ((type === 'default' || type === 'prefault' || type === 'optional' || type === 'nullable') && node.def.innerType) return walk(node.def.innerType, path, described);
    const dotted = path.join('.');
    specs.push({
      path,
      flag: `--${path.map(kebab).join('.')}`,
      env: `MLX_GUARD_${path.map(snake).join('_')}`,
      ...(aliases[dotted] ? { alias: aliases[dotted] } : {}),
      kind: type === 'number' ? 'number' : type === 'boolean' ? 'boolean' : type === 'array' ? (node.def.element?.def.type === 'string' ? 'list' : 'json') : 'string',
      description: described ?? '',
      secret: secrets.has(dotted),
    });
  };
  walk(schema as unknown as Introspectable, [], undefined);
  return specs;
}

/** A flag's or variable's text as the option's value; undefined with the reason when it is not one. */
export function convertOption(spec: OptionSpec, raw: string): { value: unknown } | { problem: string } {
  if (spec.kind === 'string') return { value: raw };
  if (spec.kind === 'number') {
    const value = Number(raw);
    return raw.trim() === '' || !Number.isFinite(value) ? { problem: `must be a number (got "${raw}")` } : { value };
  }
  if (spec.kind === 'boolean') {
    if (raw === 'true' || raw === '1') return { value: true };
    if (raw === 'false' || raw === '0') return { value: false };
    return { problem: `must be true or false (got "${raw}")` };
  }
  try {
    const value: unknown = JSON.parse(raw);
    if (spec.kind === 'json' && Array.isArray(value)) return { value };
    if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return { value };
  } catch {
    // Not JSON: said below.
  }
  if (spec.kind === 'json') return { problem: `must be a JSON array, e.g. '[{"name": "coder"}]' (got ${raw})` };
  return { problem: `must be a JSON array of strings, e.g. '["--flag", "value"]' (got ${raw})` };
}
