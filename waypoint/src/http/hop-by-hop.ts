// The header fields that describe one connection rather than the message (RFC 9110 §7.6.1,
// Envoy's list): they never cross a proxy, and HTTP/2 refuses them (RFC 9113 §8.2.2).
export const hopByHopHeaders: readonly string[] = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te'];
