// The Dockerfile, carried out without Docker (there is no engine here): its build stage's COPY,
// ARG and RUN instructions into a directory that stands for the stage's WORKDIR, then the final
// stage's COPY --from, whose WORKDIR is then the production tree, exactly as the image holds it.
// Only what a small Dockerfile like ours needs is understood; anything else fails loudly rather
// than being skipped, so that the check cannot pass on a Dockerfile it did not read.
import { spawn } from 'node:child_process';
import { cp, mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, posix } from 'node:path';

export interface ImageConfig {
  /** WORKDIR of the final stage, as the image has it (e.g. /app). */
  workdir: string;
  env: Record<string, string>;
  entrypoint: string[];
  cmd: string[];
}

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

interface Stage {
  name: string | undefined;
  instructions: Instruction[];
}

/** The stages, each with its instructions (continuation lines joined, comments dropped). */
export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!.trim();
    const start = i + 1;
    if (line === '' || line.startsWith('#')) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) line = `${line.slice(0, -1).trim()} ${lines[++i]!.trim()}`;
    const match = /^([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!match) throw new Error(`Dockerfile line ${start}: cannot read "${line}"`);
    const instruction = { keyword: match[1]!.toUpperCase(), args: match[2]!.trim(), line: start };
    if (instruction.keyword === 'FROM') {
      stages.push({ name: /\s+AS\s+(\S+)$/i.exec(instruction.args)?.[1], instructions: [] });
    } else {
      if (stages.length === 0) throw new Error(`Dockerfile line ${start}: ${instruction.keyword} before FROM`);
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return stages;
}

const execForm = (args: string, what: string): string[] => {
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === 'string')) throw new Error(`${what} must be in exec form, got ${args}`);
  return parsed;
};

/** `NAME=value NAME2="value 2"` (the form ENV and ARG take here). */
function assignments(args: string): Array<[string, string]> {
  return [...args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("([^"]*)"|\S*)/g)].map((m) => [m[1]!, m[3] ?? m[2]!]);
}

export interface BuiltImage {
  /** The final stage's WORKDIR: the production tree. */
  root: string;
  config: ImageConfig;
}

/**
 * Builds the image's file tree under `into` from the build context `context`: one directory per
 * stage, standing for that stage's WORKDIR. RUN of every stage but the last is carried out
 * with /bin/sh in that directory (the WORKDIR's path in the command replaced by it); the last
 * stage's RUN prepares the container's own directories (a volume's mount point) and is left to
 * whoever runs the tree.
 */
export async function buildImage(options: {
  context: string;
  into: string;
  buildArgs: Record<string, string>;
  log: (line: string) => void;
}): Promise<BuiltImage> {
  const stages = parseDockerfile(await readFile(join(options.context, 'Dockerfile'), 'utf8'));
  const dirs = new Map<string, { dir: string; workdir: string }>();
  let config: ImageConfig | undefined;
  for (const [index, stage] of stages.entries()) {
    const last = index === stages.length - 1;
    const dir = join(options.into, stage.name ?? `stage-${index}`);
    await mkdir(dir, { recursive: true });
    const current: ImageConfig = { workdir: '', env: {}, entrypoint: [], cmd: [] };
    const args: Record<string, string> = {};
    const inStage = (path: string) => {
      const absolute = posix.resolve(current.workdir || '/', path);
      if (absolute !== current.workdir && !absolute.startsWith(`${current.workdir}/`)) {
        throw new Error(`${absolute} is outside WORKDIR ${current.workdir}: not supported here`);
      }
      return join(dir, posix.relative(current.workdir, absolute));
    };
    for (const { keyword, args: text, line } of stage.instructions) {
      const where = `Dockerfile line ${line} (${keyword})`;
      switch (keyword) {
        case 'WORKDIR':
          if (current.workdir !== '' || !isAbsolute(text)) throw new Error(`${where}: one absolute WORKDIR per stage is supported`);
          current.workdir = text;
          break;
        case 'ENV':
          Object.assign(current.env, Object.fromEntries(assignments(text)));
          break;
        case 'ARG':
          for (const [name, fallback] of assignments(text.includes('=') ? text : `${text}=`)) args[name] = options.buildArgs[name] ?? fallback;
          break;
        case 'COPY': {
          const words = text.split(/\s+/);
          const from = words[0]!.startsWith('--from=') ? words.shift()!.slice('--from='.length) : undefined;
          if (words.some((w) => w.startsWith('--'))) throw new Error(`${where}: only --from is supported`);
          const rawDest = words.pop()!;
          const dest = inStage(rawDest);
          const source = from === undefined ? { dir: options.context, workdir: '/' } : dirs.get(from);
          if (!source) throw new Error(`${where}: no stage ${from}`);
          // As Docker: a directory's contents go into the destination; a file goes into it when
          // it ends with / or several sources are copied, and becomes it otherwise.
          const intoDir = rawDest.endsWith('/') || words.length > 1;
          for (const src of words) {
            const path = from === undefined ? join(options.context, src) : join(source.dir, posix.relative(source.workdir, src));
            const target = (await stat(path)).isDirectory() || !intoDir ? dest : join(dest, posix.basename(src));
            await mkdir(dirname(target), { recursive: true });
            await cp(path, target, { recursive: true, verbatimSymlinks: true });
          }
          break;
        }
        case 'RUN':
          if (last) {
            options.log(`${where}: not run (the container's own setup): ${text}`);
            break;
          }
          options.log(`${where}: ${text}`);
          await run(text.replaceAll(current.workdir, dir), dir, { ...current.env, ...args });
          break;
        case 'ENTRYPOINT':
          current.entrypoint = execForm(text, where);
          break;
        case 'CMD':
          current.cmd = execForm(text, where);
          break;
        case 'USER':
        case 'EXPOSE':
          break;
        default:
          throw new Error(`${where}: not understood by this emulation`);
      }
    }
    if (stage.name !== undefined) dirs.set(stage.name, { dir, workdir: current.workdir });
    if (last) config = current;
  }
  if (!config) throw new Error('the Dockerfile has no stage');
  return { root: join(options.into, stages.at(-1)!.name ?? `stage-${stages.length - 1}`), config };
}

function run(command: string, cwd: string, env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    // The build's output goes to the check's own, for whoever reads the CI log.
    const child = spawn('/bin/sh', ['-c', command], { cwd, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: ['ignore', 2, 2] });
    child.on('error', reject);
    child.on('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`RUN ${command} failed (${code ?? signal})`))));
  });
}
