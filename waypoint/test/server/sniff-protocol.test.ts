import assert from 'node:assert/strict';
import { HTTP2_PREFACE, httpCodec, type SniffedProtocol, sniffProtocol } from '../../src/server/sniff-protocol.ts';

const b = (text: string): Buffer => Buffer.from(text, 'latin1');

describe('sniffProtocol', () => {
  const cases: Array<[string, Buffer, boolean, SniffedProtocol | undefined]> = [
    ['an HTTP/1.1 request line', b('GET / HTTP/1.1\r\n'), false, 'http1'],
    ['a method and its space are enough', b('POST '), false, 'http1'],
    ['any method llhttp knows', b('PROPFIND /x'), false, 'http1'],
    ['a method without its space yet is undecided', b('DELETE'), false, undefined],
    ['a method prefix is undecided', b('GE'), false, undefined],
    ['the HTTP/2 preface is h2c', HTTP2_PREFACE, false, 'http2'],
    ['the preface followed by frames', Buffer.concat([HTTP2_PREFACE, b('\0\0\0\x04\0\0\0\0\0')]), false, 'http2'],
    ['a preface prefix is undecided, though PRI is no method', b('PRI * HTTP/2'), false, undefined],
    ['PRI that turns out not to be the preface is TCP', b('PRI * HTTP/1.1\r\n\r\nxx\r\n\r\n'), false, 'tcp'],
    ['lower-case methods are not HTTP', b('get / HTTP/1.1'), false, 'tcp'],
    ['a Redis inline command is TCP', b('SET k v\r\n'), false, 'tcp'],
    ['TLS is TCP at the first byte', Buffer.from([0x16, 0x03, 0x01]), false, 'tcp'],
    ['text that is no method is TCP', b('hello'), false, 'tcp'],
    ['nothing yet is undecided', b(''), false, undefined],
    ['nothing at all, ended (timeout or EOF), is TCP', b(''), true, 'tcp'],
    ['a method prefix that ended is TCP', b('GE'), true, 'tcp'],
    ['a preface prefix that ended is TCP', b('PRI * '), true, 'tcp'],
  ];
  for (const [title, bytes, ended, expected] of cases) {
    it(title, () => assert.equal(sniffProtocol(bytes, ended), expected));
  }
});

describe('httpCodec (a port declared HTTP picks its codec like Envoy AUTO)', () => {
  const cases: Array<[string, Buffer, boolean, 'http1' | 'http2' | undefined]> = [
    ['the preface is HTTP/2', HTTP2_PREFACE, false, 'http2'],
    ['a request line is HTTP/1.1', b('GET / HTTP/1.1\r\n'), false, 'http1'],
    ['garbage is HTTP/1.1 too (and answered 400 by the parser)', b('\x16\x03\x01'), false, 'http1'],
    ['a preface prefix is undecided', b('PRI * HTTP'), false, undefined],
    ['a preface prefix that ended is HTTP/1.1', b('PRI'), true, 'http1'],
  ];
  for (const [title, bytes, ended, expected] of cases) {
    it(title, () => assert.equal(httpCodec(bytes, ended), expected));
  }
});
