// The embedded API server alone in a child process, so a test can kill it like a crash (the
// in-process close() waits for in-flight watches). Prints one JSON line when listening.
import { startApiServer } from '@ambient/local-cluster/apiserver';

const server = await startApiServer({ dataDir: process.argv[2]!, port: Number(process.argv[3] ?? 0) });
process.stdout.write(`${JSON.stringify({ url: server.url, kubeconfigPath: server.kubeconfigPath })}\n`);
process.stdin.resume();
process.stdin.on('end', () => void server.close().then(() => process.exit(0)));
