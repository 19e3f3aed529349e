// The builder's one error type: a stable code (listed in scripts/images/README.md), a lower-case
// message naming what failed and how to fix it, and the cause when there is one.

export type ImageBuildErrorCode =
  | 'ERR_IMAGES_USAGE'
  | 'ERR_IMAGES_TOOL_MISSING'
  | 'ERR_IMAGES_INPUT_MISSING'
  | 'ERR_IMAGES_DEPENDENCY_MISSING'
  | 'ERR_IMAGES_COMMAND_FAILED'
  | 'ERR_IMAGES_DEBIAN_MISMATCH'
  | 'ERR_IMAGES_CONTENT_MISSING';

export class ImageBuildError extends Error {
  readonly code: ImageBuildErrorCode;
  constructor(code: ImageBuildErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ImageBuildError';
    this.code = code;
  }
}
