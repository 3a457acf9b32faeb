/** A tool as the request declares it (OpenAI shape); only name and parameters matter here. */
export interface ToolDefinition {
  type?: string;
  function: { name: string; description?: string; parameters?: JsonSchema };
}

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  additionalProperties?: boolean | JsonSchema;
  [key: string]: unknown;
}

export interface ToolCall {
  /** The model's own id for the call when it gave a usable one, else nine random alphanumerics (see `callIdFor`). */
  id: string;
  name: string;
  /** Always a plain object. */
  arguments: Record<string, unknown>;
}

export interface ParseOptions {
  tools?: ToolDefinition[];
  /** A format name (see `ParserRegistry.formats()`), e.g. from the model id; tried first. */
  formatHint?: string;
  /** The prompt opened the reasoning, so the text starts inside it (until `</think>`). */
  startsInReasoning?: boolean;
}

export interface ParseResult {
  /** `ok`: calls found; `none`: no tool-call markup; `error`: markup found but no valid call. */
  status: 'ok' | 'none' | 'error';
  calls: ToolCall[];
  /** The text without call markup and reasoning (failed markup stays in it), trimmed. */
  content: string;
  reasoning?: string;
  format?: string;
  diagnostics: string[];
}

/** A call as a format parser reads it, before ids, normalisation and schema checks. */
export interface RawCall {
  name: string;
  /** An object, or a string that should hold one (decoded once). */
  arguments: unknown;
  /** Whether argument values carry their own types (JSON) or are text to type by schema. */
  typed: boolean;
  /** The id the model wrote for the call, if its format has one (kept when usable, see `callIdFor`). */
  id?: string;
}

/** What a format makes of one block of markup. */
export interface BlockResult {
  calls: RawCall[];
  /** Text inside the block that belongs to the visible content (a Harmony final message, say). */
  content?: string;
  reasoning?: string;
  /** Why the block yielded no call, when it should have. */
  error?: string;
  diagnostics?: string[];
}
