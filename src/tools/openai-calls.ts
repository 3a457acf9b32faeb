import { newCallId } from './ids.js';
import type { ToolCall } from './types.js';

/** Ids as `call_…` and arguments as JSON text of an object, whatever the model server sent. */
export function normaliseToolCall(call: Record<string, unknown>): Record<string, unknown> {
  const fn = { ...((call.function as Record<string, unknown> | undefined) ?? {}) };
  let args: unknown = fn.arguments;
  for (let i = 0; i < 2 && typeof args === 'string'; i++) {
    try {
      args = JSON.parse(args);
    } catch {
      break;
    }
  }
  fn.arguments = typeof args === 'string' ? args : JSON.stringify(args ?? {});
  const id = typeof call.id === 'string' && call.id.startsWith('call_') ? call.id : newCallId();
  return { ...call, id, type: 'function', function: fn };
}

export const asToolCall = (call: ToolCall): Record<string, unknown> => ({ id: call.id, type: 'function', function: { name: call.name, arguments: JSON.stringify(call.arguments) } });
