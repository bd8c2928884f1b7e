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

/** A 20-character id (info_hash or peer_id) made of `prefix` and the number `n`. */
export const id20 = (prefix, n) => `${prefix}${n.toString(36)}`.padEnd(20, '_').slice(0, 20);

/** Sockets one load generator opens per source address: the helper allows 32 per address. */
export const PER_ADDRESS = 30;

/**
 * The loopback source address of the generator's `n`-th socket, PER_ADDRESS sockets to an
 * address (the helper counts sockets per address); `host` keeps generators apart.
 */
export function sourceAddress(n, host = 2) {
  const a = Math.floor(n / PER_ADDRESS);
  return `127.${1 + Math.floor(a / 250)}.${a % 250}.${host}`;
}
