// In-pod capture: sockets inside pods' network namespaces and the redirect rules that feed them.
export { CaptureError, type CaptureErrorCode } from './capture-error.ts';
export {
  chainPrefix,
  checkCaptureConfig,
  connectionMark,
  defaultCaptureConfig,
  emptyTables,
  hasCaptureRules,
  parseIptablesSave,
  renderCaptureRemoval,
  renderCaptureRules,
  renderCaptureUpdate,
  type CaptureConfig,
  type SavedRules,
  type SavedTable,
} from './render-capture-rules.ts';
export { captureRulesInstalled, installCaptureRules, iptablesSave, removeCaptureRules } from './capture-rules.ts';
export { loadNative, nativeAddonPath, type NativeSocketOptions, type OriginalDst, type ZtunnelNative } from './native.ts';
export {
  connectInNetns,
  listenInNetns,
  markSocket,
  originalDestination,
  socketFd,
  type NetnsConnectOptions,
  type NetnsListenOptions,
} from './netns-sockets.ts';
