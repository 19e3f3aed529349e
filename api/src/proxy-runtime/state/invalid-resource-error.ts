// The one error the state raises: a discovery resource that cannot be converted to the domain
// types. The discovery client turns it into a NACK; apply() reports it and skips the resource.
import { MeshError } from '../../index.ts';

export type StateErrorCode = 'ERR_INVALID_RESOURCE';

export class InvalidResourceError extends MeshError<StateErrorCode> {
  readonly typeUrl: string;
  readonly resourceName: string;
  constructor(typeUrl: string, resourceName: string, message: string, options?: { cause?: unknown }) {
    super('ERR_INVALID_RESOURCE', `invalid ${kindOf(typeUrl)} ${JSON.stringify(resourceName)}: ${message}`, options);
    this.typeUrl = typeUrl;
    this.resourceName = resourceName;
  }
}

function kindOf(typeUrl: string): string {
  const name = typeUrl.slice(typeUrl.lastIndexOf('.') + 1);
  return name === '' ? 'resource' : name.toLowerCase();
}
