/**
 * Reads the /execute NDJSON stream incrementally and folds it into one Execution:
 * every event is handed to the caller as it arrives (for progress), and the final
 * result still holds all of it.
 */
import {
  parseExecutionEvent,
  type ErrorEvent,
  type ExecutionEvent,
  type FilesChangedEvent,
  type ResultEvent,
} from '../../protocol/sandbox-api.ts';

export interface Execution {
  stdout: string;
  stderr: string;
  results: ResultEvent[];
  error?: ErrorEvent;
  executionCount?: number;
  /** False when the stream ended without end_of_execution (the sandbox went away mid-run, or held the run). */
  complete: boolean;
  /** What the sandbox said the run changed (files_changed, extension); undefined when it did not say. */
  filesChanged?: FilesChangedEvent;
  /** The run goes on in the sandbox under this id (run_held, extension): the rest is read with runEvents. */
  heldAs?: string;
}

export type ExecutionEventListener = (event: ExecutionEvent) => void;

/** Splits a byte stream into lines without waiting for its end. */
export async function* readLines(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true });
    let newline: number;
    for (newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line.trim()) yield line;
    }
  }
  buffered += decoder.decode();
  if (buffered.trim()) yield buffered;
}

export async function collectExecution(body: ReadableStream<Uint8Array>, onEvent?: ExecutionEventListener): Promise<Execution> {
  const fold = new ExecutionFold();
  for await (const line of readLines(body)) {
    const event = parseExecutionEvent(line);
    if (!event) continue;
    fold.add(event);
    onEvent?.(event);
  }
  return fold.execution();
}

/** Folds events, as they come, into one Execution (a stream's, or the part of a held run read at once). */
export class ExecutionFold {
  readonly #stdout: string[] = [];
  readonly #stderr: string[] = [];
  readonly #execution: Execution = { stdout: '', stderr: '', results: [], complete: false };

  add(event: ExecutionEvent): void {
    const execution = this.#execution;
    switch (event.type) {
      case 'stdout':
        this.#stdout.push(event.text);
        break;
      case 'stderr':
        this.#stderr.push(event.text);
        break;
      case 'result':
        execution.results.push(event);
        break;
      case 'error':
        execution.error = event;
        break;
      case 'number_of_executions':
        execution.executionCount = event.execution_count;
        break;
      case 'files_changed':
        execution.filesChanged = event;
        break;
      case 'run_held':
        execution.heldAs = event.run_id;
        break;
      case 'end_of_execution':
        execution.complete = true;
        break;
      case 'keepalive':
        break;
    }
  }

  execution(): Execution {
    return { ...this.#execution, stdout: this.#stdout.join(''), stderr: this.#stderr.join('') };
  }
}
