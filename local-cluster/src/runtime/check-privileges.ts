// Fails early, with the fix in the message, when this process cannot build the cluster's network.
import { randomBytes } from 'node:crypto';
import { ipBinary, runCommand } from './exec.ts';

export const privilegesMessage =
  'local-cluster needs root: run it with sudo, or inside an unprivileged user namespace: unshare --user --map-root-user --net --mount ...';

export async function checkPrivileges(): Promise<void> {
  // The real test is doing it: creating (and removing) a throwaway netns.
  const probe = `lc-privcheck-${process.pid}-${randomBytes(3).toString('hex')}`;
  const r = await runCommand([ipBinary(), 'netns', 'add', probe]).catch((err: unknown) => {
    throw new Error('local-cluster needs iproute2 (the ip command) installed', { cause: err });
  });
  if (r.code !== 0) throw new Error(privilegesMessage, { cause: new Error(`ip netns add ${probe}: ${r.stderr.trim()}`) });
  await runCommand([ipBinary(), 'netns', 'delete', probe]);
  await runCommand(['iptables-restore', '--version']).catch((err: unknown) => {
    throw new Error('local-cluster needs iptables (iptables-restore) installed', { cause: err });
  });
}
