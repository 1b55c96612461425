/** What the bench measures on the Jupyter Server side: kernel start over REST, execute over the websocket. */
import { KernelAPI, KernelConnection, type ServerConnection } from '@jupyterlab/services';
import type { IExecuteResultMsg } from '@jupyterlab/services/lib/kernel/messages.js';

/** POST /api/kernels: answers once the kernel process is launched, before it can run code. */
export function startKernelOverRest(settings: ServerConnection.ISettings, name = 'python3') {
  return KernelAPI.startNew({ name }, settings);
}

/** Opens the kernel's websocket and waits for its kernel_info reply (the kernel is then ready). */
export async function connectKernelOverWebsocket(settings: ServerConnection.ISettings, model: KernelAPI.IModel): Promise<KernelConnection> {
  const kernel = new KernelConnection({ model, serverSettings: settings, handleComms: false });
  await kernel.info;
  return kernel;
}

/** Runs code and resolves with its text/plain value once the reply and the idle status are in. */
export async function executeOverWebsocket(kernel: KernelConnection, code: string): Promise<string | undefined> {
  let value: string | undefined;
  const future = kernel.requestExecute({ code, store_history: true });
  future.onIOPub = (message) => {
    if (message.header.msg_type === 'execute_result') {
      value = (message as IExecuteResultMsg).content.data['text/plain'] as string | undefined;
    }
  };
  const reply = await future.done;
  if (reply.content.status !== 'ok') throw new Error(`Jupyter execute failed: ${JSON.stringify(reply.content)}`);
  return value;
}

export async function shutdownKernel(settings: ServerConnection.ISettings, kernel: KernelConnection): Promise<void> {
  kernel.dispose();
  await KernelAPI.shutdownKernel(kernel.id, settings);
}
