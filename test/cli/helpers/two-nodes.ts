/**
 * Two nodes on one ISCSI_ROOT for CLI tests: node A has the source
 * document's host ID, node B another; each gets its own run and state
 * directories and a config file naming them.
 */
import fs from 'node:fs';
import path from 'node:path';

export const HOST_A = 'fefacc38a2f140ca'; // the source document's host ID
export const HOST_B = '1111222233334444';

export type NodeName = 'A' | 'B';

/** Writes `config-A`/`config-B` in `dir` and returns the environment each node's daemon and CLI run with. */
export function twoNodeEnvs(dir: string, root: string): Record<NodeName, NodeJS.ProcessEnv> {
  const env = (n: NodeName, host: string): NodeJS.ProcessEnv => {
    const cfg = path.join(dir, `config-${n}`);
    fs.writeFileSync(cfg, `ISCSI_ROOT=${root}\nISCSI_RUN_DIR=${dir}/run-${n}\nISCSI_STATE_DIR=${dir}/state-${n}\n`);
    return { PATH: process.env.PATH, ISCSI_CONFIG: cfg, ISCSI_HOST_ID: host };
  };
  return { A: env('A', HOST_A), B: env('B', HOST_B) };
}
