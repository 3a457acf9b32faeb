import type { LeafTool, ResponsesTool } from './request-schema.js';

/** A tool as the model is offered it: its name in the chat request, and what a call of it is called back in the Responses API. */
export interface OfferedTool {
  chatName: string;
  name: string;
  namespace?: string;
  tool: LeafTool;
}

/**
 * A tool's name for the model: a namespaced one as `namespace.name`, the recipient form OpenAI's
 * own templates use, which every tool-call format here reads back (names of word characters and dots).
 */
export const chatName = (name: string, namespace?: string | null) => (namespace ? `${namespace}.${name}` : name);

/** The declared tools, namespaces opened, as the model is offered them. */
export function offeredTools(tools: readonly ResponsesTool[]): OfferedTool[] {
  return tools.flatMap((tool): OfferedTool[] =>
    tool.type === 'namespace' ? tool.tools.map((inner) => ({ chatName: chatName(inner.name, tool.name), name: inner.name, namespace: tool.name, tool: inner })) : [{ chatName: tool.name, name: tool.name, tool }],
  );
}
