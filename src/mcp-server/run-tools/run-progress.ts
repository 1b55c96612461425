/**
 * Keeps a client informed while run_code streams: output goes out as log messages
 * (when the client asked for them)
 * and, when the client sent a progress token, as progress notifications (which also
 * reset the client's request timeout). Output is batched briefly so a chatty loop
 * does not become thousands of notifications; the final result holds everything anyway.
 */
import type { ExecutionEvent } from '../../protocol/sandbox-api.ts';
import type { ToolCall } from '../tools/tool-definition.ts';

const FLUSH_MS = 200;
const MAX_MESSAGE_CHARS = 2000;

export interface RunProgress {
  onEvent(event: ExecutionEvent): void;
  /** Sends what is pending and stops; call before returning the result. */
  finish(): Promise<void>;
}

export function createRunProgress(call: ToolCall): RunProgress {
  let pending = '';
  let events = 0;
  let timer: NodeJS.Timeout | undefined;
  let sending: Promise<void> = Promise.resolve();
  let beat = false;

  const send = (chunk: string) => {
    const progress = events;
    // Chained so notifications leave in order; a closed stream just drops them.
    sending = sending.then(async () => {
      try {
        // Dropped by the SDK unless the client asked for logs at info or below.
        if (chunk) await call.log('info', chunk, 'run_code');
        if (call.progressToken !== undefined) {
          const tail = chunk.length > MAX_MESSAGE_CHARS ? chunk.slice(-MAX_MESSAGE_CHARS) : chunk;
          await call.notify({
            method: 'notifications/progress',
            params: { progressToken: call.progressToken, progress, message: tail || 'running' },
          });
        }
      } catch {
        // the client went away; the run's result decides what happens next
      }
    });
  };

  const flush = () => {
    timer = undefined;
    if (!pending && !beat) return;
    const chunk = pending;
    pending = '';
    beat = false;
    send(chunk);
  };

  return {
    onEvent(event) {
      if (event.type === 'stdout' || event.type === 'stderr') {
        events++;
        pending += event.text;
      } else if (event.type === 'keepalive') {
        events++;
        beat = true;
      } else {
        return;
      }
      timer ??= setTimeout(flush, FLUSH_MS);
    },
    async finish() {
      if (timer) clearTimeout(timer);
      flush();
      await sending;
    },
  };
}
