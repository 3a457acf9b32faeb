import { parseJsonLenient } from '../json-lenient.js';
import type { ToolCallFormat } from './format.js';
import { noCall } from './shared.js';

const MESSAGE = '<|message|>';
const CHANNEL = '<|channel|>';

/**
 * gpt-oss Harmony: `<|start|>assistant<|channel|>CHANNEL[ to=functions.NAME][ <|constrain|>json]<|message|>BODY`
 * ending at `<|end|>`, `<|call|>` or `<|return|>` (or the end of the text). The recipient may
 * also stand before the channel. A message with a `functions.` recipient is a call on any channel;
 * otherwise `analysis` is reasoning and `commentary` (a preamble) and `final` are content.
 */
export const harmony: ToolCallFormat = {
  name: 'harmony',
  blocks: [
    { open: '<|start|>assistant', close: ['<|end|>', '<|call|>', '<|return|>'] },
    { open: CHANNEL, close: ['<|end|>', '<|call|>', '<|return|>'] },
  ],
  parseBlock(payload, { open, complete }) {
    const split = payload.indexOf(MESSAGE);
    if (split < 0) return complete ? noCall('a Harmony message without <|message|>') : noCall('the Harmony message header is cut off');
    const header = (open === CHANNEL ? CHANNEL : '') + payload.slice(0, split);
    const body = payload.slice(split + MESSAGE.length);
    const recipient = /(?:^|\s)to=functions\.([\w.\-]+)/.exec(header)?.[1];
    const channelAt = header.indexOf(CHANNEL);
    const channel = channelAt >= 0 ? /^\s*(\w+)/.exec(header.slice(channelAt + CHANNEL.length))?.[1] : undefined;
    if (recipient) {
      const parsed = parseJsonLenient(body.trim());
      if (!parsed.ok) return noCall(complete ? `the arguments of functions.${recipient} are not valid JSON: ${parsed.error}` : `the call to functions.${recipient} is cut off (truncated)`);
      return { calls: [{ name: recipient, arguments: parsed.value, typed: true }] };
    }
    return channel === 'analysis' ? { calls: [], reasoning: body } : { calls: [], content: body };
  },
};
