/**
 * A host for MCP Apps views in headless Chromium (Debian's, driven by playwright-core), with the
 * extension's own host side: @modelcontextprotocol/ext-apps' AppBridge and PostMessageTransport,
 * bundled for the page by esbuild. The view runs in a sandboxed iframe (scripts only, an opaque
 * origin, as hosts run it); its tools/call requests reach `callTool` in Node, which the test
 * points at a real MCP server. Not a test file itself.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { chromium, type BrowserContext, type FrameLocator, type Page } from 'playwright-core';
import { ROOT } from './mcp-harness.ts';

export const CHROMIUM = '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface AppHost {
  page: Page;
  /** The view's document. */
  view: FrameLocator;
  /** tools/call requests the view made, in order. */
  calls: { name: string; arguments?: Record<string, unknown> }[];
  /** Loads the view's HTML into the iframe and waits for its ui/notifications/initialized. */
  load(html: string): Promise<void>;
  /** Sends the tool's input and result to the view (ui/notifications/tool-input, tool-result). */
  showResult(result: unknown, args?: Record<string, unknown>): Promise<void>;
  close(): Promise<void>;
}

async function bridgeBundle(): Promise<string> {
  const built = await build({
    stdin: {
      contents: "export { AppBridge, PostMessageTransport } from '@modelcontextprotocol/ext-apps/app-bridge';",
      resolveDir: ROOT,
    },
    bundle: true,
    format: 'iife',
    globalName: 'ExtApps',
    platform: 'browser',
    write: false,
    logLevel: 'error',
  });
  return built.outputFiles[0]!.text;
}

const HOST_SCRIPT = `
window.loadView = async (html) => {
  const iframe = document.getElementById('view');
  // One bridge per view: an earlier one would also answer the new view's requests (the iframe's window stays the same).
  if (window.bridge) await window.bridge.close();
  const bridge = new ExtApps.AppBridge(null, { name: 'test-host', version: '1.0.0' }, { serverTools: {} }, {
    hostContext: { theme: 'light', displayMode: 'inline', platform: 'web' },
  });
  bridge.oncalltool = (params) => window.hostCallTool(params);
  bridge.onsizechange = ({ height }) => { if (height) iframe.style.height = height + 'px'; };
  const initialized = new Promise((resolve) => { bridge.oninitialized = resolve; });
  iframe.srcdoc = html;
  await bridge.connect(new ExtApps.PostMessageTransport(iframe.contentWindow, iframe.contentWindow));
  await initialized;
  window.bridge = bridge;
};
window.showResult = async (result, args) => {
  await window.bridge.sendToolInput({ arguments: args });
  await window.bridge.sendToolResult(result);
};`;

export async function openAppHost(
  callTool: (params: { name: string; arguments?: Record<string, unknown> }) => Promise<unknown>,
): Promise<AppHost> {
  const profile = await mkdtemp(join(tmpdir(), 'app-host-'));
  let context: BrowserContext | undefined;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport: { width: 880, height: 900 },
    });
    const page = context.pages()[0] ?? (await context.newPage());
    const calls: AppHost['calls'] = [];
    await page.exposeFunction('hostCallTool', async (params: { name: string; arguments?: Record<string, unknown> }) => {
      calls.push(params);
      return callTool(params);
    });
    await page.setContent(
      '<!doctype html><html><body style="margin:0;background:#fff"><iframe id="view" sandbox="allow-scripts" style="border:0;width:100%;height:400px;display:block"></iframe></body></html>',
    );
    await page.addScriptTag({ content: await bridgeBundle() });
    await page.addScriptTag({ content: HOST_SCRIPT });
    const opened = context;
    return {
      page,
      view: page.frameLocator('#view'),
      calls,
      load: (html) => page.evaluate((text) => (globalThis as unknown as { loadView(h: string): Promise<void> }).loadView(text), html),
      showResult: (result, args = {}) =>
        page.evaluate(([r, a]) => (globalThis as unknown as { showResult(r: unknown, a: unknown): Promise<void> }).showResult(r, a), [
          result,
          args,
        ] as const),
      async close() {
        await opened.close();
        await rm(profile, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await context?.close().catch(() => {});
    await rm(profile, { recursive: true, force: true });
    throw error;
  }
}
