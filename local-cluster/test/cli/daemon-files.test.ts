import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { claimDataDir, releaseDataDir } from '../../src/cli/cluster-owner.ts';
import { pidFile, runningPid } from '../../src/cli/daemon-files.ts';
import { processStartTicks } from '../../src/runtime/cluster-processes.ts';

describe('the owner of a data directory (cluster.pid)', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'lc-owner-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('a stale pid file whose pid now belongs to another process names no running cluster', () => {
    // Our own pid stands for "some live process that is not the recorded owner".
    writeFileSync(pidFile(dataDir), `${process.pid} ${processStartTicks(process.pid)! + 1}\n`);
    assert.equal(runningPid(dataDir), undefined);
  });

  it('an unreadable pid file names no running cluster', () => {
    writeFileSync(pidFile(dataDir), 'garbage');
    assert.equal(runningPid(dataDir), undefined);
  });

  it('claims the directory for this process and releases it', async () => {
    assert.deepEqual(await claimDataDir(dataDir), []);
    assert.equal(runningPid(dataDir), process.pid);
    releaseDataDir(dataDir);
    assert.equal(runningPid(dataDir), undefined);
  });
});
