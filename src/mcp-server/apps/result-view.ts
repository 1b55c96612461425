/**
 * The result viewer: one MCP Apps view (`io.modelcontextprotocol/ui`, SEP-1865) that hosts
 * render for run_code and wait_run results. It shows the run's tables (sortable and pageable;
 * rows past the first page come from result_page through the host), its charts (the PNGs,
 * and the chart data the sandbox read from them) and its stdout, stderr and error.
 *
 * One self-contained HTML document: no external scripts, styles, fonts or requests (its
 * resource declares no CSP domains, so a host allows it none), the host bridge spoken by hand
 * over postMessage (JSON-RPC as the extension specifies: ui/initialize, the tool-result
 * notification, tools/call). Kept under VIEW_BUDGET_BYTES (test/mcp-server/apps/result-view.test.ts);
 * everything the data puts on screen is set as text, never parsed as HTML.
 *
 * The HTML (result-view-html.ts) is a string in a module, not a file beside the code, so the FC
 * bundle carries it; it is imported when first read, so it stays out of what a cold start loads.
 */

/** The view's resource URI, named in run_code's and wait_run's `_meta.ui.resourceUri`. */
export const VIEW_URI = 'ui://fc-code-interpreter/result-view.html';
/** The MIME type MCP Apps hosts render (`RESOURCE_MIME_TYPE` of @modelcontextprotocol/ext-apps). */
export const VIEW_MIME_TYPE = 'text/html;profile=mcp-app';
/** The view's size budget, written down and tested: it travels to the host with every first render. */
export const VIEW_BUDGET_BYTES = 24 * 1024;

/** A tool whose results the view shows: `_meta.ui.resourceUri`, and the older flat key that some hosts still read. */
export const SHOWN_IN_VIEW = { ui: { resourceUri: VIEW_URI }, 'ui/resourceUri': VIEW_URI } as const;

/** The view as resources/list names it. */
export const VIEW_RESOURCE = {
  uri: VIEW_URI,
  name: 'result-view',
  title: 'Run results viewer',
  description: "A viewer for run_code's results (MCP Apps): tables to sort and page, charts, stdout and stderr.",
  mimeType: VIEW_MIME_TYPE,
} as const;

/** resources/read's contents for the view; `_meta.ui`: no outside domains at all, and a border around it. */
export async function viewContents() {
  const { VIEW_HTML } = await import('./result-view-html.ts');
  return [{ uri: VIEW_URI, mimeType: VIEW_MIME_TYPE, text: VIEW_HTML, _meta: { ui: { csp: {}, prefersBorder: true } } }];
}
