// client-node sends patches as JSON Patch unless told otherwise; our controllers write merge
// patches (`{status: ...}`, `{spec: {nodeName}}`), so every patch call passes these options.
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';

export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
