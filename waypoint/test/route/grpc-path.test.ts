import assert from 'node:assert/strict';
import { parseGrpcPath } from '../../src/route/grpc-path.ts';

describe('parseGrpcPath', () => {
  const cases: [string, { service: string; method: string } | undefined][] = [
    ['/shop.v1.Reviews/GetReview', { service: 'shop.v1.Reviews', method: 'GetReview' }],
    ['/Reviews/Get', { service: 'Reviews', method: 'Get' }],
    ['/grpc.health.v1.Health/Check', { service: 'grpc.health.v1.Health', method: 'Check' }],
    ['/shop.Reviews/', undefined],
    ['//Get', undefined],
    ['/shop.Reviews', undefined],
    ['/shop.Reviews/Get/extra', undefined],
    ['/shop.Reviews/Get?x=1', undefined],
    ['shop.Reviews/Get', undefined],
    ['/', undefined],
    ['', undefined],
    ['*', undefined],
  ];
  for (const [path, expected] of cases) {
    it(`${JSON.stringify(path)} → ${expected ? `${expected.service} ${expected.method}` : 'not a gRPC method path'}`, () => {
      assert.deepEqual(parseGrpcPath(path), expected);
    });
  }
});
