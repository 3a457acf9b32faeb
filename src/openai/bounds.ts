/** How large and deep a request body may be, checked before the schema: the schema's cost then has a bound. */
export interface BodyBounds {
  /** Deepest nesting of objects and arrays (mlx_lm.server's parser drops the connection on very deep JSON). */
  maxDepth: number;
  /** Most items in one array (messages, tools, content parts, stop strings...). */
  maxArrayLength: number;
}

export const DEFAULT_BODY_BOUNDS: BodyBounds = { maxDepth: 32, maxArrayLength: 4_096 };

/**
 * The first place where `value` breaks the bounds, as a message naming it, or undefined. One
 * pass, without recursion (so a deep body cannot overflow the stack), stopping at the first problem.
 */
export function exceedsBounds(value: unknown, bounds: BodyBounds = DEFAULT_BODY_BOUNDS): { message: string; param: string } | undefined {
  const stack: Array<{ value: unknown; path: string; depth: number }> = [{ value, path: '', depth: 0 }];
  while (stack.length > 0) {
    const { value: node, path, depth } = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    const where = path || 'body';
    if (depth >= bounds.maxDepth) return { message: `${where}: nested deeper than ${bounds.maxDepth} levels`, param: where };
    if (Array.isArray(node)) {
      if (node.length > bounds.maxArrayLength) return { message: `${where}: ${node.length} items; at most ${bounds.maxArrayLength} are accepted`, param: where };
      for (let i = node.length - 1; i >= 0; i--) stack.push({ value: node[i], path: `${path}[${i}]`, depth: depth + 1 });
    } else {
      for (const [key, child] of Object.entries(node)) stack.push({ value: child, path: path ? `${path}.${key}` : key, depth: depth + 1 });
    }
  }
  return undefined;
}
