// What the analysis assumes of the installation beyond Istio's labels (those are in
// @ambient/api): the root namespace and trust domain of a default install.

/** Policies here without a selector apply to the whole mesh; with one, to every namespace. */
export const rootNamespace = 'istio-system';
export const trustDomain = 'cluster.local';
