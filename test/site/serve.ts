/** A minimal static server for a built site under a base path (what a static host does). */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
};

export interface StaticSite {
  origin: string;
  close(): Promise<void>;
}

export async function serveStatic(root: string, base: string): Promise<StaticSite> {
  const server: Server = createServer((request, response) => {
    void (async () => {
      const url = new URL(request.url ?? '/', 'http://localhost');
      const pathname = decodeURIComponent(url.pathname);
      let file: string | undefined;
      if (pathname.startsWith(base)) {
        const candidate = normalize(join(root, pathname.slice(base.length)));
        if (candidate === root || candidate.startsWith(root + sep)) {
          const info = await stat(candidate).catch(() => undefined);
          if (info?.isFile()) file = candidate;
          else if (info?.isDirectory() && (await stat(join(candidate, 'index.html')).catch(() => undefined))) file = join(candidate, 'index.html');
        }
      }
      const status = file ? 200 : 404;
      const body = file ?? join(root, '404.html');
      response.writeHead(status, { 'Content-Type': TYPES[extname(body).toLowerCase()] ?? 'application/octet-stream' });
      if (request.method === 'HEAD') return response.end();
      createReadStream(body).on('error', () => response.end()).pipe(response);
    })();
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}
