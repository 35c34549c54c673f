// CLI over bench/generator.ts: writes one synthetic file to stdout (honouring backpressure) and
// optionally the GenResult summary as JSON. Usage errors exit 2.
import { writeFileSync } from 'node:fs';
import { BAD_KINDS, type BadKind, type GenOptions, type GenResult, generateChunks } from './generator.js';

const USAGE = `usage: npx tsx bench/gen.ts --rows N --employees N --sources N --branches N --seed N
  [--minified] [--xml-declaration] [--entities] [--utf8-names] [--thousands]
  [--amount-range MIN_CENTS,MAX_CENTS] [--no-unpayable-plaid] [--duplicates N]
  [--bad kind=N,kind=N] [--summary out.json] > file.xml
bad kinds: ${BAD_KINDS.join(', ')}`;

class UsageError extends Error {}

function parseNonNegInt(flag: string, raw: string | undefined): number {
  if (raw === undefined || !/^\d+$/.test(raw))
    throw new UsageError(`${flag} needs a non-negative integer, got ${raw ?? 'nothing'}`);
  return Number(raw);
}

function parseArgs(argv: readonly string[]): { opts: GenOptions; summary?: string } {
  const numeric: Record<string, number | undefined> = {};
  const opts: Omit<GenOptions, 'rows' | 'employees' | 'sources' | 'branches' | 'seed'> = {};
  let summary: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = arg.startsWith('--') && eq > 0 ? arg.slice(eq + 1) : undefined;
    const value = (): string | undefined => inline ?? argv[++i];
    const noValue = (): void => {
      if (inline !== undefined) throw new UsageError(`${flag} takes no value`);
    };
    switch (flag) {
      case '--rows':
      case '--employees':
      case '--sources':
      case '--branches':
      case '--seed':
      case '--duplicates':
        numeric[flag.slice(2)] = parseNonNegInt(flag, value());
        break;
      case '--minified':
        noValue();
        opts.minified = true;
        break;
      case '--xml-declaration':
        noValue();
        opts.xmlDeclaration = true;
        break;
      case '--entities':
        noValue();
        opts.entities = true;
        break;
      case '--utf8-names':
        noValue();
        opts.utf8Names = true;
        break;
      case '--thousands':
        noValue();
        opts.thousands = true;
        break;
      case '--no-unpayable-plaid':
        noValue();
        opts.unpayablePlaidShare = false;
        break;
      case '--amount-range': {
        const raw = value();
        const m = raw === undefined ? null : /^(\d+),(\d+)$/.exec(raw);
        if (!m || Number(m[1]) > Number(m[2])) {
          throw new UsageError(
            `--amount-range needs MIN_CENTS,MAX_CENTS with MIN ≤ MAX, got ${raw ?? 'nothing'}`,
          );
        }
        opts.amountRange = [Number(m[1]), Number(m[2])];
        break;
      }
      case '--bad': {
        const raw = value();
        if (raw === undefined || raw === '') throw new UsageError('--bad needs kind=N[,kind=N…]');
        const bad: Partial<Record<BadKind, number>> = { ...opts.bad };
        for (const part of raw.split(',')) {
          const [kind, n] = part.split('=');
          if (!(BAD_KINDS as readonly string[]).includes(kind ?? '')) {
            throw new UsageError(`--bad: unknown kind '${kind}' (kinds: ${BAD_KINDS.join(', ')})`);
          }
          bad[kind as BadKind] = parseNonNegInt(`--bad ${kind}`, n);
        }
        opts.bad = bad;
        break;
      }
      case '--summary': {
        const raw = value();
        if (raw === undefined || raw.startsWith('--')) throw new UsageError('--summary needs a file path');
        summary = raw;
        break;
      }
      case '--help':
      case '-h':
        throw new UsageError('');
      default:
        throw new UsageError(`unknown argument: ${arg}`);
    }
  }
  const required = ['rows', 'employees', 'sources', 'branches', 'seed'] as const;
  const missing = required.filter((k) => numeric[k] === undefined);
  if (missing.length > 0) throw new UsageError(`missing ${missing.map((k) => `--${k}`).join(', ')}`);
  const full: GenOptions = {
    ...opts,
    rows: numeric['rows']!,
    employees: numeric['employees']!,
    sources: numeric['sources']!,
    branches: numeric['branches']!,
    seed: numeric['seed']!,
  };
  if (numeric['duplicates'] !== undefined) full.duplicates = numeric['duplicates'];
  return summary === undefined ? { opts: full } : { opts: full, summary };
}

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(e.message ? `gen: ${e.message}\n${USAGE}\n` : `${USAGE}\n`);
    process.exit(e.message ? 2 : 0);
  }
  // A closed pipe (e.g. `| head`) is not a failure of the generator.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  const it = generateChunks(parsed.opts);
  let step: IteratorResult<string, GenResult>;
  try {
    // The first chunk is produced after all options are checked, so a RangeError here is a usage error.
    step = it.next();
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    process.stderr.write(`gen: ${e.message}\n`);
    process.exit(2);
  }
  while (!step.done) {
    if (!process.stdout.write(step.value)) {
      await new Promise<void>((resolve) => process.stdout.once('drain', resolve));
    }
    step = it.next();
  }
  if (parsed.summary !== undefined) writeFileSync(parsed.summary, `${JSON.stringify(step.value, null, 2)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`gen: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
