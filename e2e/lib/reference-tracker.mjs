// The reference WebTorrent tracker (`bittorrent-tracker`, WebSocket only) in a process of its
// own, so the tracker load benchmark measures its memory and CPU apart from the load
// generator's. Prints `listening on <port>` once ready; runs until killed.

import Server from 'bittorrent-tracker/server';

const tracker = new Server({ udp: false, http: false, ws: true, stats: false });
tracker.on('warning', () => {});
tracker.on('error', () => {});
tracker.listen(0, '127.0.0.1', () => {
  console.log(`listening on ${tracker.http.address().port}`);
});
