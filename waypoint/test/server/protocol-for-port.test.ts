import assert from 'node:assert/strict';
import { type DeclaredPort, protocolForPort, type ServedProtocol } from '../../src/server/protocol-for-port.ts';

describe('protocolForPort (Istio explicit protocol selection)', () => {
  const cases: Array<[string, DeclaredPort, ServedProtocol]> = [
    ['a port named http is HTTP/1.1', { name: 'http' }, 'http1'],
    ['the prefix before the first dash decides', { name: 'http-web' }, 'http1'],
    ['names are case-insensitive', { name: 'HTTP-Web' }, 'http1'],
    ['http2 is h2c', { name: 'http2-api' }, 'http2'],
    ['grpc is h2c', { name: 'grpc' }, 'http2'],
    ['grpc-web is matched whole, before the dash split', { name: 'grpc-web-ui' }, 'http2'],
    ['tcp is opaque', { name: 'tcp-db' }, 'tcp'],
    ['https is opaque to the waypoint (TLS end to end)', { name: 'https' }, 'tcp'],
    ['tls is opaque', { name: 'tls-passthrough' }, 'tcp'],
    ['mongo, redis and mysql are TCP', { name: 'redis' }, 'tcp'],
    ['mysql by name', { name: 'mysql-primary' }, 'tcp'],
    ['udp declared is never proxied as UDP: TCP', { name: 'udp' }, 'tcp'],
    ['an unnamed port is detected', {}, 'detect'],
    ['a name Istio does not know is detected', { name: 'web' }, 'detect'],
    ['a protocol as suffix does not count', { name: 'web-http' }, 'detect'],
    ['h2c is not an Istio port name: detected (the preface is found anyway)', { name: 'h2c' }, 'detect'],
    ['appProtocol wins over the name', { name: 'http', appProtocol: 'tcp' }, 'tcp'],
    ['an unknown appProtocol is read instead of the name, and detected', { name: 'http', appProtocol: 'example.com/custom' }, 'detect'],
    ['an empty appProtocol is no appProtocol', { name: 'grpc', appProtocol: '' }, 'http2'],
    ['appProtocol kubernetes.io/h2c is HTTP/2 prior knowledge', { appProtocol: 'kubernetes.io/h2c' }, 'http2'],
    ['appProtocol kubernetes.io/ws is HTTP/1.1', { appProtocol: 'kubernetes.io/ws' }, 'http1'],
    ['appProtocol kubernetes.io/wss is TLS: TCP', { appProtocol: 'kubernetes.io/wss' }, 'tcp'],
    ['appProtocol grpc', { appProtocol: 'grpc' }, 'http2'],
    ['the server-first MySQL port without a known name is TCP', { name: 'db', servicePort: 3306 }, 'tcp'],
    ['SMTP, DNS and MongoDB ports too', { servicePort: 27017 }, 'tcp'],
    ['a declared name wins over the well-known port', { name: 'http', servicePort: 3306 }, 'http1'],
    ['other ports without a name are detected', { servicePort: 8080 }, 'detect'],
  ];
  for (const [title, port, expected] of cases) {
    it(title, () => assert.equal(protocolForPort(port), expected));
  }
});
