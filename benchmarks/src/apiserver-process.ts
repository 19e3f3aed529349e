// Runs the embedded API server alone in this process for benchmarks: prints one JSON line
// with how to reach it, then serves until stdin closes.
import { startApiServer } from '@ambient/local-cluster/apiserver';

const server = await startApiServer({ dataDir: process.argv[2]!, port: 0 });
process.stdout.write(`${JSON.stringify({ url: server.url, token: server.adminToken, ca: server.caCertPem })}\n`);
process.stdin.resume();
process.stdin.on('end', () => void server.close().then(() => process.exit(0)));
