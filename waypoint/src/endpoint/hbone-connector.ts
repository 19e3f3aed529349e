// undici's connector, backed by HBONE: each "socket" undici opens to an endpoint is a CONNECT
// stream to the pod's ztunnel, from the pool's shared mTLS connections.
//
// What undici 8 asks of a connector's socket (read from lib/dispatcher/client-h1.js and
// client-h2.js): a Duplex that is neither destroyed nor errored when handed over; the stream API
// (read/unshift/write/cork/uncork/destroy, 'readable'/'end'/'close'/'error'); `ref`/`unref`/
// `setTypeOfService` only where present; `alpnProtocol === 'h2'` to speak HTTP/2 on it, else
// HTTP/1.1. `setKeepAlive`/`setNoDelay` are called by undici's own TCP connector only, and the
// address fields only feed error details. An HTTP/2 CONNECT stream is such a Duplex, so the one
// adaptation is the ALPN mark for h2c, which is what undici's own connector does for `useH2c`.
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { HboneConnectRequest, HbonePool, HboneSource } from '@ambient/hbone';
import type { buildConnector } from 'undici';
import type { Endpoint } from './endpoint.ts';

/** The HBONE CONNECT for an endpoint: to its ztunnel, authority = the pod's target address, its identity required. */
export function hboneConnectRequest(endpoint: Endpoint, source: HboneSource): HboneConnectRequest {
  return {
    source,
    destination: endpoint.address,
    hboneAddress: endpoint.hboneAddress,
    expectedIdentities: [endpoint.identity],
  };
}

export function hboneConnector(pool: HbonePool, source: () => HboneSource, endpoint: Endpoint): buildConnector.connector {
  const h2c = endpoint.protocol === 'http2';
  return (_options, callback) => {
    // The source is read per connection: a rotated certificate is used from the next one on
    // (and with none valid, the connection fails rather than present an expired one).
    let request: HboneConnectRequest;
    try {
      request = hboneConnectRequest(endpoint, source());
    } catch (err) {
      callback(err as Error, null);
      return;
    }
    pool.connect(request).then(
      (stream: Duplex) => {
        if (h2c) (stream as Duplex & { alpnProtocol?: string }).alpnProtocol = 'h2';
        // The type says net.Socket; undici needs only what the comment above lists.
        callback(null, stream as net.Socket);
      },
      (err: Error) => callback(err, null),
    );
  };
}
