/**
 * What stands between stdin and the SDK's stdio transport: the SDK skips a line that is
 * not JSON without a word (and one that is JSON but no JSON-RPC message only reaches
 * onerror), so a client that sent garbage would wait forever. Each such line is answered
 * here as JSON-RPC says (-32700 Parse error, -32600 Invalid Request, id null) and kept
 * from the SDK; every other line passes through unchanged, its messages told to `onMessage`.
 */
import { StringDecoder } from 'node:string_decoder';
import { Transform, type Readable, type Writable } from 'node:stream';

/** A line longer than this is passed on unread: the SDK's own buffer limit (10 MiB) then applies. */
const MAX_CHECKED_LINE = 16 * 1024 * 1024;

export function answerMalformedLines(input: Readable, output: Writable, onMessage?: (message: unknown) => void): Readable {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  /** Inside a line too long to check, passed on as it comes until its end. */
  let passingLongLine = false;
  const answer = (code: number, message: string) =>
    output.write(`${JSON.stringify({ jsonrpc: '2.0', id: null, error: { code, message } })}\n`);
  const check = (line: string): boolean => {
    const text = line.replace(/\r$/, '');
    if (text.trim() === '') return true;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      answer(-32700, `Parse error: the line is not JSON (${error instanceof Error ? error.message : String(error)})`);
      return false;
    }
    const isMessage = (item: unknown) => typeof item === 'object' && item !== null && (item as { jsonrpc?: unknown }).jsonrpc === '2.0';
    if (Array.isArray(value) ? value.length > 0 && value.every(isMessage) : isMessage(value)) {
      for (const message of Array.isArray(value) ? value : [value]) onMessage?.(message);
      return true;
    }
    answer(-32600, 'Invalid Request: not a JSON-RPC 2.0 message');
    return false;
  };
  const filter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      pending += decoder.write(chunk);
      let passed = '';
      let newline = pending.indexOf('\n');
      while (newline >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (passingLongLine || check(line)) passed += `${line}\n`;
        passingLongLine = false;
        newline = pending.indexOf('\n');
      }
      if (pending.length > MAX_CHECKED_LINE) {
        passed += pending;
        pending = '';
        passingLongLine = true;
      }
      done(null, passed.length > 0 ? passed : undefined);
    },
    flush(done) {
      pending += decoder.end();
      done(null, pending.length > 0 ? pending : undefined);
    },
  });
  return input.pipe(filter);
}
