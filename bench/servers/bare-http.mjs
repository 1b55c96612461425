// Baseline for the start-up benchmark: a bare node:http server answering any POST with a fixed JSON body.
import { createServer } from 'node:http';

createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"jsonrpc":"2.0","id":1,"result":{}}');
  });
}).listen(Number(process.env.PORT), '0.0.0.0');
