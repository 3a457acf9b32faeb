import { parseJsonLenient } from './json-lenient.js';
import { parsePythonCallList } from './python-literal.js';
import type { JsonSchema } from './types.js';

/**
 * Arguments against the declared tool's JSON schema. Text values from untyped formats (Qwen3-Coder,
 * GLM, DSML strings) are typed by the schema; a value declared as a string is never coerced
 * ("10001" stays a zip code). Mismatches become diagnostics; nothing is thrown away.
 */
export function applySchema(
  toolName: string,
  args: Record<string, unknown>,
  schema: JsonSchema | undefined,
  untyped: boolean,
): { arguments: Record<string, unknown>; diagnostics: string[] } {
  const diagnostics: string[] = [];
  const properties = schema?.properties ?? {};
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(args)) {
    const declared = properties[key];
    const typed = untyped && typeof value === 'string' && declared ? coerce(value, declared) : value;
    out[key] = typed;
    if (declared && !matches(typed, declared)) {
      diagnostics.push(`${toolName}: argument "${key}" should be ${describe(declared)}, got ${typeName(typed)}`);
    } else if (!declared && schema?.additionalProperties === false) {
      diagnostics.push(`${toolName}: argument "${key}" is not declared`);
    }
  }
  for (const key of schema?.required ?? []) {
    if (!(key in out)) diagnostics.push(`${toolName}: required argument "${key}" is missing`);
  }
  return { arguments: out, diagnostics };
}

/** Type names real tool definitions use that are not JSON Schema's (Python's, mostly), as their JSON Schema twins. */
const TYPE_NAMES: Record<string, string> = { float: 'number', double: 'number', int: 'integer', bool: 'boolean', dict: 'object', list: 'array', str: 'string', tuple: 'array' };

function types(schema: JsonSchema): string[] {
  const variants = schema.anyOf ?? schema.oneOf;
  if (variants) return variants.flatMap(types);
  const named = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
  return named.map((type) => TYPE_NAMES[type] ?? type);
}

function coerce(value: string, schema: JsonSchema): unknown {
  const declared = types(schema);
  if (declared.length === 0 || declared.includes('string')) return value;
  const trimmed = value.trim();
  if (declared.includes('null') && (trimmed === 'null' || trimmed === 'None')) return null;
  for (const type of declared) {
    if (type === 'integer' && /^-?\d+(\.0+)?$/.test(trimmed)) return Number.parseInt(trimmed, 10);
    if (type === 'number' && trimmed !== '' && Number.isFinite(Number(trimmed))) return Number(trimmed);
    if (type === 'boolean' && /^(true|false)$/i.test(trimmed)) return trimmed.toLowerCase() === 'true';
    if (type === 'object' || type === 'array') {
      const parsed = parseJsonLenient(trimmed);
      if (parsed.ok && (type === 'array' ? Array.isArray(parsed.value) : isPlainObject(parsed.value))) return parsed.value;
      if (type === 'array') {
        const python = parsePythonCallList(`[f(v=${trimmed})]`);
        if (python.ok && Array.isArray(python.calls[0]?.arguments.v)) return python.calls[0]!.arguments.v;
      }
    }
  }
  return value;
}

function matches(value: unknown, schema: JsonSchema): boolean {
  const declared = types(schema);
  if (declared.length === 0) return true;
  return declared.some((type) => {
    switch (type) {
      case 'string':
        return typeof value === 'string';
      case 'integer':
        return Number.isInteger(value);
      case 'number':
        return typeof value === 'number';
      case 'boolean':
        return typeof value === 'boolean';
      case 'array':
        return Array.isArray(value);
      case 'object':
        return isPlainObject(value);
      case 'null':
        return value === null;
      default:
        return true;
    }
  });
}

function describe(schema: JsonSchema): string {
  return types(schema).join(' or ') || 'anything';
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (Number.isInteger(value)) return 'integer';
  return typeof value;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
