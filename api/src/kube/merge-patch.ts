// client-node sends patches as JSON Patch unless told otherwise; status and label writes are
// merge patches, so those calls pass these options.
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';

export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
