/**
 * The Node flags each role runs with in production: the Dockerfile's ENTRYPOINT for every role,
 * and the agents' own entrypoint in docker-compose.yml and infra/k8s/agent-daemonset.yaml
 * (tests/deploy checks they agree with this; the benchmarks run with them).
 *
 * The pool worker and the producer stream through cloud SDKs: a 1 MiB young generation and V8's
 * memory-saving mode keep their RSS small (the pool worker's peak in `npm run bench`: 152 MiB with
 * them, 195 MiB without). An agent works through many small files, whose garbage those flags
 * turn into 28–40% of its CPU; with a 4 MiB young generation and no memory-saving mode, 20,000
 * files back up in 16–24% less time for the same peak RSS (README, Benchmarks).
 */
export const NODE_FLAGS = ['--max-semi-space-size=1', '--optimize-for-size'];
export const AGENT_NODE_FLAGS = ['--max-semi-space-size=4'];

/** The flags for a role, by the CLI command that starts it. */
export function nodeFlagsFor(command: string): string[] {
  return command === 'agent' ? AGENT_NODE_FLAGS : NODE_FLAGS;
}
