// The shape every error of the mesh has (STYLE.md): a stable code, a lower-case message that
// carries the offending value, and a cause. Subclasses narrow the code and add context.

export class MeshError<Code extends string = string> extends Error {
  readonly code: Code;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = new.target.name;
    this.code = code;
  }
}
