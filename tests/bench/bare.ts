import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { launchEnv, NODE_FLAGS } from './launch.ts';

const SCRIPT = fileURLToPath(new URL('./bare-transfer.ts', import.meta.url));

export interface BareTransfer {
  kind: 's3' | 'gcs';
  op: 'put' | 'get';
  /** put: the file sent; get: the file whose size is reported (the object is the last put). */
  file: string;
  endpoint: string;
  bucket: string;
}

/** One bare SDK transfer (bare-transfer.ts) in its own process, started as fleet-backup's are. */
export function bareTransfer(
  args: BareTransfer,
): Promise<{ seconds: number; bytes: number; peakRssBytes: number }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [...NODE_FLAGS, SCRIPT, JSON.stringify(args)], {
      env: launchEnv(),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('close', (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`bare ${args.op} exited ${code}`)),
    );
  });
}
