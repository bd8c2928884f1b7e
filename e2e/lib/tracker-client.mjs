// What the tracker load generators (e2e/bench/tracker.mjs, spread.mjs) say as WebTorrent
// clients.

/** A tracker message as JSON, or undefined when it is not JSON (ignored, as a client would). */
export function parseMessage(data) {
  try {
    return JSON.parse(data);
  } catch {
    return undefined;
  }
}

/** The announce answering the relayed offer `msg` as `peer`, with `sdp` as the answer. */
export function answerFor(msg, peer, sdp) {
  return JSON.stringify({
    action: 'announce', info_hash: msg.info_hash, peer_id: peer, to_peer_id: msg.peer_id,
    offer_id: msg.offer_id, answer: { type: 'answer', sdp },
  });
}

/** The announce that joins `peer` to the swarm `infoHash` without offers (a seeder's). */
export function joinMessage(infoHash, peer) {
  return {
    action: 'announce', info_hash: infoHash, peer_id: peer, numwant: 0,
    uploaded: 0, downloaded: 0, left: 0, event: 'started',
  };
}

/** Resolves once `ws` has opened and sent the join of `peer` to `infoHash` (or failed). */
export function joinOnOpen(ws, infoHash, peer) {
  return new Promise((resolve) => {
    ws.once('open', () => {
      ws.send(JSON.stringify(joinMessage(infoHash, peer)));
      resolve();
    });
    ws.once('error', resolve);
  });
}
