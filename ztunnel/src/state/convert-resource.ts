// The boundary between discovery and the state: one typed resource in, a domain object out, or
// an InvalidResourceError naming the resource and the field that failed.
import type { Address, Authorization } from '@ambient/api';
import { toAddress } from './convert-address.ts';
import { toAuthorization } from './convert-authorization.ts';
import { InvalidResourceError } from './invalid-resource-error.ts';
import { addressTypeUrl, authorizationTypeUrl } from './resource-types.ts';

export type Converted =
  | { typeUrl: typeof addressTypeUrl; value: Address }
  | { typeUrl: typeof authorizationTypeUrl; value: Authorization };

export function convertResource(typeUrl: string, name: string, payload: unknown): Converted {
  try {
    if (typeUrl === addressTypeUrl) return { typeUrl, value: toAddress(name, payload) };
    if (typeUrl === authorizationTypeUrl) return { typeUrl, value: toAuthorization(name, payload) };
  } catch (err) {
    throw new InvalidResourceError(typeUrl, name, (err as Error).message, { cause: err });
  }
  throw new InvalidResourceError(typeUrl, name, `unsupported type url ${JSON.stringify(typeUrl)}`);
}
