// The boundary between discovery and the state: one typed resource in, a domain object out, or
// an InvalidResourceError naming the resource and the field that failed.
import type { Address, Authorization } from '../../index.ts';
import { typeUrls } from '../../index.ts';
import { toAddress } from './convert-address.ts';
import { toAuthorization } from './convert-authorization.ts';
import { InvalidResourceError } from './invalid-resource-error.ts';

export type Converted = { typeUrl: typeof typeUrls.address; value: Address } | { typeUrl: typeof typeUrls.authorization; value: Authorization };

export function convertResource(typeUrl: string, name: string, payload: unknown): Converted {
  try {
    if (typeUrl === typeUrls.address) return { typeUrl, value: toAddress(name, payload) };
    if (typeUrl === typeUrls.authorization) return { typeUrl, value: toAuthorization(name, payload) };
  } catch (err) {
    throw new InvalidResourceError(typeUrl, name, (err as Error).message, { cause: err });
  }
  throw new InvalidResourceError(typeUrl, name, `unsupported type url ${JSON.stringify(typeUrl)}`);
}
