// plughost-refws: the WebSocket reference of make bench - a minimal echo over Node's `ws` (Debian's
// node-ws), the server most people would pick. Each message goes back as it came (binary stays
// binary). permessage-deflate is off: plughost does no compression, and neither does the load
// generator.
//
//   NODE_PATH=/usr/share/nodejs node bench/refws.js [--port P] [--port-file F]
//
// --port 0 (the default) lets the OS choose; the port is written to F once the server listens
// (written to F.tmp and renamed, so a reader never sees half of it). SIGTERM or SIGINT stops it.
'use strict';

const fs = require('fs');
const { WebSocketServer } = require('ws');

let port = 0;
let portFile = '';
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i += 2) {
  if (args[i] === '--port' && i + 1 < args.length) {
    port = Number(args[i + 1]);
  } else if (args[i] === '--port-file' && i + 1 < args.length) {
    portFile = args[i + 1];
  } else {
    process.stderr.write('usage: refws.js [--port P] [--port-file F]\n');
    process.exit(2);
  }
}

const server = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false });
server.on('connection', (socket) => {
  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  socket.on('error', () => socket.terminate());
});
server.on('listening', () => {
  if (portFile) {
    fs.writeFileSync(portFile + '.tmp', String(server.address().port) + '\n');
    fs.renameSync(portFile + '.tmp', portFile);
  }
});
server.on('error', (error) => {
  process.stderr.write('refws: ' + error.message + '\n');
  process.exit(1);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
